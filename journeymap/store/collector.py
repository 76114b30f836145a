"""Live events in: Segment HTTP messages checked one by one, journaled, then stored.

`Collector.accept(body, kind)` takes the body of a Segment tracking-API request
(``/v1/batch`` or one of ``track``, ``identify``, ``page``, ``screen``, ``alias``,
``group``), checks each message on its own and writes the accepted ones to the
journal (`store.journal`): when `accept` returns they are on disk, so a crash after
the answer loses nothing. A neighbour's error never drops a valid message; each
rejected one is answered with its index, messageId and reason.

A flusher thread moves the journal into the event store every `flush_every`
seconds (one append of all that arrived, de-duplicated by messageId against
everything stored), then deletes the moved segments; after a crash the segments
left are moved at the next start, and a segment moved but not yet deleted adds
nothing the second time (same messageIds). So: an acknowledged event is stored
exactly once, and visible to measures within about `flush_every` plus the time of
one append.

Limits are Segment's: 500 KB a request (the server's job), 32 KB a message, 2,500
messages a batch. Rows the store's own checks refuse after all (rare: e.g. a
timestamp Python reads but the store does not) are kept in ``rejected/`` as CSV
with their reason; a message the store refuses as a whole (a property whose type
conflicts with the stored column) is found by halving the flush and kept in
``rejected/quarantine.jsonl`` with the reason. Nothing acknowledged is lost silently.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import multiprocessing
import os
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from journeymap.errors import IngestError, did_you_mean
from journeymap.store.eventstore import EventStore
from journeymap.store.journal import Journal, complete_lines, segments
from journeymap.store.schema import TS_MAX_US, TS_MIN_US, TS_RANGE_TEXT

__all__ = ["Collector", "Receipt", "LIMITS", "KINDS"]

KINDS = ("track", "identify", "page", "screen", "alias", "group")
LIMITS = {"request_bytes": 500 * 1024, "message_bytes": 32 * 1024, "batch_messages": 2500}
_ID_MAX = 256  # characters of messageId, userId, anonymousId
MAX_DEPTH = 32  # levels of objects and lists in one message (properties nest as JSON text)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class BodyError(IngestError):
    """The request as a whole is unusable (not JSON, too many messages): HTTP 400/413."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Receipt:
    """What `accept` did with one request."""

    accepted: int = 0
    rejected: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"success": not self.rejected, "accepted": self.accepted, "rejected": self.rejected}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _timestamp_error(value) -> str | None:
    """Why `value` is not an ISO 8601 time with a date (None when it is)."""
    if not isinstance(value, str):
        return f"timestamp must be an ISO 8601 string, not {type(value).__name__}"
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        return f"timestamp {value[:40]!r} is not an ISO 8601 time"
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)  # no offset: UTC, as the store reads it
    try:
        us = (parsed - _EPOCH) // dt.timedelta(microseconds=1)
    except OverflowError:
        us = TS_MAX_US
    if not TS_MIN_US <= us < TS_MAX_US:
        return f"timestamp {value[:40]!r} is out of range ({TS_RANGE_TEXT})"
    return None


def _depth(value, limit: int) -> int:
    """How deep `value` nests, counting up to `limit` (lists and objects)."""
    depth, level = 0, [value]
    while level and depth <= limit:
        level = [v for x in level for v in (x.values() if isinstance(x, dict) else x if isinstance(x, list) else ())
                 if isinstance(v, dict | list)]
        depth += 1
    return depth


def _id(msg: dict, key: str) -> tuple[str | None, str | None]:
    """(the id as text or None, an error)."""
    value = msg.get(key)
    if value is None or value == "":
        return None, None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None, f"{key} must be a string or a number"
    text = str(value)
    if len(text) > _ID_MAX:
        return None, f"{key} is longer than {_ID_MAX} characters"
    return text, None


def check_message(msg, kind: str | None) -> str | None:
    """Why one message cannot be accepted (None when it can). Fills in type."""
    if not isinstance(msg, dict):
        return "not a JSON object"
    if _depth(msg, MAX_DEPTH) > MAX_DEPTH:
        return f"nested more than {MAX_DEPTH} levels deep"
    mtype = msg.get("type", kind)
    if kind and msg.get("type") not in (None, kind):
        return f"type {msg.get('type')!r} sent to /v1/{kind}"
    if mtype not in KINDS:
        return ("missing type" if mtype is None else
                f"unknown type {str(mtype)[:40]!r}{did_you_mean(str(mtype), KINDS)}")
    msg["type"] = mtype
    ids = {}
    for key in ("messageId", "userId", "anonymousId", "previousId", "groupId"):
        ids[key], why = _id(msg, key)
        if why:
            return why
    if mtype == "alias":
        if not (ids["previousId"] and ids["userId"]):
            return "alias needs previousId and userId"
    elif not (ids["userId"] or ids["anonymousId"]):
        return "needs userId or anonymousId"
    if mtype == "track":
        event = msg.get("event")
        if not isinstance(event, str) or not event.strip():
            return "track needs an event name (a non-empty string)"
    for key in ("properties", "traits", "context"):
        if msg.get(key) is not None and not isinstance(msg[key], dict):
            return f"{key} must be an object"
    for key in ("timestamp", "originalTimestamp", "sentAt"):
        if msg.get(key) not in (None, ""):
            why = _timestamp_error(msg[key])
            if why:
                return why.replace("timestamp", key, 1)
    return None


