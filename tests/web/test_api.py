"""The JSON API: every page's data is the workspace's result as the CLI prints it, one
error shape for everything that goes wrong, an OpenAPI document, the stuck list as CSV."""

from __future__ import annotations

import csv
import io
import json
import re
import time

import pytest

from journeymap.results import clean
from journeymap.web.jobs import Jobs
from tests.web.conftest import answered

ERROR_KEYS = {"status", "code", "message"}


def external_references(page: str) -> list[str]:
    """src / href attributes of the page's tags that are not inline data (script bodies
    are not tags: the parser reads them as text)."""
    from html.parser import HTMLParser
    found = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.extend(v for k, v in attrs if k in ("src", "href") and v
                         and not v.startswith(("data:", "#")))
    Tags().feed(page)
    return found


def error_of(res, status: int, code: str) -> str:
    assert res.status_code == status, res.text
    body = res.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    assert body["error"]["status"] == status and body["error"]["code"] == code, body
    return body["error"]["message"]


def test_the_map_is_the_workspace_map_as_the_cli_prints_it(client, ws):
    got = answered(client, "/api/map").json()
    assert got == json.loads(ws.measure().to_json())
    assert [h["from"] for h in got["handoffs"]] == [s["id"] for s in got["stages"][:-1]]
    onboarding = next(h for h in got["handoffs"] if h["from"] == "onboarding")
    assert onboarding["owner"] == "customer_success" and onboarding["declared"] is True
    assert onboarding["lost"] == next(s for s in got["stages"] if s["id"] == "onboarding")["drop_off"]


def test_persona_period_and_by_change_the_numbers(client, ws):
    whole = answered(client, "/api/map").json()
    team = answered(client, "/api/map", params={"persona": "team"}).json()
    assert team["computed_on"]["persona"] == "team"
    assert team["stages"][0]["entered"] < whole["stages"][0]["entered"]
    assert team == json.loads(ws.measure(persona="team").to_json())
    weekly = answered(client, "/api/map", params={"period": "week"}).json()
    assert weekly["cohorts"] and any(c["immature"] for c in weekly["cohorts"])
    split = answered(client, "/api/map", params={"by": "persona"}).json()
    assert set(split["groups"]) >= {"solo", "team", "enterprise"}


def test_meta_names_stages_personas_and_split_options(client):
    meta = answered(client, "/api/meta").json()
    assert [s["id"] for s in meta["stages"]][:3] == ["awareness", "consideration", "signup"]
    assert {p["id"] for p in meta["personas"]} == {"solo", "team", "enterprise"}
    assert meta["by"][0] == "persona" and "team_size" in meta["by"] and "channel" in meta["by"]


def test_stage_detail(client, ws):
    d = answered(client, "/api/stage/onboarding", params={"by": "persona"}).json()
    assert d["stage"] == clean(ws.measure().stage("onboarding").to_dict())
    weekly = [c for c in ws.measure(period="week").cohorts if c.stage == "onboarding"]
    assert d["cohorts"] == [clean(c.to_dict()) for c in weekly] and d["period"] == "week"
    groups = {g["group"]: g for g in d["breakdown"]["groups"]}
    assert groups["team"]["entered"] == ws.measure(by="persona").groups["team"][3].entered
    assert d["paths"]["advanced"]["users"] == d["stage"]["advanced"]
    assert d["paths"]["dropped"]["users"] == d["stage"]["drop_off"]
    stuck = ws.stuck("onboarding").to_dict()
    assert d["stuck"] == {k: stuck[k] for k in ("in_stage", "stuck", "can_still_advance")} \
        and d["stuck"]["stuck"] == len(ws.stuck("onboarding").customers)
    last = answered(client, "/api/stage/advocacy").json()  # the last stage: no next, no cohorts
    assert last["stage"]["next"] is None and last["paths"] is None


def test_paths_and_customers(client, ws):
    actual = answered(client, "/api/paths", params={"exclude": "$pageview,session_start"}).json()
    assert actual == json.loads(ws.paths(exclude=["$pageview", "session_start"]).to_json())
    assert actual["sankey"]["data"][0]["type"] == "sankey"
    stuck = answered(client, "/api/stuck", params={"stage": "onboarding"}).json()
    every = ws.stuck("onboarding")
    assert stuck == clean(every.to_dict(0, 200)) and stuck["customers"]
    assert stuck["stuck"] == every.stuck > len(stuck["customers"]) == 200  # one page, the total
    page2 = answered(client, "/api/stuck", params={"stage": "onboarding", "offset": 200, "limit": 5}).json()
    assert page2["customers"] == clean(every.customers[200:205]) and page2["offset"] == 200
    who = stuck["customers"][0]["user_id"]
    one = answered(client, f"/api/customer/{who}").json()
    assert one == json.loads(ws.customer(who).to_json()) and one["status"] == "stuck"
    rows = list(csv.DictReader(io.StringIO(answered(client, "/api/stuck.csv", params={"stage": "onboarding"}).text)))
    assert [r["user_id"] for r in rows] == [c["user_id"] for c in every.customers]
    res = answered(client, "/api/stuck.csv", params={"stage": "onboarding"})
    assert res.headers["content-type"].startswith("text/csv")
    assert 'filename="stuck-onboarding.csv"' in res.headers["content-disposition"]


