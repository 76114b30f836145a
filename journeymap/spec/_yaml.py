"""The YAML loader for journey files, hardened against hostile input.

A journey file is plain data: mappings, lists and scalars. This loader is ruamel's
round-trip loader (positions kept for error messages) with these guards, each
raising a ruamel `MarkedYAMLError` that carries the line and column:

- only the standard tags a journey can use (`!!str`, `!!int`, `!!float`, `!!bool`,
  `!!null`, `!!timestamp`, `!!seq`, `!!map`), each on the kind of node it fits;
  any other tag (`!foo`, `!!python/object:…`, `!!binary`, `!!set`) is refused;
- a tagged or implicit scalar that does not parse as its type (`!!bool maybe`,
  `!!int x`, a 10,000-digit number, `2024-13-45`) is an error naming the tag and
  the value, never a bare `ValueError` / `KeyError` from the constructor;
- the limits below on size, nesting, alias references and the size of the data
  once every alias is expanded ("billion laughs"); an alias may not refer to the
  node that contains it.
"""

from __future__ import annotations

import sys

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent, MappingStartEvent, ScalarEvent, SequenceStartEvent
from ruamel.yaml.nodes import ScalarNode

__all__ = [
    "MAX_JOURNEY_BYTES", "MAX_DEPTH", "MAX_ALIASES", "MAX_EXPANDED_NODES",
    "LimitError", "load_yaml", "too_large_at",
]

MAX_JOURNEY_BYTES = 1 << 20
"""Largest journey file read, in bytes of UTF-8: 1 MiB. A real journey (the demo's has
eight stages) is a few kilobytes; this bounds the memory and time of one parse."""

MAX_DEPTH = 100
"""Deepest nesting of mappings and lists. A journey nests about seven levels
(stages > stage > enter > where > property > operator > list); deeper input would
only exhaust Python's stack."""

MAX_ALIASES = 1_000
"""Most alias references (`*name`) in one file: enough to share an owner or a
condition across hundreds of stages."""

MAX_EXPANDED_NODES = 100_000
"""Most values (scalars, mappings, lists) in one file counted as if every alias were
copied out in full: "billion laughs" (anchors of ten aliases of the anchor before,
nine levels deep) comes to 10^9 and is refused at the fifth level, while a real
journey has a few hundred."""

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(_CORE + t for t in ("str", "int", "float", "bool", "null", "timestamp"))
_TAGS = {ScalarEvent: _SCALAR_TAGS, SequenceStartEvent: {_CORE + "seq"}, MappingStartEvent: {_CORE + "map"}}
_KIND = {ScalarEvent: "a single value", SequenceStartEvent: "a list", MappingStartEvent: "a mapping"}
_ALLOWED = "!!str, !!int, !!float, !!bool, !!null, !!timestamp, !!seq and !!map"
_NULLS = ("", "~", "null", "Null", "NULL")
_EXPECTED = {
    "bool": "true or false",
    "int": "a whole number such as 30",
    "float": "a number such as 0.25",
    "null": "~, null or nothing",
    "timestamp": "a date such as 2024-01-31 or a time such as 2024-01-31T09:30:00Z",
}


class LimitError(MarkedYAMLError):
    """Valid YAML refused because it passes one of the limits above."""


def load_yaml(text: str) -> object:
    """The round-trip tree of one YAML document, within the limits above.

    Raises ruamel's `YAMLError` (a `MarkedYAMLError`, with its position, for every
    guard here); the caller checks `MAX_JOURNEY_BYTES` first (`too_large_at`).
    """
    yaml = YAML(typ="rt")
    yaml.Composer = _Composer
    yaml.Constructor = _Constructor
    return yaml.load(text)


def too_large_at(text: str | bytes) -> tuple[int, int] | None:
    """The 0-based (line, column) where `text` passes `MAX_JOURNEY_BYTES`, or None.

    >>> too_large_at("a: 1\\n") is None
    True
    >>> too_large_at("a: 1\\n" + "é" * MAX_JOURNEY_BYTES)
    (1, 524285)
    """
    head = text if isinstance(text, bytes) else text[: MAX_JOURNEY_BYTES + 1].encode("utf-8", "surrogatepass")
    if len(head) <= MAX_JOURNEY_BYTES:
        return None
    fits = head[:MAX_JOURNEY_BYTES].decode("utf-8", "ignore")
    return fits.count("\n"), len(fits) - (fits.rfind("\n") + 1)


