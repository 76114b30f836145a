"""The demo company being generated: per-user stage state and the events emitted so far."""

from __future__ import annotations

import numpy as np

from journeymap.demo.stories import DAY, STAGES


class World:
    """Per-user state shared by the story functions, and the events emitted so far."""

    def __init__(self, n: int, seed: int, stories: dict):
        self.n, self.S, self.rng = n, stories, np.random.default_rng(seed)
        self.end = (stories["arrival_weeks"] * 7 + stories["observe_days_after_arrivals"]) * DAY
        self.E = np.full((len(STAGES), n), np.nan)   # stage entry, seconds after start
        self.last = np.full(n, -np.inf)              # latest journey event so far
        self.blocks: list[tuple] = []

    def emit(self, event, users, t, zone=None, journey=True, **props):
        """Record `event` for `users` at times `t`; string props are (codes, vocabulary)."""
        users, t = np.asarray(users, np.int64), np.asarray(t, np.float64)
        self.blocks.append((event, users, t, zone, props))
        if journey:
            np.maximum.at(self.last, users, t)

    def entered(self, s: int) -> np.ndarray:
        """Indices of users who entered stage `s` (at any time)."""
        return np.flatnonzero(~np.isnan(self.E[s]))
