"""The dashboard in real headless Chromium (Debian's `chromium`, driven by Playwright):
every page loads clean, the controls work from the mouse and the keyboard, a customer
is found, user data stays text, and the report opens from disk with no network.

Screenshots of the four pages are taken on the demo workspace; with
JOURNEYMAP_SCREENSHOTS=DIR they are also written to DIR (the README's are made so:
JOURNEYMAP_SCREENSHOTS=docs/screenshots pytest tests/web/test_browser.py -k screenshots).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import journeymap
from journeymap.web.report import report_html
from tests.web.conftest import Serving

CHROMIUM = os.environ.get("JOURNEYMAP_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"browser tests need Chromium at {CHROMIUM} (.ci/run installs it)")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
READY = "document.getElementById('app') && document.getElementById('app').getAttribute('aria-busy') === 'false'"
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def site(ws):
    serving = Serving(ws)
    yield serving.url
    serving.stop()


@pytest.fixture(scope="module")
def chromium():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


class Watched:
    """A page with everything that went wrong on it recorded."""

    def __init__(self, browser, **context):
        self.context = browser.new_context(viewport={"width": 1440, "height": 1000}, **context)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))
        self.page.on("response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}")
                     if r.status >= 400 else None)

        def dialog(d):
            self.dialogs.append(d.message)
            d.dismiss()
        self.page.on("dialog", dialog)

    def open(self, url: str):
        self.page.goto(url)
        self.ready()
        return self.page

    def ready(self):
        self.page.wait_for_function(READY, timeout=TIMEOUT_MS)

    def close(self):
        self.context.close()


@pytest.fixture()
def watched(chromium):
    w = Watched(chromium)
    yield w
    w.close()


def stuck_one(ws) -> str:
    return ws.stuck("onboarding").customers[0]["user_id"]


def test_every_page_loads_with_no_error_and_no_failed_request(watched, site, ws):
    for path in ("/", "/?persona=team&period=week&by=channel", "/stage/onboarding?by=persona",
                 "/stage/advocacy", "/paths?exclude=%24pageview", "/kpis",
                 f"/customers?id={stuck_one(ws)}&stage=onboarding"):
        page = watched.open(site + path)
        assert page.locator(".error").count() == 0, (path, page.locator(".error").all_inner_texts())
        assert page.locator("h1").count() >= 1
    assert watched.problems == []


def entered(page) -> list[str]:
    return page.locator(".stage .entered").all_inner_texts()


def test_the_persona_switch_redraws_the_numbers_without_a_reload(watched, site, ws):
    page = watched.open(site + "/")
    page.evaluate("window.__same_document = true")
    before = entered(page)
    assert before[0].startswith(f"{ws.measure().stages[0].entered:,}")
    page.select_option("#ctl-persona", "team")
    page.wait_for_function("document.querySelector('.stage .entered') && "
                           f"!document.querySelector('.stage .entered').innerText.startsWith({before[0].split(chr(10))[0]!r})",
                           timeout=TIMEOUT_MS)
    watched.ready()
    after = entered(page)
    team = ws.measure(persona="team")
    assert [t.split("\n")[0] for t in after] == [f"{s.entered:,}" for s in team.stages]
    assert page.evaluate("window.__same_document") is True  # redrawn, not reloaded
    assert "persona=team" in page.url
    assert watched.problems == []


def test_a_stage_click_opens_its_detail(watched, site):
    page = watched.open(site + "/")
    page.locator("a.stage").nth(3).click()
    page.wait_for_url("**/stage/onboarding*")
    watched.ready()
    assert page.locator("h1").inner_text() == "Onboarding"
    assert page.locator("figure h3").first.inner_text().startswith("Progression by weekly entry cohort")
    assert page.locator(".plot .main-svg").count() >= 2  # the cohort trend and the time to next
    assert watched.problems == []


def test_the_customer_lookup_finds_a_customer_and_a_stuck_one(watched, site, ws):
    events, _ = ws.tables()
    payer = events.filter(events.event == "subscription_started").user_id.min().execute()
    done = ws.customer(payer)
    assert done.stage in ("purchase", "regular_use", "advocacy")
    page = watched.open(site + "/customers")
    page.fill("#ctl-id", done.user_id)
    page.keyboard.press("Enter")
    page.wait_for_selector("#cust-h", timeout=TIMEOUT_MS)
    assert page.locator("#cust-h").inner_text().startswith(done.user_id)
    assert page.locator(".status").first.inner_text() == done.status
    page.select_option("#ctl-stage", "onboarding")
    page.wait_for_selector("#stuck-h", timeout=TIMEOUT_MS)
    rows = page.locator("#stuck-h ~ div table tbody tr")
    total = ws.stuck("onboarding").stuck
    assert rows.count() == min(50, total) and total > 50
    page.get_by_role("button", name="Show 50 more").click()  # the next page, fetched
    page.wait_for_function("document.querySelectorAll('#stuck-h ~ div table tbody tr').length > 50",
                           timeout=TIMEOUT_MS)
    assert rows.count() == min(100, total)
    first = page.locator("#stuck-h ~ div table tbody tr a").first
    who = first.inner_text()
    assert who == stuck_one(ws)
    first.click()
    page.wait_for_url(f"**/customers?id={who}*")
    watched.ready()
    page.wait_for_selector("#cust-h", timeout=TIMEOUT_MS)
    assert page.locator(".status").first.inner_text() == "stuck"
    page.fill("#ctl-id", "nobody-at-all")
    page.keyboard.press("Enter")
    page.wait_for_selector(".error", timeout=TIMEOUT_MS)
    assert "no customer 'nobody-at-all'" in page.locator(".error").inner_text()
    # the one 404 is the answer about nobody-at-all (the browser logs it without its URL too)
    assert sorted(watched.problems) == sorted([
        f"HTTP 404: {site}/api/customer/nobody-at-all",
        "console error: Failed to load resource: the server responded with a status of 404 (Not Found)"])


FOCUSABLE = "a[href], select, input, button, [tabindex]:not([tabindex='-1'])"


@pytest.mark.parametrize("path", ["/", "/stage/onboarding", "/paths", "/kpis", "/customers?stage=onboarding"])
def test_the_keyboard_reaches_every_control(watched, site, path):
    page = watched.open(site + path)
    page.wait_for_timeout(300)
    controls = page.evaluate(f"""() => [...document.querySelectorAll("{FOCUSABLE}")]
        .filter(e => e.offsetParent !== null && !e.closest('.js-plotly-plot'))
        .map((e, i) => {{ e.dataset.kb = String(i); return String(i); }})""")
    assert len(controls) >= 4
    reached = set()
    for _ in range(len(controls) + 40):
        page.keyboard.press("Tab")
        kb = page.evaluate("document.activeElement && document.activeElement.dataset.kb")
        if kb is not None:
            reached.add(kb)
    assert reached >= set(controls), [page.evaluate(f"document.querySelector('[data-kb=\"{k}\"]').outerHTML")[:120]
                                      for k in sorted(set(controls) - reached)]
    visible_focus = page.evaluate("""() => { const e = document.querySelector('select, a.stage, button');
        e.focus(); const s = getComputedStyle(e); return s.outlineStyle !== 'none' && s.outlineWidth !== '0px'; }""")
    assert visible_focus  # a focused control shows it


def test_charts_have_text_alternatives(watched, site):
    page = watched.open(site + "/?by=persona")
    figures = page.locator("figure")
    assert figures.count() >= 3
    for i in range(figures.count()):
        fig = figures.nth(i)
        assert fig.locator("[role=img]").get_attribute("aria-label")
        assert fig.locator("details table").count() == 1  # the data behind it, as a table


def test_the_report_opens_from_disk_with_no_network(chromium, ws, tmp_path):
    path = tmp_path / "map.html"
    path.write_text(report_html(ws, persona="team"), encoding="utf-8")
    watched = Watched(chromium)
    asked: list[str] = []

    def only_the_file(route):
        asked.append(route.request.url)
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            route.abort()
    watched.context.route("**/*", only_the_file)
    page = watched.open(path.as_uri())
    assert asked == [path.as_uri()]  # nothing but the file itself
    assert page.locator(".stage").count() == len(ws.journey.stages)
    assert page.locator(".stage .entered").first.inner_text().startswith(
        f"{ws.measure(persona='team').stages[0].entered:,}")
    assert page.locator(".plot .main-svg").count() >= 3  # charts drawn by the inline plotly.js
    assert page.locator("text=The actual journey").count() >= 1
    assert watched.problems == []
    watched.close()


HOSTILE = "<script>alert(1)</script>"
HOSTILE_VALUE = "<img src=x onerror=alert(2)>"


def test_user_data_is_shown_as_text_never_run(chromium, tmp_path):
    """Event names, property values, stage names and user ids that look like HTML."""
    journey = f"""\
