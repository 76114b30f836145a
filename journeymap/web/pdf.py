"""The report as PDF: the HTML report printed by headless Chromium, offline.

Chromium runs with networking off (`--disable-background-networking` and friends,
a fresh profile): the report needs nothing but itself. Where no Chromium is
installed, the error names how to get one.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from journeymap.errors import EngineError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         "--virtual-time-budget=15000", "--no-pdf-header-footer")
TIMEOUT_S = 120


def browser() -> str:
    """The path of an installed Chromium (or Chrome)."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise EngineError("--format pdf prints the report in headless Chromium, and none is installed "
                      "(Debian/Ubuntu: apt-get install chromium); --format html needs nothing")


def print_pdf(html_text: str, out: Path) -> Path:
    """Print an HTML document to `out` as PDF."""
    exe = browser()
    out = Path(out).absolute()
    with tempfile.TemporaryDirectory(prefix="journeymap-pdf-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html_text, encoding="utf-8")
        cmd = [exe, *FLAGS, f"--user-data-dir={tmp}/profile", f"--print-to-pdf={out}", page.as_uri()]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise EngineError(f"Chromium did not print the report within {TIMEOUT_S}s") from None
    if done.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise EngineError(f"Chromium could not print the report (exit {done.returncode}): {tail[0]}")
    return out
