"""Measures: queries over events that return small typed result tables.

One folder per measure (`map`, `funnel`, `paths`) beside the compiled `kernels` and the
`_feed` that hands them rows; `stats` holds the statistics every measure shares."""
