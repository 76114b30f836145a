"""Differential test: journeymap.transitions() against pm4py's directly-follows graph.

pm4py (a test-only dependency, `pip install -e .[test]`) is an independent
implementation of the same idea: per case, events ordered by time, every
consecutive pair an edge, plus start and end activities. On data without ties
inside a user the two must agree exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import journeymap

pytestmark = [
    pytest.mark.differential,
    pytest.mark.filterwarnings("ignore:fetch_record_batch.. is deprecated:DeprecationWarning"),
]

import pm4py  # noqa: E402  (a test extra: a missing install fails, never skips)


def random_events(seed: int, n_users: int = 5_000, mean_events: int = 10, n_acts: int = 8
                  ) -> pd.DataFrame:
    """~n_users * mean_events events over `n_acts` activities, shuffled; every user's
    timestamps are distinct (one per minute slot, jittered inside it), so order is unambiguous."""
    rng = np.random.default_rng(seed)
    acts = np.array([f"act_{i}" for i in range(n_acts)])
    k = rng.integers(1, 2 * mean_events, n_users)
    user = np.repeat(np.arange(n_users), k)
    pos = np.arange(user.size) - np.repeat(np.cumsum(k) - k, k)
    start = rng.integers(0, 90 * 86_400, n_users)[user]
    seconds = start + pos * 60 + rng.integers(0, 60, user.size)
    skew = rng.dirichlet(np.ones(n_acts))  # uneven activity frequencies
    df = pd.DataFrame({
        "user_id": np.char.add("u", np.char.zfill(user.astype(str), 5)),
        "event": acts[rng.choice(n_acts, user.size, p=skew)],
        "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(seconds, unit="s"),
    })
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def pm4py_dfg(df: pd.DataFrame):
    """pm4py's (dfg, start activities, end activities). pm4py reads start and end
    activities in the frame's row order, so the frame goes through `format_dataframe`
    (which sorts by case, time and original position) first, as pm4py documents."""
    log = pm4py.format_dataframe(df.copy(), case_id="user_id", activity_key="event",
                                 timestamp_key="ts")
    return pm4py.discover_dfg(log, case_id_key="case:concept:name", activity_key="concept:name",
                              timestamp_key="time:timestamp")


@pytest.mark.parametrize("seed", [1, 2])
def test_transitions_match_pm4py_dfg(seed):
    df = random_events(seed)
    assert 40_000 <= len(df) <= 60_000
    assert not df.duplicated(["user_id", "ts"]).any()  # tie-free by construction

    dfg, starts, ends = pm4py_dfg(df)

    ours = journeymap.transitions(pa.Table.from_pandas(df, preserve_index=False))
    pairs = {(e["from"], e["to"]): e["count"] for e in ours.edges
             if e["from"] != "$start" and e["to"] != "$end"}
    assert pairs == {tuple(k): int(v) for k, v in dfg.items()}
    assert ours.starts == {k: int(v) for k, v in starts.items()}
    assert ours.ends == {k: int(v) for k, v in ends.items()}
    assert ours.users == df["user_id"].nunique() == sum(starts.values())
    assert len(pairs) == 64  # every ordered pair of the 8 activities occurs


def test_subset_and_exclusion_match_pm4py_on_filtered_data():
    df = random_events(3, n_users=2_000)
    chosen = sorted(df["user_id"].unique()[::3])
    drop = ["act_0", "act_5"]
    sub = df[df["user_id"].isin(chosen) & ~df["event"].isin(drop)]
    dfg, starts, ends = pm4py_dfg(sub)
    ours = journeymap.transitions(df, users=chosen, exclude=drop)
    pairs = {(e["from"], e["to"]): e["count"] for e in ours.edges
             if e["from"] != "$start" and e["to"] != "$end"}
    assert pairs == {tuple(k): int(v) for k, v in dfg.items()}
    assert ours.starts == dict(starts) and ours.ends == dict(ends)
