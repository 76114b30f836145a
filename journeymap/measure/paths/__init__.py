"""The actual journey: transitions, top paths, deviations, exits and conformance."""
