"""Shared plumbing for reading a journey file: node positions and collected problems."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from journeymap.errors import JourneyError, SpecError, did_you_mean
from journeymap.spec.model import Location

TEXT_FILE = "<journey>"


def combine(problems: Sequence[JourneyError]) -> SpecError:
    """One SpecError listing every problem, one `file:line:col: message` per line."""
    ordered = sorted(problems, key=lambda p: (p.file or "", p.line or 0, p.column or 0))
    return SpecError("\n".join(str(p) for p in ordered), problems=list(ordered))


class Reader:
    """Collects problems while turning YAML nodes into model values."""

    def __init__(self, file: str | None):
        self.file = file
        self.problems: list[SpecError] = []

    # -- positions ---------------------------------------------------------
    def at(self, pos: tuple[int, int] | None) -> Location:
        """A Location from a 0-based (line, column) pair."""
        if pos is None:
            return Location(self.file)
        return Location(self.file, pos[0] + 1, pos[1] + 1)

    def node(self, node: object) -> Location:
        """Where a mapping or sequence starts (just the file when it has no position)."""
        lc = getattr(node, "lc", None)
        return self.at((lc.line, lc.col) if lc is not None and lc.line is not None else None)

    def key(self, mapping: object, key: object) -> Location:
        """Where a key of a mapping is written."""
        return self.at(_pos(mapping, "key", key))

    def value(self, mapping: Mapping, key: object) -> Location:
        """Where the value of a key is written (the key itself when the value is empty)."""
        if mapping.get(key) is None:
            return self.key(mapping, key)
        return self.at(_pos(mapping, "value", key))

    def item(self, seq: object, index: int) -> Location:
        """Where the index-th item of a sequence is written."""
        return self.at(_pos(seq, "item", index))

    # -- problems ----------------------------------------------------------
    def error(self, loc: Location, message: str, value: object = None) -> None:
        """Record one problem at a location."""
        self.problems.append(SpecError(message, value=value, **loc.as_kwargs()))

    def check_keys(self, mapping: Mapping, allowed: Iterable[str], what: str) -> None:
        """Report every key not in `allowed`, with the closest allowed key."""
        allowed = list(allowed)
        for k in mapping:
            if k not in allowed:
                self.error(self.key(mapping, k), f"unknown key '{k}' in {what}" + did_you_mean(k, allowed), k)

    def is_mapping(self, value: object, loc: Location, what: str) -> bool:
        """True if value is a mapping; report it otherwise."""
        if isinstance(value, Mapping):
            return True
        self.error(loc, f"{what} must be a mapping, not {describe(value)}", value)
        return False

    def is_list(self, value: object, loc: Location, what: str) -> bool:
        """True if value is a list; report it otherwise."""
        if isinstance(value, list):
            return True
        self.error(loc, f"{what} must be a list, not {describe(value)}", value)
        return False

    def text(self, mapping: Mapping, key: str, what: str, *, required: bool = False) -> str | None:
        """A non-empty string value, or None (reported if required or of the wrong type)."""
        value = mapping.get(key)
        if value is None:
            if required:
                self.error(self.node(mapping), f"{what} has no '{key}'")
            return None
        if isinstance(value, str) and value.strip():
            return str(value)
        self.error(self.value(mapping, key),
                   f"'{key}' of {what} must be a non-empty string, not {describe(value)}", value)
        return None

    def texts(self, mapping: Mapping, key: str, what: str) -> tuple[str, ...]:
        """A string or a list of strings, as a tuple (empty when absent or wrong)."""
        value = mapping.get(key)
        if value is None:
            return ()
        items = [value] if isinstance(value, str) else value
        if isinstance(items, list) and all(isinstance(v, str) and v.strip() for v in items):
            return tuple(str(v) for v in items)
        self.error(self.value(mapping, key),
                   f"'{key}' of {what} must be a string or a list of strings, not {describe(value)}", value)
        return ()


def describe(value: object) -> str:
    """A short phrase for a YAML value, for error messages."""
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list):
        return _short(repr([_scalar(v) for v in value])) if value else "an empty list"
    if hasattr(value, "isoformat"):
        return f"the date {value.isoformat()}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"'{value}'" if value.strip() else "an empty string"
    return repr(value)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scalar(value: object) -> object:
    """A YAML item as a plain value for display."""
    if isinstance(value, Mapping):
        return {}
    if isinstance(value, list):
        return [_scalar(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    for kind in (int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def _pos(node: object, kind: str, arg: object) -> tuple[int, int] | None:
    """ruamel's 0-based position of a key, value or item, if it recorded one."""
    lc = getattr(node, "lc", None)
    try:
        return tuple(getattr(lc, kind)(arg)) if lc is not None else None
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
