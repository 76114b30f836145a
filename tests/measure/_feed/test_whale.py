"""One customer with a million events among ordinary ones (real data is skewed: a few
users with 10^5-10^6 events): the clustered copy, whose row groups that customer spans
many times over, gives exactly the portable path's answers, with no per-user quadratic
work (a slow kernel would take minutes here, not seconds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import journeymap
from journeymap.measure.funnel.funnel import funnel
from journeymap.measure.map.measured_map import measure_map
from journeymap.measure.paths.transitions import transitions
from journeymap.spec.load import load_journey
from journeymap.store import clustered
from journeymap.store.folder import WorkspaceFolder

pytestmark = pytest.mark.slow

EVENTS = ["visit", "signup", "activate", "invite", "purchase", "support"]
JOURNEY = """\
name: whale
stages:
  - {id: visit, owner: web, enter: {event: visit}}
  - {id: signup, owner: growth, enter: {event: signup}, within: 14d}
  - {id: regular, owner: product, enter: {active: {days: 3, within: 30d, events: [activate]}}}
  - {id: purchase, owner: sales, enter: {event: purchase}, within: 30d}
min_volume: 1
"""


def events() -> pa.Table:
    rng = np.random.default_rng(3)
    n = 1_000_000
    t0 = pd.Timestamp("2024-01-01", tz="UTC").value // 1000
    whale_t = t0 + np.sort(rng.integers(0, 60 * 86400, n)) * 1_000_000  # whole seconds
    whale_t[1::7] = whale_t[::7][: len(whale_t[1::7])]  # and many events at one instant
    k = 3000
    small_t = t0 + np.sort(rng.integers(0, 60 * 86400, (k, 8)), axis=1).ravel() * 1_000_000
    users = np.concatenate([np.full(n, "whale-0000000000000001"), np.repeat([f"user-{i:06d}" for i in range(k)], 8)])
    ev = np.concatenate([rng.choice(EVENTS, n), rng.choice(EVENTS, k * 8)])
    ts = np.concatenate([whale_t, small_t])
    return pa.table({"user_id": users, "event": ev,
                     "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
                     "event_id": [f"e{i}" for i in range(len(ts))]})


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setattr(clustered, "ROW_GROUP", 1 << 17)  # the whale spans eight row groups
    ws = WorkspaceFolder.init(tmp_path_factory.mktemp("whale") / "ws", JOURNEY)
    ws.store.append(events())
    project = journeymap.open(ws.path)
    fast, users = project.sources()
    yield fast, project.tables()[0]
    mp.undo()


@pytest.mark.parametrize("order", ["ordered", "strict", "unordered"])
def test_funnels(both, order):
    fast, portable = both
    steps = ["visit", "signup", "activate", "purchase"]
    a = funnel(fast, steps, window="14d", order=order)
    b = funnel(portable, steps, window="14d", order=order)
    assert a.to_dict() == b.to_dict() and a.persons(4) == b.persons(4)
    assert "whale-0000000000000001" in a.persons(4)


def test_map_and_transitions(both):
    fast, portable = both
    j = load_journey(JOURNEY)
    assert measure_map(j, fast).to_dict() == measure_map(j, portable).to_dict()
    assert transitions(fast).edges == transitions(portable).edges
