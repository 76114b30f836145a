"""Why customers advance: leading behaviours of a transition, per persona."""
