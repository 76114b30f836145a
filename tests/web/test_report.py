"""`journeymap report`: the HTML file and the PDF printed from it by headless Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from journeymap.cli.main import main

CHROMIUM = Path(os.environ.get("JOURNEYMAP_CHROMIUM", "/usr/bin/chromium"))


def test_html_report_from_the_cli(demo_path, tmp_path, capsys):
    out = tmp_path / "map.html"
    assert main(["report", "-o", str(out), "-w", str(demo_path), "--persona", "team", "--period", "week"]) == 0
    assert capsys.readouterr().out.strip() == f"{out}: html report of {demo_path}, persona team"
    page = out.read_text()
    assert page.startswith("<!doctype html>") and '"persona": "team"' in page and '"period": "week"' in page


@pytest.mark.browser
def test_pdf_report_printed_by_chromium(demo_path, tmp_path, capsys):
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium at {CHROMIUM} (.ci/run installs it)")
        pytest.skip("no Chromium")
    out = tmp_path / "map.pdf"
    assert main(["report", "-o", str(out), "-w", str(demo_path)]) == 0, capsys.readouterr().err
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 50_000
    assert data.count(b"/Type /Page") + data.count(b"/Type/Page") >= 2  # the map and the paths


def test_pdf_without_chromium_says_how_to_get_it(demo_path, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no browser on this PATH
    assert main(["report", "-o", str(tmp_path / "map.pdf"), "-w", str(demo_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --format pdf prints the report in headless Chromium") and \
        "apt-get install chromium" in err
    assert not (tmp_path / "map.pdf").exists()
