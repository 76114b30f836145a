"""Read a journey YAML file into a `Journey`, reporting every problem with its position."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

from journeymap.errors import SpecError, did_you_mean
from journeymap.spec._parts import read_benchmark, read_count, read_duration, read_owner, read_where
from journeymap.spec._reader import TEXT_FILE, Reader, combine, describe
from journeymap.spec._kpis import read_drivers, read_kpis, read_money
from journeymap.spec._signals import read_signals
from journeymap.spec._stages import read_stages
from journeymap.spec._yaml import MAX_JOURNEY_BYTES, LimitError, load_yaml, too_large_at
from journeymap.spec.model import MIN_VOLUME, Benchmark, Condition, Handoff, Journey, Persona

__all__ = ["as_journey", "load_journey", "parse_journey", "parse_where"]

TOP_KEYS = ("name", "inactivity", "min_volume", "stages", "handoffs", "personas", "benchmarks", "signals",
            "revenue", "churn", "help", "referral", "spend", "kpis", "drivers")
HANDOFF_KEYS = ("from", "to", "owner")
PERSONA_KEYS = ("id", "name", "where")
DEFAULT_INACTIVITY = 30 * 86400.0


def load_journey(source: str | os.PathLike) -> Journey:
    """Load a journey from a path, or from YAML text (a str containing a newline).

    Raises one SpecError whose `.problems` lists every problem found.

    >>> j = load_journey("name: shop\\nstages:\\n  - {id: visit, owner: web, enter: {event: visit}}\\n")
    >>> (j.name, j.stage_ids, j.stage("visit").owner.team)
    ('shop', ['visit'], 'web')
    >>> load_journey("name: shop\\nstages:\\n  - {id: visit, enter: {event: visit}}\\n")
    Traceback (most recent call last):
    journeymap.errors.SpecError: <journey>:3:5: stage 'visit' has no owner
    """
    text, file, path = _read_source(source)
    return parse_journey(text, path) if path else parse_journey(text)


def parse_journey(text: str, file: str | None = None) -> Journey:
    """A journey from YAML text already read (from `file`, named in errors and kept as
    `Journey.file`); the same checks as `load_journey`."""
    journey = _journey_from(text, file or TEXT_FILE, file)
    return replace(journey, benchmarks=dict(journey.benchmarks))  # its one mutable part: a copy


def as_journey(journey) -> Journey:
    """A Journey from a Journey, a path to a YAML file, or YAML text.

    >>> as_journey("name: s\\nstages:\\n  - {id: a, owner: t, enter: {event: a}}\\n").stage_ids
    ['a']
    """
    if isinstance(journey, Journey):
        return journey
    if isinstance(journey, str | os.PathLike):
        return load_journey(journey)
    raise TypeError(f"expected a Journey, a path or YAML text, not {type(journey).__name__}")


@lru_cache(maxsize=64)
def _journey_from(text: str, file: str, path: str | None) -> Journey:
    """Parsed once per text; errors are raised, never cached."""
    r = Reader(file)
    data = _parse_yaml(r, text) if _fits(r, text) else None
    journey = None if r.problems else _journey(r, data, path)
    if r.problems or journey is None:
        raise combine(r.problems)
    return journey


def parse_where(where: Mapping) -> tuple[Condition, ...]:
    """Conditions from a plain `{prop: value | {op: value}}` mapping, e.g. of a funnel step.

    Raises one SpecError listing every bad condition.
    """
    r = Reader(None)
    conditions = read_where(r, {"where": where}, "where", "the step")
    if r.problems:
        raise combine(r.problems)
    return conditions


def _read_source(source: str | os.PathLike) -> tuple[str, str, str | None]:
    """(text, file name for errors, path for Journey.file)."""
    if isinstance(source, str) and "\n" in source:
        return source, TEXT_FILE, None
    if not isinstance(source, str | os.PathLike):
        raise TypeError(f"load_journey() needs a path or YAML text, not {type(source).__name__}")
    path = os.fspath(source)
    try:  # one byte past the limit at most, so a huge file (or /dev/zero) is never read whole
        with Path(path).open("rb") as f:
            data = f.read(MAX_JOURNEY_BYTES + 1)
    except OSError as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise combine([SpecError(f"cannot read journey file: {reason}", file=path)]) from exc
    r = Reader(path)
    if not _fits(r, data):
        raise combine(r.problems)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        r.error(r.at(_position(data[: exc.start].decode("utf-8"))), "cannot read journey file: it is "
                f"not UTF-8 text (byte 0x{data[exc.start]:02x}: {exc.reason})")
        raise combine(r.problems) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n"), path, path  # newlines as read_text has them


def _fits(r: Reader, text: str | bytes) -> bool:
    """True if the text is within MAX_JOURNEY_BYTES; reported where it passes it otherwise."""
    at = too_large_at(text)
    if at is not None:
        r.error(r.at(at), f"the journey file is larger than {MAX_JOURNEY_BYTES / 2**20:g} MiB "
                "(the limit for a journey file) from here on")
    return at is None


def _position(before: str) -> tuple[int, int]:
    """The 0-based (line, column) just after `before`."""
    return before.count("\n"), len(before) - (before.rfind("\n") + 1)


def _parse_yaml(r: Reader, text: str) -> object:
    """The round-trip YAML tree, or None after reporting a syntax error or a refusal
    (a tag journeys cannot use, or a limit of `journeymap.spec._yaml` passed)."""
    try:
        return load_yaml(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = r.at((mark.line, mark.column) if mark else None)
        prefix = "" if isinstance(exc, LimitError) else "invalid YAML: "  # valid, but too much
        r.error(where, prefix + str(exc.problem or exc.context))
    except ReaderError as exc:  # a character YAML does not allow: say where it is
        where = r.at(_position(text[: exc.position] if isinstance(exc.position, int) else ""))
        r.error(where, f"invalid YAML: unacceptable character #x{exc.character:04x}: {exc.reason}"
                if isinstance(exc.character, int) else f"invalid YAML: {exc.reason}")
    except YAMLError as exc:
        r.error(r.at((0, 0)), f"invalid YAML: {exc}")
    except TypeError as exc:  # ruamel fails on a mapping key that holds a list
        r.error(r.at((0, 0)), f"invalid YAML: a mapping key must be a plain value ({exc})")
    return None


def _journey(r: Reader, data: object, path: str | None) -> Journey | None:
    """Build the Journey from the top-level mapping, checking every part."""
    if not isinstance(data, Mapping):
        where = r.node(data) if hasattr(data, "lc") else r.at((0, 0))
        r.error(where, "a journey file must be a mapping with 'name' and 'stages', "
                f"not {describe(data)}", data)
        return None
    r.check_keys(data, TOP_KEYS, "the journey")
    name = r.text(data, "name", "the journey", required=True)
    inactivity = read_duration(r, data, "inactivity", "the journey") or DEFAULT_INACTIVITY
    min_volume = read_count(r, data, "min_volume", "the journey", MIN_VOLUME)
    stages, order = read_stages(r, data)
    handoffs = _handoffs(r, data, order)
    personas = _personas(r, data)
    benchmarks = _benchmarks(r, data, order)
    signals = read_signals(r, data)
    money = read_money(r, data)
    kpis = read_kpis(r, data, order)
    drivers = read_drivers(r, data)
    if r.problems or name is None:
        return None
    return Journey(name, tuple(stages), tuple(handoffs), tuple(personas), benchmarks, inactivity, path,
                   min_volume, signals, kpis=kpis, drivers=drivers, **money)


def _items(r: Reader, data: Mapping, key: str) -> list[tuple[Mapping, int]]:
    """The (mapping, index) items of an optional list of mappings, reporting the rest."""
    seq = data.get(key)
    if seq is None or not r.is_list(seq, r.value(data, key), f"'{key}'"):
        return []
    out = []
    for i, item in enumerate(seq):
        if r.is_mapping(item, r.item(seq, i), f"each item of '{key}'"):
            out.append((item, i))
    return out


def _handoffs(r: Reader, data: Mapping, order: dict[str, int]) -> list[Handoff]:
    """The handoffs, each between known stages, forwards, and once only."""
    out, seen = [], {}
    for m, i in _items(r, data, "handoffs"):
        r.check_keys(m, HANDOFF_KEYS, f"handoff {i + 1}")
        ends = [_stage_ref(r, m, end, order, f"handoff {i + 1}") for end in ("from", "to")]
        what = f"handoff from '{ends[0]}' to '{ends[1]}'" if all(ends) else f"handoff {i + 1}"
        owner = read_owner(r, m, what)
        if not all(ends):
            continue
        a, b = ends
        if (a, b) in seen:
            r.error(r.node(m), f"duplicate {what} (first on line {seen[a, b]})", (a, b))
        elif a == b:
            r.error(r.node(m), f"{what} goes to itself — a handoff must lead to a later stage "
                    "(a loop is a cycle)", (a, b))
        elif order[a] > order[b]:
            r.error(r.node(m), f"{what} goes backwards — a handoff cannot go backwards "
                    f"(that is a cycle); '{a}' must come before '{b}'", (a, b))
        seen.setdefault((a, b), r.node(m).line)
        out.append(Handoff(a, b, owner, r.node(m)))
    return out


def _stage_ref(r: Reader, m: Mapping, key: str, order: dict[str, int], what: str) -> str | None:
    """A stage id named by a handoff end, or None after reporting it."""
    name = r.text(m, key, what, required=True)
    if name is not None and name not in order:
        r.error(r.value(m, key), f"{what} {key} unknown stage '{name}'" + did_you_mean(name, order), name)
        return None
    return name


def _personas(r: Reader, data: Mapping) -> list[Persona]:
    """The personas, with unique ids."""
    out, seen = [], {}
    for m, i in _items(r, data, "personas"):
        pid = r.text(m, "id", f"persona {i + 1}", required=True)
        what = f"persona '{pid}'" if pid else f"persona {i + 1}"
        r.check_keys(m, PERSONA_KEYS, what)
        name = r.text(m, "name", what)
        where = read_where(r, m, "where", what)
        if pid in seen:
            r.error(r.value(m, "id"), f"duplicate persona id '{pid}' (first on line {seen[pid]})", pid)
        elif pid is not None:
            seen[pid] = r.node(m).line
            out.append(Persona(pid, where, name, r.node(m)))
    return out


def _benchmarks(r: Reader, data: Mapping, order: dict[str, int]) -> dict[str, Benchmark]:
    """Journey-level benchmark overrides, keyed by known stage ids."""
    table = data.get("benchmarks")
    if table is None or not r.is_mapping(table, r.value(data, "benchmarks"), "'benchmarks'"):
        return {}
    out = {}
    for sid in table:
        if sid not in order:
            r.error(r.key(table, sid), f"benchmark for unknown stage '{sid}'" + did_you_mean(sid, order), sid)
            continue
        bench = read_benchmark(r, table, sid, f"stage '{sid}'")
        if bench is not None:
            out[str(sid)] = bench
    return out
