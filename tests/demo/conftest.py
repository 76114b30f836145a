"""Shared demo data for the generator tests: one 50k-user run, read back with pandas."""

from __future__ import annotations

import pandas as pd
import pytest

from journeymap.demo.generator import generate
from journeymap.demo.stories import STORIES

NOISE = {"session_start", "$pageview", "help_article_view"}
EXPERIENCE = {"nps_answered", "csat_answered", "ces_answered", "ticket_opened"}


@pytest.fixture(scope="session")
def demo():
    """The demo company at the size the planted tolerances are stated for."""
    return generate(users=STORIES["tolerance"]["users"], seed=7)


@pytest.fixture(scope="session")
def events(demo) -> pd.DataFrame:
    """Events as pandas, in (user, ts) order."""
    df = demo.events.to_pandas()
    return df.sort_values(["user_id", "ts"], kind="stable").reset_index(drop=True)


@pytest.fixture(scope="session")
def users(demo) -> pd.DataFrame:
    """Users with their persona, assigned from team_size like the personas in journey.yaml."""
    df = demo.users.to_pandas().set_index("user_id")
    df["persona"] = pd.cut(df["team_size"], [-1, 1, 49, 10**9], labels=["solo", "team", "enterprise"])
    return df


@pytest.fixture(scope="session")
def data_end(demo) -> pd.Timestamp:
    """The fixed end of the data (exclusive)."""
    return pd.Timestamp(demo.stories["data_end"])


@pytest.fixture(scope="session")
def entries(events, demo) -> pd.DataFrame:
    """Stage entry per user, computed independently: each stage's event at or after the
    previous stage's entry and within its limit (NaT = never entered)."""
    stories = demo.stories
    names = stories["stage_events"]
    first = (events[events["event"].isin(list(names.values()))]
             .groupby(["user_id", "event"])["ts"].min().unstack())
    out = pd.DataFrame(index=first.index)
    prev = None
    for stage, name in names.items():
        t = first[name]
        if prev is not None:
            limit = pd.Timedelta(days=stories["within_days"][stage])
            t = t.where((t >= out[prev]) & (t - out[prev] <= limit))
        out[stage] = t
        prev = stage
    return out
