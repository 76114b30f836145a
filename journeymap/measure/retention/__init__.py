"""Retention: cohorts by the period of a start event, and who comes back in each later period."""
