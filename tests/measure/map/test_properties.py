"""measure(): properties that hold for any journey and any small event table."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from journeymap.api import measure

# Third-party deprecations the project's `filterwarnings = error` would turn into failures:
# ibis 12 calls DuckDB's deprecated fetch_record_batch(), and ibis' to_pandas() reads
# pandas' deprecated `future.infer_string` option (Pandas4Warning under pandas 3.1).
pytestmark = [
    pytest.mark.filterwarnings(r"ignore:fetch_record_batch\(\) is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings(r"ignore:The 'future.infer_string' option is deprecated"),
]

T0 = pd.Timestamp("2024-01-01T00:00:00Z")
NAMES = ("A", "B", "C", "D")
WHERES = (None, "{x: 1}", "{x: {ne: 0}}", "{x: {exists: true}}", "{x: {in: [0]}}")
WITHINS = (None, "30m", "2h")
TIERS = ("gold", "silver", "bronze")
SETTINGS = settings(deadline=None, max_examples=25, derandomize=True)


@st.composite
def journeys(draw, allow_optional: bool = True) -> str:
    n = draw(st.integers(2, 4))
    lines = ["name: prop", "stages:"]
    for k in range(n):
        names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=2, unique=True))
        where = draw(st.sampled_from(WHERES))
        enter = f"{{event: [{', '.join(names)}]" + (f", where: {where}" if where else "") + "}"
        stage = f"  - {{id: s{k}, owner: team{k}, enter: {enter}"
        if k > 0:
            within = draw(st.sampled_from(WITHINS))
            if within:
                stage += f", within: {within}"
            if allow_optional and k < n - 1 and draw(st.booleans()):
                stage += ", optional: true"
        lines.append(stage + "}")
    lines += ["personas:"] + [f"  - {{id: {t}, where: {{tier: {t}}}}}" for t in TIERS]
    return "\n".join(lines) + "\n"


ROW = st.tuples(
    st.integers(0, 5),  # user
    st.sampled_from(NAMES),  # event
    st.integers(0, 8),  # time in quarter hours: many ties
    st.sampled_from((0, 1, None)),  # x
    st.sampled_from(("web", "app", None)),  # channel
    st.sampled_from(TIERS),  # tier on the event (first touch)
)


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": [f"u{r[0]}" for r in rows],
        "event": [r[1] for r in rows],
        "ts": [T0 + pd.Timedelta(minutes=15 * r[2]) for r in rows],
        "x": pd.array([r[3] for r in rows], dtype="Int64"),
        "channel": pd.array([r[4] for r in rows], dtype=object),
        "tier": [r[5] for r in rows],
    })


def numbers(stages) -> list[tuple]:
    return [(s.id, s.entered, s.advanced, s.rate, s.skipped, s.drop_off, s.pending,
             s.median_time_to_next_s, s.p90_time_to_next_s) for s in stages]


TIE_JOURNEY = """name: prop
stages:
  - {id: s0, owner: team0, enter: {event: [A]}}
  - {id: s1, owner: team1, enter: {event: [A], where: {x: 1}}}
personas:
  - {id: gold, where: {tier: gold}}
"""


@SETTINGS
@given(journey=journeys(), rows=st.lists(ROW, min_size=1, max_size=25), data=st.data())
# two simultaneous A rows, only one qualifying for s1: the order they arrive in must not matter
@example(journey=TIE_JOURNEY, rows=[(0, "A", 0, 1, None, "gold"), (0, "A", 0, 0, None, "gold")],
         data=None).via("row order of simultaneous events")
def test_shuffling_rows_changes_nothing(journey, rows, data):
    if data is None:
        shuffled = list(reversed(rows))
    else:
        shuffled = data.draw(st.permutations(rows))
    a = measure(journey, frame(rows), by="channel")
    b = measure(journey, frame(shuffled), by="channel")
    assert numbers(a.stages) == numbers(b.stages)
    # personas read the first event, groups the stage-1 entry event: ties must not matter either
    assert {p: numbers(v) for p, v in a.personas.items()} == {p: numbers(v) for p, v in b.personas.items()}
    assert {g: numbers(v) for g, v in a.groups.items()} == {g: numbers(v) for g, v in b.groups.items()}
    assert [(lk.from_stage, lk.lost, lk.score) for lk in a.leaks] == \
        [(lk.from_stage, lk.lost, lk.score) for lk in b.leaks]
    assert a.findings == b.findings


@SETTINGS
@given(journey=journeys(allow_optional=False), rows=st.lists(ROW, min_size=1, max_size=25))
def test_entered_never_grows_along_stages_without_optional_stages(journey, rows):
    r = measure(journey, frame(rows))
    counts = [s.entered for s in r.stages]
    assert all(a >= b for a, b in zip(counts, counts[1:]))
    for s, nxt in zip(r.stages, r.stages[1:]):
        assert s.advanced == nxt.entered
        assert s.drop_off == s.entered - s.advanced
        assert s.skipped == 0


def _assert_parts_sum(whole, parts):
    for k, s in enumerate(whole):
        assert sum(p[k].entered for p in parts) == s.entered
        if s.advanced is not None:
            assert sum(p[k].advanced for p in parts) == s.advanced
            assert sum(p[k].drop_off for p in parts) == s.drop_off
        assert sum(p[k].skipped for p in parts) == s.skipped


@SETTINGS
@given(journey=journeys(), rows=st.lists(ROW, min_size=1, max_size=25),
       from_users=st.booleans(), tiers=st.lists(st.sampled_from(TIERS), min_size=6, max_size=6),
       one=st.sampled_from(TIERS))
def test_personas_that_partition_users_sum_to_the_whole(journey, rows, from_users, tiers, one):
    ev = frame(rows)
    if from_users:  # every user has exactly one tier in the users table
        users = pd.DataFrame({"user_id": [f"u{i}" for i in range(6)], "tier": tiers})
        ev = ev.drop(columns="tier")
    else:  # tier from each user's first event (never missing)
        users = None
    r = measure(journey, ev, users=users)
    assert set(r.personas) == set(TIERS)
    _assert_parts_sum(r.stages, list(r.personas.values()))
    # the persona filter gives the same numbers as the split
    only = measure(journey, ev, users=users, persona=one)
    assert numbers(only.stages) == numbers(r.personas[one])


@SETTINGS
@given(journey=journeys(), rows=st.lists(ROW, min_size=1, max_size=25),
       by=st.sampled_from(("plan", "channel", "x", "persona")),
       plans=st.lists(st.sampled_from(("free", "pro", None)), min_size=5, max_size=5))
def test_by_groups_sum_to_the_whole(journey, rows, by, plans):
    ev = frame(rows)
    # users table without u5: its plan is unknown, it lands in "(none)"
    users = pd.DataFrame({"user_id": [f"u{i}" for i in range(5)], "plan": pd.array(plans, dtype=object)})
    r = measure(journey, ev, users=users, by=by)
    assert r.by == by
    assert sum(g[0].entered for g in r.groups.values()) == r.stages[0].entered
    _assert_parts_sum(r.stages, list(r.groups.values()))
