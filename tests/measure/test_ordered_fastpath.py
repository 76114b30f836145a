"""The journey-ordered store copy (fast path) gives exactly the portable answers."""

from __future__ import annotations

import pytest

import journeymap
from journeymap.demo.generator import generate
from journeymap.insight.diagnose import diagnose
from journeymap.measure.actual import actual_journey
from journeymap.measure.funnel import funnel
from journeymap.measure.measured_map import measure_map
from journeymap.store.ordered import OrderedEvents
from journeymap.store.workspace import Workspace

STEPS = ["signup", {"event": "onboarding_step", "where": {"step": {"gte": 2}}},
         "onboarding_completed", "first_booking", "checkout_step", "subscription_started"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    demo = generate(users=4000, seed=11)
    ws = Workspace.init(tmp_path_factory.mktemp("ws") / "demo", demo.journey_text)
    ws.store.append(demo.events, users=demo.users)
    return journeymap.open(ws.path)


@pytest.fixture(scope="module")
def both(project):
    fast, users = project.sources()
    portable, _ = project.tables()
    assert isinstance(fast, OrderedEvents)
    return fast, portable, users


@pytest.mark.parametrize("options", [{}, {"persona": "team"}, {"by": "persona"},
                                     {"by": "channel"}, {"by": "country", "period": "week"},
                                     {"period": "month"}])
def test_measure_is_identical(project, both, options):
    fast, portable, users = both
    j = project.journey
    assert diagnose(j, measure_map(j, fast, users, **options)).to_dict() == \
        diagnose(j, measure_map(j, portable, users, **options)).to_dict()


FUNNELS = [(order, extra) for order in ("ordered", "strict", "unordered")
           for extra in ({}, {"breakdown": "channel"}, {"exclusions": [("help_article_view", 1, 3)]})
           if not (order == "unordered" and "exclusions" in extra)]  # exclusions need an order


@pytest.mark.parametrize(("order", "extra"), FUNNELS)
def test_funnel_is_identical(both, order, extra):
    fast, portable, _ = both
    a = funnel(fast, STEPS, window="30d", order=order, **extra)
    b = funnel(portable, STEPS, window="30d", order=order, **extra)
    assert a.to_dict() == b.to_dict()
    assert a.persons(3) == b.persons(3)


def test_paths_are_identical(project, both):
    fast, portable, users = both
    j = project.journey
    a = actual_journey(j, fast, users, stage="first_value", exclude=["$pageview"])
    b = actual_journey(j, portable, users, stage="first_value", exclude=["$pageview"])
    assert a.to_dict() == b.to_dict()


def test_copy_is_rebuilt_when_the_store_changes(project):
    first, _ = project.sources()
    again, _ = project.sources()
    assert first.files == again.files
    demo = generate(users=50, seed=99)
    project.workspace.store.append(demo.events, users=demo.users)
    fresh, _ = project.sources()
    assert fresh.table.count().to_pyarrow().as_py() == \
        project.tables()[0].count().to_pyarrow().as_py()


def test_public_functions_accept_the_ordered_copy(project):
    fast, users = project.sources()  # fresh: an earlier test appended to the store
    portable, _ = project.tables()
    text = project.workspace.journey_path.read_text()
    assert journeymap.measure(text, fast, users=users).to_dict() == \
        journeymap.measure(text, portable, users=users).to_dict()
    assert journeymap.paths(text, fast, users=users).conformance.to_dict() == \
        journeymap.paths(text, portable, users=users).conformance.to_dict()