def test_kpis_are_the_workspace_kpis(client, ws):
    got = answered(client, "/api/kpis").json()
    assert got == json.loads(ws.kpis().to_json())
    names = {k["name"] for k in got["kpis"]}
    assert {"cost_per_conversion", "churn_rate_per_month", "clv_projected", "help_bounce_rate"} <= names


def test_one_error_shape_for_everything(client):
    assert "unknown stage 'onbording'" in error_of(answered(client, "/api/stage/onbording"), 404, "not_found")
    assert "did you mean 'onboarding'" in error_of(answered(client, "/api/stuck", params={"stage": "onbording"}),
                                                   404, "not_found")
    assert "unknown persona" in error_of(answered(client, "/api/map", params={"persona": "teams"}), 404, "not_found")
    assert "no customer 'nobody'" in error_of(answered(client, "/api/customer/nobody"), 404, "not_found")
    assert "period" in error_of(answered(client, "/api/map", params={"period": "year"}), 400, "invalid_parameter")
    assert "limit" in error_of(answered(client, "/api/customer/x", params={"limit": "many"}), 400,
                               "invalid_parameter")
    error_of(answered(client, "/api/nothing"), 404, "not_found")
    error_of(answered(client, "/docs"), 404, "not_found")  # FastAPI's page would load a CDN
    error_of(answered(client, "/static/nothing.js"), 404, "not_found")
    error_of(answered(client, "/stage/nosuch"), 404, "not_found")
    error_of(client.post("/api/map"), 405, "http_error")


def test_a_bad_split_is_a_query_error_naming_the_property(client):
    message = error_of(answered(client, "/api/map", params={"by": "chanel"}), 400, "query_error")
    assert "unknown trait or property 'chanel'" in message and "did you mean 'channel'" in message


def test_openapi_documents_every_api_route(client):
    doc = answered(client, "/openapi.json").json()
    assert doc["info"]["title"] == "journeymap"
    assert {"/api/meta", "/api/map", "/api/stage/{stage}", "/api/paths", "/api/kpis", "/api/customer/{user_id}",
            "/api/stuck", "/api/stuck.csv", "/report.html"} <= set(doc["paths"])
    assert not any(p.startswith("/static") or p in ("/", "/paths") for p in doc["paths"])


def test_pages_and_assets_come_from_the_server_only(client):
    for page in ("/", "/stage/onboarding", "/paths", "/kpis", "/customers"):
        res = answered(client, page)
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", res.text)  # no CDN, no remote asset
    js = answered(client, "/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000  # plotly.js from the package
    assert answered(client, "/static/journeymap.css").headers["content-type"].startswith("text/css")


def test_long_work_answers_202_with_progress_then_the_result():
    from journeymap.progress import report
    jobs = Jobs()

    def slow():
        for i in range(5):
            report("counting", i, 5)
            time.sleep(0.1)
        return 42

    ready, job = jobs.answer("k", slow, wait=0.05)
    assert not ready and job.future is not None
    time.sleep(0.25)
    progress = job.progress()
    assert progress["task"] == "counting" and 0 < progress["done"] < 5 and progress["total"] == 5
    again_ready, again = jobs.answer("k", slow, wait=0.01)  # the same question joins the job
    assert not again_ready and again is job
    assert job.future.result(timeout=5) == 42
    jobs.close()


def test_the_map_answers_202_while_the_first_measure_runs(ws, tmp_path):
    import shutil

    from fastapi.testclient import TestClient

    import journeymap
    from journeymap.web.app import create_app
    copy = tmp_path / "copy"
    shutil.copytree(ws.path, copy, ignore=shutil.ignore_patterns(".cache", ".clustered"))
    with TestClient(create_app(journeymap.open(copy))) as c:
        first = c.get("/api/map")
        if first.status_code == 202:  # measuring (the clustered copy is built first)
            body = first.json()
            assert body["status"] == "working" and set(body["progress"]) == {"task", "done", "total",
                                                                            "elapsed_s"}
        for _ in range(200):
            res = c.get("/api/map")
            if res.status_code == 200:
                break
            time.sleep(0.1)
        assert res.status_code == 200 and res.json()["stages"]


@pytest.mark.parametrize("persona", [None, "team"])
def test_the_report_is_one_self_contained_file(client, ws, persona):
    res = answered(client, "/report.html", params={"persona": persona} if persona else {})
    assert res.status_code == 200
    page = res.text
    assert external_references(page) == []  # every script, style and image inline
    data = page.split('<script type="application/json" id="jm-data">', 1)[1].split("</script>", 1)[0]
    embedded = json.loads(data)
    assert embedded["map"] == json.loads(ws.measure(persona=persona).to_json())
    assert embedded["actual"] == json.loads(ws.paths(persona=persona).to_json())
