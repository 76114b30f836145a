"""Segment spec messages (track, page, screen, identify, alias, group) to tables.

Input is a batch `{"batch": [...]}`, a JSON list of messages, or JSONL of
messages. Each message keeps the 1-based line where it starts, for errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from journeymap.errors import did_you_mean
from journeymap.store._tabular import ROW
from journeymap.store.schema import IDENTITIES, safe_property_name

__all__ = ["SegmentData", "parse", "sniff", "TYPES"]

TYPES = ("track", "page", "screen", "identify", "alias", "group")
_TS_KEYS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
_PAGE_EVENTS = {"page": "$pageview", "screen": "$screen"}
_DEC = json.JSONDecoder()
_SEP = re.compile(r"[\s,]*")
_WS = re.compile(r"\s*")


@dataclass
class SegmentData:
    """Event rows (with a row locator), their locations and raw text, users, identities."""

    table: pa.Table
    locations: list[str]
    raws: list[str]
    users: pa.Table | None
    identities: pa.Table | None
    rejected: list = field(default_factory=list)


def sniff(path: Path, default: str) -> str:
    """'segment' when the file looks like Segment messages, else 'jsonl'."""
    with path.open("rb") as fh:
        head = fh.read(1 << 16).decode("utf-8", "replace").lstrip()
    if head.startswith("["):
        return "segment"
    try:
        first = json.loads(head.split("\n", 1)[0])
    except (ValueError, RecursionError):
        return default
    if not isinstance(first, dict):
        return default
    if "batch" in first or ("type" in first and {"userId", "anonymousId", "previousId"} & set(first)):
        return "segment"
    return "segment" if default == "segment" and "type" in first else "jsonl"


def parse(path: Path, file: str) -> SegmentData:
    """Parse a Segment file into event rows, users and identities."""
    out = _Out(file)
    for line, msg, raw, error in _messages(path.read_text(encoding="utf-8", errors="replace")):
        if error:
            out.rejected.append((f"{file}:{line}", error, raw))
        else:
            _handle(out, msg, f"{file}:{line}", raw)
    return out.result()


def _messages(text: str) -> Iterator[tuple[int, object, str, str | None]]:
    """(line, message, raw, error) for every message in the file."""
    start = _WS.match(text).end()
    if text.startswith(("[", "{"), start):
        try:
            doc, end = _DEC.raw_decode(text, start)
        except (ValueError, RecursionError):  # too deep for one document: read it by lines
            doc, end = None, -1
        if end >= 0 and not text[end:].strip():
            if isinstance(doc, dict) and isinstance(doc.get("batch"), list):
                yield from _array(text, _batch_start(text, start))
            elif isinstance(doc, list):
                yield from _array(text, start)
            else:
                yield _line_of(text, start), doc, text[start:end], None
            return
    yield from _jsonl(text)


def _jsonl(text: str) -> Iterator[tuple[int, object, str, str | None]]:
    """Messages of a JSONL text, one per non-blank line."""
    for n, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        try:
            yield n, json.loads(line), line, None
        except ValueError as exc:
            yield n, None, line, f"malformed JSON line: {exc.msg}"
        except RecursionError:
            yield n, None, line[:200], "JSON nested too deeply"


def _batch_start(text: str, start: int) -> int:
    """Offset of the `[` of the top-level "batch" array of an already-valid object."""
    i = start + 1
    while True:
        i = _SEP.match(text, i).end()
        key, i = _DEC.raw_decode(text, i)
        i = _WS.match(text, _WS.match(text, i).end() + 1).end()
        if key == "batch":
            return i
        _, i = _DEC.raw_decode(text, i)


def _array(text: str, start: int) -> Iterator[tuple[int, object, str, str | None]]:
    """Items of the (valid) JSON array opening at `start`, with their start lines."""
    i, line, seen = start + 1, 1, 0
    while True:
        i = _SEP.match(text, i).end()
        if text[i] == "]":
            return
        item, end = _DEC.raw_decode(text, i)
        line += text.count("\n", seen, i)
        seen = i
        yield line, item, text[i:end], None
        i = end


def _line_of(text: str, pos: int) -> int:
    """1-based line of offset `pos`."""
    return text.count("\n", 0, pos) + 1


def _flat(values: dict | None, rename=safe_property_name) -> dict:
    """One level of properties: nested objects and lists become JSON text."""
    out = {}
    for k, v in (values if isinstance(values, dict) else {}).items():
        out[rename(str(k))] = json.dumps(v, separators=(",", ":")) if isinstance(v, dict | list) else v
    return out


def _str(value) -> str | None:
    """Identifier as text (numbers allowed), None when missing."""
    return None if value is None else str(value)


class _Out:
    """Collects rows while messages are handled."""

    def __init__(self, file: str):
        self.file = file
        self.events: list[dict] = []
        self.locations: list[str] = []
        self.raws: list[str] = []
        self.users: list[dict] = []
        self.identities: list[tuple[str, str]] = []
        self.rejected: list[tuple[str, str, str]] = []

    def result(self) -> SegmentData:
        """Build the arrow tables."""
        table = _table(self.events, [ROW, "event_id", "user_id", "anonymous_id", "event", "ts"])
        users = _table(self.users, ["user_id"]) if self.users else None
        ids = None
        if self.identities:
            anon, uid = zip(*self.identities)
            ids = pa.table([pa.array(anon, pa.string()), pa.array(uid, pa.string())], schema=IDENTITIES)
        return SegmentData(table, self.locations, self.raws, users, ids, self.rejected)


def _handle(out: _Out, msg, loc: str, raw: str) -> None:
    """Route one message to events, users, identities or rejects."""
    if not isinstance(msg, dict):
        out.rejected.append((loc, "not a JSON object", raw))
        return
    kind = msg.get("type")
    uid, anon = _str(msg.get("userId")), _str(msg.get("anonymousId"))
    if kind in ("track", "page", "screen"):
        props = _flat(msg.get("properties"))
        event = msg.get("event") if kind == "track" else _PAGE_EVENTS[kind]
        if kind != "track":
            for key in ("name", "category"):
                if msg.get(key) is not None:
                    props.setdefault(key, msg[key])
        ts = next((msg[k] for k in _TS_KEYS if msg.get(k) not in (None, "")), None)
        out.events.append({ROW: len(out.events), "event_id": _str(msg.get("messageId")), "user_id": uid,
                           "anonymous_id": anon, "event": _str(event), "ts": _str(ts), **props})
        out.locations.append(loc)
        out.raws.append(raw)
    elif kind == "identify" and (uid or anon):
        out.users.append({"user_id": uid or anon,
                          **_flat(msg.get("traits"), lambda k: "trait_user_id" if k == "user_id" else k)})
        if uid and anon:
            out.identities.append((anon, uid))
    elif kind == "alias" and msg.get("previousId") is not None and uid:
        out.identities.append((_str(msg["previousId"]), uid))
    elif kind in ("identify", "alias"):
        need = "userId or anonymousId" if kind == "identify" else "previousId and userId"
        out.rejected.append((loc, f"{kind} message needs {need}", raw))
    elif kind != "group":
        why = "missing Segment message type" if kind is None else \
            f"unknown Segment message type {kind!r}{did_you_mean(kind, TYPES)}"
        out.rejected.append((loc, why, raw))


def _table(rows: list[dict], first: list[str]) -> pa.Table:
    """Rows to an arrow table, each column typed from its Python values."""
    names = dict.fromkeys(first)
    for row in rows:
        names.update(dict.fromkeys(row))
    return pa.table({n: _column([r.get(n) for r in rows], n, n in first) for n in names})


def _column(values: list, name: str, core: bool) -> pa.Array:
    """int64, double, bool or string array from Python scalars (core columns: text)."""
    if name == ROW:
        return pa.array(values, pa.int64())
    kinds = {type(v) for v in values if v is not None}
    if core or not kinds:
        return pa.array(values, pa.string())
    if kinds == {bool}:
        return pa.array(values, pa.bool_())
    if kinds == {int} and all(v is None or -2**63 <= v < 2**63 for v in values):
        return pa.array(values, pa.int64())
    if kinds <= {int, float}:
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    return pa.array([v if v is None or isinstance(v, str) else json.dumps(v) for v in values], pa.string())