class Collector:
    """Checks, journals and stores Segment messages for one event store."""

    KINDS, LIMITS = KINDS, LIMITS

    def __init__(self, store: EventStore, folder: str | Path, *, flush_every: float = 1.0,
                 separate_process: bool = False):
        self.store = store
        self.folder = Path(folder)
        self.flush_every = flush_every
        self.separate_process = separate_process
        self._workers: ProcessPoolExecutor | None = None
        self.journal = Journal(self.folder / "journal")
        self._stop = threading.Event()
        self._flush_lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self.last_error: str | None = None
        self.stored = self.duplicates = self.quarantined = 0

    # ---- in ----------------------------------------------------------------------------
    def accept(self, body: bytes, kind: str | None = None) -> Receipt:
        """Check the messages of one request body; journal the good ones (durably)."""
        messages = self._messages(body, kind)
        received = _now()
        receipt, lines = Receipt(), []
        for i, msg in enumerate(messages):
            why = check_message(msg, kind)
            if why is None:
                if msg.get("messageId") in (None, ""):
                    msg["messageId"] = str(uuid.uuid4())
                msg["receivedAt"] = received
                line = json.dumps(msg, separators=(",", ":"), ensure_ascii=False) + "\n"
                try:
                    size = len(line.encode("utf-8"))
                except UnicodeEncodeError:
                    why, size = "text that is not valid Unicode (a lone surrogate \\ud800–\\udfff)", 0
                if size > LIMITS["message_bytes"]:
                    why = f"message is over the {LIMITS['message_bytes'] // 1024} KB limit"
            if why is None:
                lines.append(line)
            else:
                mid = msg.get("messageId") if isinstance(msg, dict) else None
                mid = str(mid)[:_ID_MAX] if isinstance(mid, str | int) and not isinstance(mid, bool) else None
                receipt.rejected.append({"index": i, "messageId": mid,
                                         "reason": why})
        if lines:
            self.journal.append("".join(lines).encode())
        receipt.accepted = len(lines)
        return receipt

    @staticmethod
    def _messages(body: bytes, kind: str | None) -> list:
        try:
            doc = json.loads(body)
        except RecursionError:
            raise BodyError("the JSON is nested too deeply") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise BodyError(f"the body is not JSON: {exc}") from None
        if kind is not None:
            return [doc]
        if not isinstance(doc, dict) or not isinstance(doc.get("batch"), list):
            raise BodyError('a batch is a JSON object with a "batch" list of messages')
        batch = doc["batch"]
        if len(batch) > LIMITS["batch_messages"]:
            raise BodyError(f"{len(batch)} messages in one batch: the limit is "
                            f"{LIMITS['batch_messages']}", status=413)
        shared = {k: doc[k] for k in ("context", "integrations") if isinstance(doc.get(k), dict)}
        for msg in batch:  # batch-level context applies to messages without their own
            if isinstance(msg, dict):
                for k, v in shared.items():
                    msg.setdefault(k, v)
        return batch

    # ---- on to the store ----------------------------------------------------------------
    def flush(self, *, here: bool = False) -> int:
        """Move every closed journal segment (and the open one) into the store; returns
        the events added. Safe to call from any thread; one flush runs at a time. With
        `separate_process`, the moving (parsing, checking, writing Parquet) runs in a
        worker process, so it never holds this process's GIL while requests wait (`here`:
        in this process all the same, as before the server answers anything)."""
        with self._flush_lock:
            added = 0
            for seg in self.journal.rotate():
                args = (str(self.store.root), str(self.folder), str(seg))
                counts = None
                if self.separate_process and not here:
                    try:
                        counts = self._pool().submit(move_segment, *args).result()
                    except BrokenProcessPool:  # the worker died (killed): move it here instead
                        self._workers = None
                counts = counts or move_segment(*args)
                added += counts["added"]
                self.stored += counts["added"]
                self.duplicates += counts["duplicates"]
                self.quarantined += counts["quarantined"]
                if counts["quarantined"]:
                    self.last_error = f"quarantined {counts['quarantined']} message(s): {counts['reason']}"
            return added

    def _spawn(self) -> None:
        """Start the worker ignoring Ctrl+C from its first instruction (a SIGINT to the
        process group while it starts would kill it; the server stops it after a last
        flush), where signals can be set: in the main thread."""
        import signal
        if threading.current_thread() is not threading.main_thread():
            self._pool().submit(int)
            return
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by the new process
        try:
            self._pool().submit(int)
        finally:
            signal.signal(signal.SIGINT, previous)

    def _pool(self) -> ProcessPoolExecutor:
        if self._workers is None:
            self._workers = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_ignore_interrupts)
        return self._workers

    def start(self) -> Collector:
        """Move what a previous run left in the journal, then flush every `flush_every` s."""
        self.flush(here=True)
        if self.separate_process:  # the worker starts now (in the background), not at the first flush
            self._spawn()
        self._flusher = threading.Thread(target=self._run, name="collector-flusher", daemon=True)
        self._flusher.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.flush_every):
            try:
                self.flush()
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - kept in the journal; retried next time
                self.last_error = f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        """Stop flushing, move what is journaled, stop the journal."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join()
        with contextlib.suppress(Exception):  # whatever stays in the journal moves at the next start
            self.flush()
        self.journal.close()
        if self._workers is not None:
            self._workers.shutdown()

    def status(self) -> dict:
        return {"pending_segments": len(segments(self.journal.folder)), "stored": self.stored,
                "duplicates": self.duplicates, "quarantined": self.quarantined, "flush_every_s": self.flush_every,
                "last_error": self.last_error, "checked_at": time.time()}


def _ignore_interrupts() -> None:
    """The worker leaves Ctrl+C to the server, which stops it after a last flush."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def move_segment(store_root: str, folder: str, seg: str) -> dict:
    """Move one closed journal segment into the store, then delete it; returns counts.
    (A module-level function: it runs in the collector's worker process.)"""
    mover = _Mover(EventStore(store_root), Path(folder))
    path = Path(seg)
    if not path.exists():  # moved by a worker that died before it could answer
        return mover.counts
    data = complete_lines(path)
    if data.strip():
        if len(data) != path.stat().st_size:  # a torn last record (never acknowledged)
            path.write_bytes(data)
        mover.ingest(path, path.stem)
    path.unlink()
    return mover.counts