class _Composer(Composer):
    """Checks tags, nesting and aliases while the node tree is built.

    Counts every node as it is composed, and each alias as the size of the node it
    names, so `_sizes[node]` is a node's size with its aliases expanded and
    `_expanded` the size of the document so far.
    """

    def __init__(self, loader=None):
        super().__init__(loader)
        self._aliases = 0
        self._expanded = 0
        self._sizes: dict[object, int] = {}

    def compose_node(self, parent, index):
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            return self._alias(event)
        if self.depth >= MAX_DEPTH:
            raise LimitError(None, None, f"the data nest deeper than {MAX_DEPTH} levels "
                             "(the limit for a journey file)", event.start_mark)
        _check_tag(event)
        anchor = getattr(event, "anchor", None)
        if anchor is not None and anchor in self.anchors:  # ruamel only warns: an alias would be ambiguous
            raise ComposerError(None, None, f"anchor &{anchor} is defined twice (first at line "
                                f"{self.anchors[anchor].start_mark.line + 1})", event.start_mark)
        start = self._expanded
        self._expanded += 1
        node = super().compose_node(parent, index)
        self._sizes[node] = self._expanded - start
        return node

    def _alias(self, event):
        """The node an alias names, once it is known not to blow the limits."""
        target = self.anchors.get(event.anchor)
        self._aliases += 1
        if target is not None and target not in self._sizes:
            raise ComposerError(None, None, f"alias *{event.anchor} refers to the node that "
                                "contains it (a recursive structure)", event.start_mark)
        if self._aliases > MAX_ALIASES:
            raise LimitError(None, None, f"more than {MAX_ALIASES} aliases (the limit for a "
                             "journey file)", event.start_mark)
        self._expanded += self._sizes.get(target, 0)
        if self._expanded > MAX_EXPANDED_NODES:
            raise LimitError(None, None, f"alias *{event.anchor} expands the data past "
                             f"{MAX_EXPANDED_NODES:,} values (the limit for a journey file; "
                             "anchors that repeat anchors grow exponentially)", event.start_mark)
        return super().compose_node(None, None)  # undefined aliases: ruamel's own error


def _check_tag(event) -> None:
    """Refuse an explicit tag a journey cannot use, or one on the wrong kind of node."""
    tag = event.ctag
    if tag is None or str(tag) == "!":  # untagged, or '!' (a plain string)
        return
    kind = next(k for k in _TAGS if isinstance(event, k))
    if str(tag) in _TAGS[kind]:
        return
    shown = _show_tag(tag)
    on = f"the value {_show(event.value)}" if kind is ScalarEvent else _KIND[kind]
    if any(str(tag) in allowed for allowed in _TAGS.values()):
        raise ConstructorError(None, None, f"tag {shown} does not fit {on}", event.start_mark)
    raise ConstructorError(None, None, f"unsupported tag {shown} on {on} (a journey file "
                           f"holds plain data; the tags it may use are {_ALLOWED})", event.start_mark)


class _Constructor(RoundTripConstructor):
    """Round-trip construction where a scalar that does not parse as its tag says so."""

    def construct_non_recursive_object(self, node, tag=None):
        if not isinstance(node, ScalarNode):
            return super().construct_non_recursive_object(node, tag)
        name = str(tag or node.tag)
        try:
            data = super().construct_non_recursive_object(node, tag)
        except (ConstructorError, ValueError, KeyError, IndexError, TypeError, OverflowError) as exc:
            raise ConstructorError(None, None, _cannot_read(node.value, name), node.start_mark) from exc
        if name == _CORE + "null" and node.value not in _NULLS:
            raise ConstructorError(None, None, _cannot_read(node.value, name), node.start_mark)
        return data

    def construct_yaml_str(self, node):
        """`!!str x` as the string 'x' (ruamel's round trip would keep it a TaggedScalar)."""
        return self.construct_scalar(node)


_Constructor.add_constructor(_CORE + "str", _Constructor.construct_yaml_str)


def _cannot_read(value: str, tag: str) -> str:
    short = tag.removeprefix(_CORE)
    expected = _EXPECTED.get(short)
    if short == "int" and sum(c.isdigit() for c in value) > sys.get_int_max_str_digits() > 0:
        expected = f"a whole number of at most {sys.get_int_max_str_digits()} digits"
    return f"cannot read {_show(value)} as {_show_tag(tag)}" + (f": expected {expected}" if expected else "")


def _show_tag(tag) -> str:
    """A tag as a user writes it: `!!int`, `!foo`, `!e!thing`, `!<tag:example.com:x>`."""
    full = str(tag)
    if full.startswith(_CORE):
        return "!!" + full.removeprefix(_CORE)
    handle = getattr(tag, "handle", None)
    if handle:
        return f"{handle}{tag.suffix}"
    return full if full.startswith("!") else f"!<{full}>"


def _show(value: object, limit: int = 40) -> str:
    """A scalar's text, quoted and cut short."""
    text = repr(str(value))
    return text if len(text) <= limit else text[: limit - 2] + "…" + text[0]
