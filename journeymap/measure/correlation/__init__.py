"""Funnel correlation: which events and properties go with converting, as PostHog ranks them."""
