"""Persona conditions answered on Arrow (no engine started) give the engine's answer: every
condition Arrow takes on is checked against the Ibis compiler run by DuckDB, on random
users tables holding nulls, non-ASCII text, negative and fractional numbers, and text that
reads as a number (a workspace's measure that uses them: tests/measure/map/test_no_engine_start.py)."""

from __future__ import annotations

import ibis
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeymap.measure._feed import arrow_conditions
from journeymap.measure._feed.predicates import all_of as ibis_all_of
from journeymap.spec.model import Condition

TEXTS = ["free", "pro", "team", "Pro", "", "é", "zz", "3", "10", " 4", "1e2", "true", "false", "pro team"]
text = st.one_of(st.none(), st.sampled_from(TEXTS))
ints = st.one_of(st.none(), st.integers(-5, 12), st.sampled_from([2**53 + 1, -(2**62)]))
floats = st.one_of(st.none(), st.sampled_from([-2.5, 0.0, -0.0, 0.1, 1.0, 3.0, 3.5, 10.0, 1e9, 2.0**53 + 2,
                                                 float("nan")]))
bools = st.one_of(st.none(), st.booleans())
COLUMNS = {"plan": (text, pa.string()), "seats": (ints, pa.int64()), "small": (st.one_of(st.none(), st.integers(-5, 12)),
                                                                         pa.int16()),
           "mrr": (floats, pa.float64()), "ratio": (floats, pa.float32()), "trial": (bools, pa.bool_())}
VALUES = st.one_of(st.sampled_from(TEXTS), st.integers(-6, 13), st.sampled_from([-2.5, 0.0, -0.0, 0.1, 3.0, 3.5, 1e9]),
                   st.sampled_from([2**53 + 1, 2.0**53 + 2, 2**63, "1_000", " 5 ", "-0", "a\x00b"]),
                   st.booleans(), st.none())
OPS = ["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists"]


@st.composite
def conditions(draw):
    prop, op = draw(st.sampled_from(sorted(COLUMNS))), draw(st.sampled_from(OPS))
    if op in ("in", "not_in"):
        value = draw(st.lists(VALUES, min_size=0, max_size=4))
    elif op == "exists":
        value = draw(st.sampled_from([None, True, False]))
    else:
        value = draw(VALUES)
    return Condition(prop, op, value)


@st.composite
def tables(draw):
    n = draw(st.integers(0, 30))
    cols = {"user_id": pa.array([f"u{i:03d}" for i in range(n)], pa.string())}
    for name, (values, typ) in COLUMNS.items():
        cols[name] = pa.array([draw(values) for _ in range(n)], typ)
    return pa.table(cols)


def engine_answer(table: pa.Table, conds) -> list[bool]:
    t = ibis.memtable(table)
    got = t.select("user_id", f=ibis_all_of(t, conds).fill_null(False)).order_by("user_id").to_pyarrow()
    return got.column("f").to_pylist()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables(), conds=st.lists(conditions(), min_size=0, max_size=3))
def test_arrow_answers_as_the_engine_does(table, conds):
    got = arrow_conditions.all_of(table, conds)
    if got is None:  # the engine answers these
        return
    assert got.null_count == 0
    assert got.to_pylist() == engine_answer(table, conds)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.sampled_from([-1.0, 0.0, 2.0, 3.5, float("nan")])), max_size=12),
       op=st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in"]),
       value=st.sampled_from([-1, 0, 2, 3.5, 7]))
def test_numbers_with_nan_and_nulls(values, op, value):
    """The engine orders NaN above every number and equal to itself; Arrow does not: a
    float column holding NaN is left to the engine, one without is answered alike."""
    table = pa.table({"user_id": [f"u{i:02d}" for i in range(len(values))], "mrr": pa.array(values, pa.float64())})
    cond = Condition("mrr", op, [value, 0.0] if op in ("in", "not_in") else value)
    got = arrow_conditions.all_of(table, [cond])
    assert (got is None) == any(v != v for v in values if v is not None)
    if got is not None:
        assert got.to_pylist() == engine_answer(table, [cond])


@pytest.mark.parametrize("cond", [
    Condition("plan", "eq", "pro"), Condition("plan", "ne", "pro"), Condition("plan", "in", ["pro", "team"]),
    Condition("plan", "not_in", ["free"]), Condition("plan", "contains", "ro"), Condition("plan", "gt", "f"),
    Condition("plan", "eq", True), Condition("seats", "gte", 3), Condition("seats", "lt", 2.5),
    Condition("seats", "eq", "3"), Condition("seats", "in", [1, 2]), Condition("mrr", "gt", 3),
    Condition("mrr", "not_in", [0.0, 3]), Condition("trial", "eq", True), Condition("trial", "ne", False),
    Condition("small", "lte", 4), Condition("plan", "exists", True), Condition("mrr", "exists", False)])
def test_the_usual_persona_rules_are_answered_on_arrow(cond):
    """The rules personas are written with do not need the engine (and give its answer)."""
    table = pa.table({"user_id": ["a", "b", "c", "d"], "plan": ["pro", "free", None, "team"],
                      "seats": [1, 3, None, 5], "small": pa.array([2, 4, 6, None], pa.int16()),
                      "mrr": [0.0, 3.5, None, 12.0], "trial": [True, False, None, True]})
    got = arrow_conditions.all_of(table, [cond])
    assert got is not None
    assert got.to_pylist() == engine_answer(table, [cond])


@pytest.mark.parametrize("cond", [
    Condition("plan", "gt", 3),  # a number against text: the engine parses the text
    Condition("plan", "in", []), Condition("plan", "in", ["pro", None]), Condition("seats", "in", ["3"]),
    Condition("mrr", "lt", float("nan")), Condition("mrr", "gt", 1), Condition("seats", "eq", True),
    Condition("ratio", "eq", 0.1), Condition("plan", "contains", "\x00"), Condition("plan", "eq", "\ud800")])
def test_what_arrow_would_answer_differently_is_left_to_the_engine(cond):
    table = pa.table({"user_id": ["a", "b"], "plan": ["pro", "3"], "seats": [1, 3],
                      "mrr": [float("nan") if cond.op == "gt" else 1.0, 2.0],
                      "ratio": pa.array([0.1, 0.2], pa.float32())})
    assert arrow_conditions.all_of(table, [cond]) is None


@pytest.mark.parametrize("values,cond", [
    ([-0.0, 0.0, 1.0], Condition("mrr", "in", [0, 5])), ([-0.0, 0.0, 1.0], Condition("mrr", "in", [-0.0])),
    ([-0.0, 0.0, 1.0], Condition("mrr", "not_in", [0.0])), ([-0.0, 0.0, 1.0], Condition("mrr", "eq", -0.0))])
def test_minus_zero_is_zero_as_in_the_engine(values, cond):
    table = pa.table({"user_id": ["a", "b", "c"], "mrr": values})
    got = arrow_conditions.all_of(table, [cond])
    assert got is not None and got.to_pylist() == engine_answer(table, [cond])
