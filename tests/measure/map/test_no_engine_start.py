"""A workspace's measure starts no engine: its events are the clustered copy, its
personas are read off the users file (see `measure._feed.arrow_conditions`), the revenue
per user is one DuckDB query without Ibis, and no Python value goes through pyarrow's
own conversion (which imports pandas). In a fresh process neither Ibis nor pandas is
imported, and the map is the one measured through Ibis tables."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from journeymap import api
from journeymap.workspace import Workspace, init_workspace

JOURNEY = """\
name: shop
stages:
  - {id: visit, owner: marketing, enter: {event: visit}}
  - {id: signup, owner: growth, enter: {event: signup}}
  - {id: buy, owner: sales, enter: {event: buy}}
personas:
  - {id: free, where: {plan: free}}
  - {id: big, where: {seats: {gte: 10}, plan: {in: [pro, team]}}}
signals:
  nps: {event: nps_answered, score: score}
min_volume: 1
"""


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shop")
    rows = ["user_id,event,ts,revenue,score"]
    for i in range(60):
        u = f"u{i:02d}"
        rows.append(f"{u},visit,2024-01-01T00:{i:02d}:00Z,,")
        if i % 2:
            rows.append(f"{u},signup,2024-01-02T00:{i:02d}:00Z,,")
            rows.append(f"{u},nps_answered,2024-01-02T01:{i:02d}:00Z,,{i % 11}")
        if i % 6 == 1:
            rows.append(f"{u},buy,2024-01-03T00:{i:02d}:00Z,{10 + i % 4 * 5}.0,")
    (tmp / "events.csv").write_text("\n".join(rows) + "\n")
    (tmp / "users.csv").write_text("user_id,plan,seats\n" + "\n".join(
        f"u{i:02d},{['free', 'pro', 'team'][i % 3]},{i % 20}" for i in range(60)) + "\n")
    made = init_workspace(tmp / "ws", JOURNEY)
    made.ingest_users(tmp / "users.csv")
    made.ingest(tmp / "events.csv")
    return tmp / "ws"


def test_a_workspace_measure_imports_neither_ibis_nor_pandas(ws):
    script = textwrap.dedent(f"""\
        import json, sys
        from journeymap.workspace import Workspace
        m = Workspace({str(ws)!r}).measure(cache=False)
        print(json.dumps({{"imported": [m for m in ("ibis", "pandas") if m in sys.modules],
                          "map": m.to_dict()}}, default=str))
        """)
    out = json.loads(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                                    text=True).stdout)
    assert out["imported"] == []
    w = Workspace(ws)
    events, users = w.tables()
    expected = api.measure(w.journey, events, users=users).to_dict()
    assert set(expected["personas"]) == {"free", "big"} and expected["value_per_user"]["signup"]["advanced"] > 0
    assert expected["experience"]["stages"]
    assert json.dumps(out["map"], sort_keys=True, default=str) == json.dumps(expected, sort_keys=True, default=str)
