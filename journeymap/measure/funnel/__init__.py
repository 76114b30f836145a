"""The funnel engine: steps and windows, best attempt per person."""