class _Mover:
    """Ingests files of messages, halving a file the store refuses whole."""

    def __init__(self, store: EventStore, folder: Path):
        self.store, self.folder = store, folder
        self.counts = {"added": 0, "duplicates": 0, "quarantined": 0, "reason": None}

    def ingest(self, path: Path, name: str) -> None:
        """Rows the store refuses go to rejected/NAME.csv; a file the store refuses whole (a
        property whose type conflicts with the stored one, say) is halved until the
        refused messages stand alone, each kept in rejected/quarantine.jsonl with the
        reason, so one bad message never holds back the others."""
        rejected = self.folder / "rejected" / f"{name}.csv"
        try:
            stats = self.store.ingest(path, format="segment", skip_bad_rows=rejected)
        except OSError:  # the disk, not the data: the segment stays and is tried again
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the data made fail: halve, quarantine
            lines = complete_lines(path).splitlines(keepends=True)
            if len(lines) <= 1:
                self._quarantine(lines, exc)
                return
            for half, part in enumerate((lines[:len(lines) // 2], lines[len(lines) // 2:])):
                piece = self.folder / f".{name}-{half}.jsonl"
                piece.write_bytes(b"".join(part))
                try:
                    self.ingest(piece, f"{name}-{half}")
                finally:
                    piece.unlink(missing_ok=True)
            return
        if rejected.exists() and rejected.read_text(encoding="utf-8").count("\n") <= 1:
            rejected.unlink()  # the header only: nothing refused
        self.counts["added"] += stats.added
        self.counts["duplicates"] += stats.duplicates

    def _quarantine(self, lines: list[bytes], exc: Exception) -> None:
        reason = exc.message if isinstance(exc, IngestError) else f"{type(exc).__name__}: {exc}"
        folder = self.folder / "rejected"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "quarantine.jsonl", "ab") as fh:
            for line in lines:
                fh.write(json.dumps({"reason": reason, "message": line.decode("utf-8", "replace").rstrip("\n")},
                                    ensure_ascii=False).encode() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.counts["quarantined"] += len(lines)
        self.counts["reason"] = reason
