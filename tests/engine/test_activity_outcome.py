"""Activity stages, bad-outcome stages and optional funnel steps give identical answers
on every path: DuckDB over the store's files, DuckDB over the clustered copy (fast
path), and Spark."""

from __future__ import annotations

import pytest

import journeymap
from journeymap.workspace import open_workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def variant(demo_workspace, tmp_path_factory):
    """The demo journey with regular use entered by activity and a churn stage last."""
    text = demo_workspace.journey_path.read_text()
    text = text.replace("enter: {event: weekly_active}",
                        "enter: {active: {days: 3, within: 21d, events: [weekly_active, "
                        "first_booking, invoice_paid]}}")
    head, advocacy = text.split("  - id: advocacy", 1)
    tail = advocacy[advocacy.index("handoffs:"):]
    text = head + ("  - id: churned\n    owner: customer_success\n    outcome: churn\n"
                   "    enter: {event: subscription_cancelled}\n") + tail
    path = tmp_path_factory.mktemp("variant") / "variant.yml"
    path.write_text(text)
    journeymap.validate(path)
    return path


def test_measure_on_every_path(demo_workspace, demo_tables, variant):
    duck = journeymap.measure(variant, demo_tables["duckdb"][0], users=demo_tables["duckdb"][1],
                              by="persona")
    spark = journeymap.measure(variant, demo_tables["spark"][0], users=demo_tables["spark"][1],
                               by="persona")
    fast = open_workspace(demo_workspace.path).measure(journey=variant, by="persona", cache=False)
    assert duck.to_dict() == spark.to_dict() == fast.to_dict()
    assert duck.stage("purchase").advanced > 0  # some paying users are active on 3 days in 21
    churn = duck.stage("regular_use")
    assert churn.lower_is_better and churn.next == "churned" and churn.advanced > 0
    churn_leaks = [lk for lk in duck.leaks if lk.to_stage == "churned"]
    for lk in churn_leaks:
        assert lk.direction == "lower" and lk.lost == churn.advanced
        assert lk.target_rate is None or lk.target_rate < lk.rate


def test_paths_on_every_path(demo_workspace, demo_tables, variant):
    duck = journeymap.paths(variant, demo_tables["duckdb"][0], users=demo_tables["duckdb"][1])
    spark = journeymap.paths(variant, demo_tables["spark"][0], users=demo_tables["spark"][1])
    fast = open_workspace(demo_workspace.path).paths(journey=variant, cache=False)
    assert duck.to_dict() == spark.to_dict() == fast.to_dict()


def test_stage_transitions_on_every_path(demo_workspace, demo_tables, variant):
    """Spark counts them in its executors (the activity stage at the row that entered it)."""
    duck = journeymap.transitions(demo_tables["duckdb"][0], level="stage", journey=variant)
    spark = journeymap.transitions(demo_tables["spark"][0], level="stage", journey=variant)
    fast = journeymap.transitions(open_workspace(demo_workspace.path).sources()[0], level="stage",
                                  journey=variant)
    assert duck.to_dict() == spark.to_dict() == fast.to_dict()
    assert any(e["to"] == "regular_use" for e in duck.edges)


OPTIONAL_FUNNEL = ["landing_view", {"event": "pricing_view", "optional": True}, "signup",
                   {"event": "help_article_view", "optional": True}, "first_booking"]
# strict: each step the very next event, so the second optional step is one that follows
STRICT_FUNNEL = OPTIONAL_FUNNEL[:3] + [{"event": "$pageview", "optional": True},
                                       "onboarding_step"]


@pytest.mark.parametrize("order", ["ordered", "strict", "unordered"])
def test_optional_funnel_steps_on_every_path(demo_workspace, demo_tables, order):
    steps = STRICT_FUNNEL if order == "strict" else OPTIONAL_FUNNEL
    options = {"window": "30d", "order": order, "breakdown": "channel"}
    if order != "unordered":
        options["exclusions"] = [("session_start", 0, 2)]
    duck = journeymap.funnel(demo_tables["duckdb"][0], steps, **options)
    spark = journeymap.funnel(demo_tables["spark"][0], steps, **options)
    fast = open_workspace(demo_workspace.path).funnel(steps, cache=False, **options)
    assert duck.to_dict() == spark.to_dict() == fast.to_dict()
    assert duck.users.to_pylist() == spark.users.to_pylist() == fast.users.to_pylist()
    for k in range(1, len(steps) + 1):
        assert duck.persons(k) == spark.persons(k) == fast.persons(k)
    # the optional steps count some persons, and never change the required steps' counts
    assert 0 < duck.counts[1] and 0 < duck.counts[3]
    required = journeymap.funnel(demo_tables["duckdb"][0],
                                 [steps[k] for k in (0, 2, 4)],
                                 **{**options, "exclusions": [("session_start", 0, 1)]
                                    if "exclusions" in options else ()})
    if order != "strict":  # strict runs may hold the optional steps: other counts there
        assert [duck.counts[k] for k in (0, 2, 4)] == required.counts
