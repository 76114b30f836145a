"""The measured map: stage entries, per-stage statistics, and the map itself."""
