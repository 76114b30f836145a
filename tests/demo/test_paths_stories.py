"""The demo company's planted path stories show up in journeymap.paths() at their sizes.

How the generator plants them (journeymap/demo/generator.py):

* looping checkout (`_checkout_story`): every user who reached first value and pays,
  and `abandon_share` of those who never pay, do `checkout_step` k times, k drawn from
  `count_distribution` (1..6) independently of paying; abandoners' last journey event is
  their last checkout step;
* sign-up dropouts (`_onboarding_steps`): every user who signs up without completing
  onboarding (`1 - rates['onboarding']` of sign-ups, always inside the 14 days) does
  1..4 `onboarding_step`s, the last one after every other journey event: their exit;
* the value gap: onboarded users who never book leave onboarding-stage events last;
* then silence (only noise trails: 1..3 page views / help reads within ~12 h for
  `trailing_noise_share` of users), hence `exclude=noise_events`.

Sizes are compared with `rate_tolerance` / `mean_tolerance` (z = 4) from stories.py.
Exit sizes are read on the cohort that arrived at least 90 days before the data end, so
that exits are not cut off by the end of the data (a silence needs 30 days to count).
"""

from __future__ import annotations

import math

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import journeymap
from journeymap.demo.generator import generate
from journeymap.demo.stories import STAGES, STORIES, mean_tolerance, rate_tolerance
from journeymap.measure.paths.top_paths import MORE

pytestmark = pytest.mark.filterwarnings("ignore:fetch_record_batch.. is deprecated:DeprecationWarning")

NOISE = STORIES["exits"]["noise_events"]
CHECKOUT = STORIES["checkout_loop"]
MATURE_DAYS = 90


@pytest.fixture(scope="module")
def demo():
    return generate(users=50_000, seed=7)


@pytest.fixture(scope="module")
def firsts(demo) -> pd.DataFrame:
    """Per user (rows) and event (columns): the first time it happened (NaT: never)."""
    ev = demo.events.select(["user_id", "event", "ts"]).to_pandas()
    return ev.groupby(["user_id", "event"])["ts"].min().unstack()


@pytest.fixture(scope="module")
def actual(demo):
    """The actual journey of every demo user, noise left out."""
    return journeymap.paths(demo.journey_text, demo.events, users=demo.users, exclude=NOISE)


@pytest.fixture(scope="module")
def mature(demo, firsts):
    """(actual journey, firsts) of the users who arrived >= 90 days before the data end."""
    end = pd.Timestamp(demo.stories["data_end"])
    ids = firsts.index[firsts["landing_view"] + pd.Timedelta(days=MATURE_DAYS) <= end]
    events = demo.events.filter(pc.is_in(demo.events["user_id"], pa.array(ids.tolist())))
    return (journeymap.paths(demo.journey_text, events, users=demo.users, exclude=NOISE),
            firsts.loc[ids])


def planted_counts() -> dict[int, float]:
    return {int(k): p for k, p in CHECKOUT["count_distribution"].items()}


# --- the looping checkout -------------------------------------------------------------


def test_checkout_loop_repeats_at_planted_size(actual, firsts):
    row = next(r for r in actual.repeats if r["name"] == CHECKOUT["event"])
    dist = planted_counts()
    assert sum(p for k, p in dist.items() if k >= 3) == pytest.approx(CHECKOUT["share_3_or_more"])
    # every checkout user is counted once
    assert row["users"] == firsts[CHECKOUT["event"]].notna().sum()
    assert row["users"] > 2000
    # share repeating (>= 2 times) and how often they do it, from the planted distribution
    p_repeat = sum(p for k, p in dist.items() if k >= 2)
    assert abs(row["repeat_share"] - p_repeat) <= rate_tolerance(p_repeat, row["users"])
    mean = sum(k * p for k, p in dist.items() if k >= 2) / p_repeat
    sd = math.sqrt(sum((k - mean) ** 2 * p for k, p in dist.items() if k >= 2) / p_repeat)
    assert abs(row["mean_times_when_repeated"] - mean) <= mean_tolerance(sd, row["repeat_users"])
    assert row["max_times"] == max(dist)


