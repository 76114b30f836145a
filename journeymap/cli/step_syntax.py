"""Funnel steps and exclusions as written on the command line.

A step is an event name, alternatives joined by `|`, optional conditions in
brackets, and a trailing `?` for an optional step:

    signup                       the event signup
    'checkout|purchase'          either event
    'purchase[plan=pro]'         with a property condition
    'purchase[plan!=free,amount>=10]'   several conditions, all must hold
    'tour?'                      an optional step (not the first)

Operators: `=`, `!=`, `>`, `>=`, `<`, `<=`; a value that reads as a number is one
(`amount>=10`), anything else is text. An exclusion is `EVENT` (between the first
and the last step) or `EVENT:FROM-TO` with 1-based step numbers (`cancel:2-3`).

>>> parse_step("purchase[plan=pro,amount>=10]")
{'event': ['purchase'], 'where': {'plan': 'pro', 'amount': {'gte': 10}}}
>>> parse_step("signup")
'signup'
>>> parse_step("tour?")
{'event': ['tour'], 'optional': True}
>>> parse_exclusion("cancel:2-3", 3)
({'event': ['cancel']}, 1, 2)
"""

from __future__ import annotations

import re

import click

# longest operators first, so ">=" is not read as ">" followed by "=10"
_CONDITION = re.compile(r"^\s*([^=!<>\s][^=!<>]*?)\s*(!=|>=|<=|=|>|<)\s*(.*?)\s*$")
_OPS = {"=": None, "!=": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
_STEP = re.compile(r"^(?P<names>[^\[\]?]+)(?:\[(?P<where>[^\]]*)\])?(?P<optional>\?)?$")
_RANGE = re.compile(r"^(\d+)-(\d+)$")


def parse_step(text: str, param: str = "STEPS") -> str | dict:
    """A funnel step from its command-line form (see the module): a plain event name
    stays a name."""
    m = _STEP.match(text.strip())
    names = [n.strip() for n in m.group("names").split("|")] if m else []
    if not m or not all(names):
        raise click.BadParameter(
            f"cannot read step {text!r}: write EVENT, 'A|B', 'EVENT[prop=value]' or 'EVENT?'",
            param_hint=param)
    step: dict = {"event": names}
    if m.group("where") is not None:
        step["where"] = _where(m.group("where"), text, param)
    if m.group("optional"):
        step["optional"] = True
    return names[0] if list(step) == ["event"] and len(names) == 1 else step


def parse_exclusion(text: str, n_steps: int) -> tuple[dict, int, int]:
    """(step, from, to) with 0-based step indices, from `EVENT` or `EVENT:FROM-TO`."""
    event, _, span = text.rpartition(":") if _RANGE.match(text.rpartition(":")[2]) else (text, "", "")
    lo, hi = (1, n_steps) if not span else map(int, _RANGE.match(span).groups())
    if not 1 <= lo < hi <= n_steps:
        raise click.BadParameter(f"{text!r}: the steps must be FROM-TO with 1 <= FROM < TO <= "
                                 f"{n_steps} (the funnel has {n_steps} steps)", param_hint="--exclude")
    step = parse_step(event, "--exclude")
    step = {"event": [step]} if isinstance(step, str) else step
    if step.pop("optional", False):
        raise click.BadParameter(f"{text!r}: an exclusion cannot be optional", param_hint="--exclude")
    return step, lo - 1, hi - 1


def _where(text: str, step: str, param: str) -> dict:
    where: dict = {}
    for part in filter(str.strip, text.split(",")):
        m = _CONDITION.match(part)
        if not m or not m.group(3):
            raise click.BadParameter(f"cannot read condition {part.strip()!r} in step {step!r}: "
                                     "write prop=value, prop!=value, prop>=number…", param_hint=param)
        prop, op, value = m.group(1), _OPS[m.group(2)], _value(m.group(3))
        existing = where.get(prop)
        if op is None and existing is None:
            where[prop] = value
        else:  # several conditions on one property: all as {op: value}
            ops = existing if isinstance(existing, dict) else (
                {} if existing is None else {"eq": existing})
            where[prop] = {**ops, op or "eq": value}
    if not where:
        raise click.BadParameter(f"empty conditions in step {step!r}", param_hint=param)
    return where


def _value(text: str):
    """A number where the text reads as one, else the text (quotes stripped)."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
