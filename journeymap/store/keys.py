"""Write keys for the collector, kept only as hashes in the workspace's keys.json.

A key is shown once, when it is created (``jmw_`` and 32 random URL-safe
characters); the file keeps its SHA-256 (the keys are random, so no slow hash is
needed), a short prefix to recognise it by, its name and dates. Revoking keeps
the entry, marked, so that `list` still says what the key was. The file is
rewritten whole (temporary name, fsync, rename) under a lock, and read again
whenever it changes, so a running server honours a revocation at its next request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from journeymap.errors import QueryError, WorkspaceError
from journeymap.store._durable import exclusive, fsync

__all__ = ["KeyRing", "WriteKey", "PREFIX"]

PREFIX = "jmw_"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class WriteKey:
    id: str
    name: str
    prefix: str
    created: str
    revoked: str | None

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "prefix": self.prefix, "created": self.created,
                "revoked": self.revoked}


class KeyRing:
    """The write keys of one workspace."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._seen: tuple[int, int, int] | None = None
        self._hashes: dict[str, str] = {}  # hash -> id, live keys only

    def _read(self) -> list[dict]:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except ValueError as exc:
            raise WorkspaceError(f"the keys file is not valid JSON: {exc}", file=str(self.path)) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise WorkspaceError('the keys file must be {"keys": [...]}', file=str(self.path))
        return doc["keys"]

    def _write(self, entries: list[dict]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"keys": entries}, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        fsync(self.path.parent)

    def create(self, name: str = "") -> tuple[WriteKey, str]:
        """A new key: (its record, the secret — shown this once)."""
        secret = PREFIX + secrets.token_urlsafe(24)
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        entry = {"id": "key_" + secrets.token_hex(4), "name": name, "prefix": secret[:8],
                 "sha256": _digest(secret), "created": now, "revoked": None}
        with exclusive(self.path.with_name(".keys.lock")):
            self._write([*self._read(), entry])
        return self._key(entry), secret

    def list(self) -> list[WriteKey]:
        return [self._key(e) for e in self._read()]

    def revoke(self, key_id: str) -> WriteKey:
        """Mark a key revoked (by id or prefix); QueryError naming the keys if none matches."""
        with exclusive(self.path.with_name(".keys.lock")):
            entries = self._read()
            match = [e for e in entries if key_id in (e["id"], e["prefix"])]
            if not match:
                known = ", ".join(e["id"] for e in entries) or "none yet"
                raise QueryError(f"no write key '{key_id}' (keys: {known})")
            if match[0]["revoked"] is None:
                match[0]["revoked"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
                self._write(entries)
        return self._key(match[0])

    def check(self, secret: str) -> str | None:
        """The id of the live key `secret` is, else None (compared in constant time)."""
        if not secret.startswith(PREFIX):
            return None
        self._refresh()
        digest = _digest(secret)
        found = None
        for h, key_id in self._hashes.items():
            if hmac.compare_digest(h, digest):
                found = key_id
        return found

    def _refresh(self) -> None:
        try:
            st = self.path.stat()
            seen = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            seen = None
        if seen != self._seen or seen is None:
            self._hashes = {e["sha256"]: e["id"] for e in self._read() if e.get("revoked") is None}
            self._seen = seen

    @staticmethod
    def _key(e: dict) -> WriteKey:
        return WriteKey(e["id"], e.get("name", ""), e["prefix"], e["created"], e.get("revoked"))