def test_checkout_share_doing_it_three_times_or_more(actual, demo):
    """`repeats` reports the share repeating (>= 2) and the mean count; the planted share
    at >= 3 is read from the checkout-only paths cut after two steps."""
    r = journeymap.paths(demo.journey_text, demo.events, users=demo.users,
                         include=[CHECKOUT["event"]], start=CHECKOUT["event"], depth=2)
    step = CHECKOUT["event"]
    shares = {tuple(p["path"]): p for p in r.paths.paths}
    assert set(shares) == {(step,), (step, step), (step, step, MORE)}
    n = r.paths.users
    row = next(x for x in actual.repeats if x["name"] == step)
    assert n == row["users"]
    three = shares[(step, step, MORE)]["share"]
    assert abs(three - CHECKOUT["share_3_or_more"]) <= rate_tolerance(CHECKOUT["share_3_or_more"], n)
    # consistent with repeats: >= 2 times = exactly 2 + 3 or more
    assert shares[(step, step)]["users"] + shares[(step, step, MORE)]["users"] == row["repeat_users"]
    # and with the repeat-count histogram of `repeats`
    at_least_3 = sum(n for k, n in row["times"].items() if k == "10+" or int(k) >= 3)
    assert at_least_3 == shares[(step, step, MORE)]["users"]


# --- the silent exits -------------------------------------------------------------------


def after_signup(exits: list[dict]) -> list[dict]:
    signup = STAGES.index("signup")
    return [e for e in exits if e["stage"] is not None and STAGES.index(e["stage"]) >= signup]


def test_top_exits_after_signup_are_the_planted_ones(actual):
    planted = STORIES["exits"]["top_last_journey_events_after_signup"]
    exits = actual.exits
    assert [e["users"] for e in exits] == sorted((e["users"] for e in exits), reverse=True)
    top = after_signup(exits)[:3]
    assert {e["event"] for e in top} == set(planted), top
    # noise is gone from the exits once excluded
    assert not {e["event"] for e in exits} & set(NOISE)
    # the sign-up dropouts are the largest leak after sign-up, and exit in stage signup
    assert (top[0]["event"], top[0]["stage"]) == ("onboarding_step", "signup")


def test_signup_dropouts_exit_at_their_planted_size(mature):
    result, firsts = mature
    signed = firsts["signup"].notna()
    dropped = signed & firsts["onboarding_completed"].isna()
    n = int(signed.sum())
    planted = 1 - STORIES["rates"]["onboarding"]
    steps = [e for e in result.exits if e["event"] == "onboarding_step"]
    assert [e["stage"] for e in steps] == ["signup"]
    assert abs(steps[0]["users"] / n - planted) <= rate_tolerance(planted, n)
    # every dropout of the cohort has gone silent after their last onboarding step
    assert steps[0]["users"] == int(dropped.sum())


def test_checkout_abandoners_exit_at_their_planted_size(mature):
    result, firsts = mature
    never_paid = firsts["first_booking"].notna() & firsts["subscription_started"].isna()
    n = int(never_paid.sum())
    planted = CHECKOUT["abandon_share"]
    steps = [e for e in result.exits if e["event"] == CHECKOUT["event"]]
    # in first value, or still in onboarding for those who booked after the 30-day limit
    assert {e["stage"] for e in steps} == {"first_value", "onboarding"}
    users = sum(e["users"] for e in steps)
    assert abs(users / n - planted) <= rate_tolerance(planted, n)
    abandoned = never_paid & firsts[CHECKOUT["event"]].notna()
    assert users <= int(abandoned.sum())
    assert users >= 0.98 * int(abandoned.sum())