name: "Shop {HOSTILE}"
stages:
  - {{id: visit, name: "Visit {HOSTILE}", owner: "web {HOSTILE_VALUE}", enter: {{event: "{HOSTILE}"}}}}
  - {{id: buy, owner: sales, enter: {{event: buy}}, within: 7d}}
personas:
  - {{id: ads, name: "Ads {HOSTILE}", where: {{source: "{HOSTILE_VALUE}"}}}}
min_volume: 1
"""
    rows = ["user_id,event,ts,source"]
    for i in range(40):
        uid = f"u{i}" if i else HOSTILE_VALUE.replace(",", "")
        rows.append(f'"{uid}","{HOSTILE}",2024-01-0{1 + i % 5}T00:00:00Z,"{HOSTILE_VALUE}"')
        if i % 3 == 0:
            rows.append(f'"{uid}",buy,2024-01-0{2 + i % 5}T00:00:00Z,"{HOSTILE_VALUE}"')
    (tmp_path / "events.csv").write_text("\n".join(rows) + "\n")
    ws = journeymap.workspace.init_workspace(tmp_path / "ws", journey)
    ws.ingest(tmp_path / "events.csv")
    serving = Serving(journeymap.open(tmp_path / "ws"))
    watched = Watched(chromium)
    try:
        for path in ("/", "/stage/visit", "/paths", "/customers?id=" + HOSTILE_VALUE.replace(",", "")
                     + "&stage=visit"):
            page = watched.open(serving.url + path)
            page.wait_for_timeout(500)
            assert page.locator(".error").count() == 0, page.locator(".error").all_inner_texts()
            assert page.locator("img[src=x]").count() == 0 and page.locator("#app script").count() == 0
        assert HOSTILE in page.locator("#app").inner_text()  # shown, as text
        report = tmp_path / "r.html"
        report.write_text(report_html(journeymap.open(tmp_path / "ws")), encoding="utf-8")
        page = watched.open(report.as_uri())
        assert HOSTILE in page.locator("#app").inner_text()
        assert watched.dialogs == []  # nothing ran
        assert [p for p in watched.problems if "404" not in p and "HTTP 4" not in p] == []
    finally:
        watched.close()
        serving.stop()


def test_screenshots_of_every_page(watched, site, ws, tmp_path):
    shots = {"map": "/", "kpis": "/kpis", "stage": "/stage/onboarding?by=persona&exclude=%24pageview,session_start",
             "paths": "/paths?exclude=%24pageview,session_start,help_article_view",
             "customer": f"/customers?id={stuck_one(ws)}&stage=onboarding"}
    out = Path(os.environ["JOURNEYMAP_SCREENSHOTS"]) if os.environ.get("JOURNEYMAP_SCREENSHOTS") else None
    for name, path in shots.items():
        page = watched.open(site + path)
        page.wait_for_timeout(1200)  # charts settle
        png = tmp_path / f"{name}.png"
        page.screenshot(path=str(png), full_page=name != "customer")
        assert png.stat().st_size > 20_000
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            shutil.copy(png, out / f"{name}.png")
    assert watched.problems == []
