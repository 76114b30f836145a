"""Hostile journey files: bad tags, alias bombs, deep nesting, huge or non-UTF-8 files.

Each must end in a located SpecError (`file:line:col: …`), never a raw exception, a
hang or exhausted memory. Whatever could exhaust memory if a guard regressed runs in
a subprocess with an address-space limit and a wall-clock timeout, so a regression
fails the test instead of taking the machine down.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from importlib import resources
from pathlib import Path

import pytest

from journeymap.errors import SpecError
from journeymap.spec import Journey, load_journey, parse_journey
from journeymap.spec._yaml import MAX_ALIASES, MAX_DEPTH, MAX_EXPANDED_NODES, MAX_JOURNEY_BYTES

ROOT = Path(__file__).resolve().parents[2]
DEMO = resources.files("journeymap.demo").joinpath("journey.yaml").read_text(encoding="utf-8")
BASE = "name: shop\nstages:\n  - {id: visit, owner: web, enter: {event: visit}}\n"
MEMORY_LIMIT = 1536 * 2**20  # 1.5 GiB of address space for the child
ALLOWED = "!!str, !!int, !!float, !!bool, !!null, !!timestamp, !!seq and !!map"


def only(text: str, file: str | None = None) -> tuple[int, int, str]:
    """(line, column, message) of the one problem the text has."""
    with pytest.raises(SpecError) as info:
        parse_journey(text, file)
    problems = info.value.problems
    assert len(problems) == 1, str(info.value)
    p = problems[0]
    assert str(info.value) == f"{p.file}:{p.line}:{p.column}: {p.message}"
    return p.line, p.column, p.message


def run_bounded(code: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter with MEMORY_LIMIT of address space; a test
    fails if it takes longer than `timeout` seconds."""
    prelude = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))
    """)
    try:
        return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code), *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"no answer within {timeout}s")


def bounded(code: str, *args: str, timeout: float = 30) -> dict:
    """`run_bounded`, where `code` prints one JSON object as its last line, returned here."""
    done = run_bounded(code, *args, timeout=timeout)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- tags --------------------------------------------------------------------------

BAD_VALUES = [  # (snippet after 'min_volume: ', message after 'invalid YAML: ')
    ("!!bool maybe", "cannot read 'maybe' as !!bool: expected true or false"),
    ("!!bool 1", "cannot read '1' as !!bool: expected true or false"),
    ("!!float x", "cannot read 'x' as !!float: expected a number such as 0.25"),
    ("!!int x", "cannot read 'x' as !!int: expected a whole number such as 30"),
    ("!!int 0x", "cannot read '0x' as !!int: expected a whole number such as 30"),
    ("!<tag:yaml.org,2002:int> x", "cannot read 'x' as !!int: expected a whole number such as 30"),
    ("!!timestamp x", "cannot read 'x' as !!timestamp: expected a date such as 2024-01-31 "
                      "or a time such as 2024-01-31T09:30:00Z"),
    ("!!timestamp 2024-13-45", "cannot read '2024-13-45' as !!timestamp: expected a date such as "
                               "2024-01-31 or a time such as 2024-01-31T09:30:00Z"),
    ("2024-02-30", "cannot read '2024-02-30' as !!timestamp: expected a date such as 2024-01-31 "
                   "or a time such as 2024-01-31T09:30:00Z"),
    ("!!null x", "cannot read 'x' as !!null: expected ~, null or nothing"),
    ("9" * 5000, "cannot read '" + "9" * 37 + "…' as !!int: expected a whole number of at most "
                 f"{sys.get_int_max_str_digits()} digits"),
]


@pytest.mark.parametrize("snippet, message", BAD_VALUES, ids=[s[:24] for s, _ in BAD_VALUES])
def test_a_value_that_does_not_parse_as_its_tag_is_located_and_named(snippet, message):
    assert only(BASE + f"min_volume: {snippet}\n") == (4, 13, "invalid YAML: " + message)


UNSUPPORTED = [  # (snippet, the tag as shown, what it is on)
    ("!foo bar", "!foo", "the value 'bar'"),
    ("!!python/object:os.system ls", "!!python/object:os.system", "the value 'ls'"),
    ("!!python/object/apply:os.system [echo hi]", "!!python/object/apply:os.system", "a list"),
    ("!!python/name:os.system ''", "!!python/name:os.system", "the value ''"),
    ("!!binary aGk=", "!!binary", "the value 'aGk='"),
    ("!!set {a, b}", "!!set", "a mapping"),
    ("!!omap [a: 1]", "!!omap", "a list"),
    ("!!merge x", "!!merge", "the value 'x'"),
    ("!foo {a: 1}", "!foo", "a mapping"),
    ("!<tag:example.com,2000:thing> x", "!<tag:example.com,2000:thing>", "the value 'x'"),
]


@pytest.mark.parametrize("snippet, tag, on", UNSUPPORTED, ids=[t for _, t, _ in UNSUPPORTED])
def test_a_tag_a_journey_cannot_use_is_refused_where_it_is_written(snippet, tag, on):
    # in a stage, so the column is not the first one a value can have
    text = BASE.replace("owner: web", f"owner: {snippet}")
    assert only(text) == (3, 24, f"invalid YAML: unsupported tag {tag} on {on} (a journey file "
                                 f"holds plain data; the tags it may use are {ALLOWED})")


def test_a_tag_from_a_tag_directive_is_shown_as_written():
    text = "%TAG !e! tag:example.com,2000:\n---\n" + BASE + "min_volume: !e!count 3\n"
    assert only(text)[:2] == (6, 13)
    assert "unsupported tag !e!count on the value '3'" in only(text)[2]


@pytest.mark.parametrize("snippet, message", [
    ("!!str {a: 1}", "tag !!str does not fit a mapping"),
    ("!!int [1]", "tag !!int does not fit a list"),
    ("!!map [1]", "tag !!map does not fit a list"),
    ("!!seq x", "tag !!seq does not fit the value 'x'"),
])
def test_a_standard_tag_on_the_wrong_kind_of_node_is_refused(snippet, message):
    assert only(BASE + f"min_volume: {snippet}\n") == (4, 13, "invalid YAML: " + message)


def test_standard_tags_that_fit_still_load():
    text = BASE.replace("id: visit", "id: !!str visit").replace("{event: visit}", "!!map {event: ! visit}")
    journey = parse_journey(text + "min_volume: !!int '50'\nbenchmarks: !!null ~\n")
    assert journey.stage_ids == ["visit"] and journey.stages[0].enter.events == ("visit",)
    assert journey.min_volume == 50


def test_a_bad_tag_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text(BASE + "min_volume: !!bool maybe\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_journey(path)
    assert str(info.value) == (f"{path}:4:13: invalid YAML: cannot read 'maybe' as !!bool: "
                               "expected true or false")


@pytest.mark.parametrize("snippet, message", [
    ("min_volume: !!bool maybe", "4:13: invalid YAML: cannot read 'maybe' as !!bool"),
    ("min_volume: !!python/object/apply:os.system [touch pwned]",
     "4:13: invalid YAML: unsupported tag !!python/object/apply:os.system on a list"),
])
def test_the_cli_prints_the_located_message_and_no_traceback(tmp_path, snippet, message):
    path = tmp_path / "bad.yml"
    path.write_text(BASE + snippet + "\n", encoding="utf-8")
    cli = Path(sys.executable).with_name("journeymap")
    done = subprocess.run([str(cli), "validate", str(path)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.startswith(f"error: {path}:{message}"), done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "pwned").exists()


# -- aliases -----------------------------------------------------------------------

def laughs(levels: int = 9, width: int = 10) -> str:
    """The 'billion laughs' journey: each anchor a list of `width` aliases of the one before."""
    lines = ["  a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "name: lol\nlols:\n" + "\n".join(lines) + f"\nstages: *a{levels - 1}\n"


def test_billion_laughs_is_refused_quickly_within_bounded_memory():
    text = laughs()
    got = bounded(f"""
        import json, time
        from journeymap.errors import SpecError
        from journeymap.spec import parse_journey
        start = time.perf_counter()
        try:
            parse_journey({text!r})
            out = {{"error": None}}
        except SpecError as exc:
            out = {{"error": str(exc), "problems": len(exc.problems)}}
        out["seconds"] = time.perf_counter() - start
        print(json.dumps(out))
    """)
    # a0 holds 11 values, a1 111, a2 1,111, a3 11,111; with the 12,355 values before them,
    # the 8th *a3 of a4 passes 100,000
    assert MAX_EXPANDED_NODES == 100_000
    col = len("  a4: &a4 [") + len("*a3, ") * 7 + 1
    assert got["error"] == (f"<journey>:7:{col}: alias *a3 expands the data past 100,000 values (the "
                            "limit for a journey file; anchors that repeat anchors grow exponentially)")
    assert got["problems"] == 1
    assert got["seconds"] < 5


def test_billion_laughs_of_mappings_in_a_file_is_refused(tmp_path):
    lines = ["x0: &x0 {" + ", ".join(f"k{j}: lol" for j in range(10)) + "}"]
    lines += [f"x{i}: &x{i} {{" + ", ".join(f"k{j}: *x{i - 1}" for j in range(10)) + "}" for i in range(1, 9)]
    path = tmp_path / "lol.yml"
    path.write_text("name: lol\n" + "\n".join(lines) + "\nstages: [*x8]\n", encoding="utf-8")
    got = bounded(f"""
        import json
        from journeymap.errors import SpecError
        from journeymap.spec import load_journey
        try:
            load_journey({str(path)!r})
            print(json.dumps({{"error": None}}))
        except SpecError as exc:
            print(json.dumps({{"error": str(exc)}}))
    """)
    assert got["error"].startswith(f"{path}:6:")  # x0 has 21 values, x4 passes 100,000
    assert "alias *x3 expands the data past 100,000 values" in got["error"]


def test_one_big_anchor_repeated_is_refused():
    big = "  big: &big [" + ", ".join(["x"] * 5000) + "]\n"
    refs = "  refs: [" + ", ".join(["*big"] * 25) + "]\n"
    line, col, message = only("name: shop\nbulk:\n" + big + refs + BASE.removeprefix("name: shop\n"))
    assert (line, col) == (4, len("  refs: [") + len("*big, ") * 18 + 1)  # 5,009 + 19 x 5,001 > 100,000
    assert message.startswith("alias *big expands the data past 100,000 values")


def test_too_many_aliases_are_refused_even_if_small():
    refs = "  refs: [" + ", ".join(["*w"] * (MAX_ALIASES + 1)) + "]\n"
    line, col, message = only("name: shop\nbulk:\n  w: &w web\n" + refs + BASE.removeprefix("name: shop\n"))
    assert (line, col, message) == (4, len("  refs: [") + len("*w, ") * MAX_ALIASES + 1,
                                    f"more than {MAX_ALIASES} aliases (the limit for a journey file)")


def test_a_recursive_alias_is_refused():
    assert only(BASE + "personas: &p [{id: a, where: {x: *p}}]\n") == (
        4, 34, "invalid YAML: alias *p refers to the node that contains it (a recursive structure)")


def test_an_undefined_alias_is_located():
    assert only(BASE + "personas: *nope\n") == (4, 11, "invalid YAML: found undefined alias 'nope'")


def test_anchors_and_aliases_used_a_few_times_still_work():
    text = textwrap.dedent("""\
        name: shop
        stages:
          - {id: visit, owner: &web web, enter: {event: visit}}
          - &paid {id: buy, owner: *web, enter: {event: buy}, within: &w 14d}
          - {<<: *paid, id: use, enter: {event: use, where: &pro {plan: pro}}}
          - {id: love, owner: *web, enter: {event: love, where: *pro}, within: *w}
        personas:
          - {id: pro, where: *pro}
    """)
    journey = parse_journey(text)
    assert journey.stage_ids == ["visit", "buy", "use", "love"]
    assert [s.owner.responsible for s in journey.stages] == ["web"] * 4
    assert [s.within for s in journey.stages] == [None, 14 * 86400.0, 14 * 86400.0, 14 * 86400.0]
    assert [(c.prop, c.value) for c in journey.stage("love").enter.where] == [("plan", "pro")]
    assert [(c.prop, c.value) for c in journey.personas[0].where] == [("plan", "pro")]


def test_the_limits_leave_room_for_real_sharing():
    """Sixty stages sharing an owner, a duration and a condition: 177 aliases."""
    stages = ["  - {id: s0, owner: &o team, enter: {event: e0, where: &c {plan: pro}}}",
              "  - {id: s1, owner: *o, enter: {event: e1, where: *c}, within: &w 7d}"]
    stages += [f"  - {{id: s{i}, owner: *o, enter: {{event: e{i}, where: *c}}, within: *w}}"
               for i in range(2, 60)]
    journey = parse_journey("name: big\nstages:\n" + "\n".join(stages) + "\n")
    assert len(journey.stages) == 60 and {s.owner.responsible for s in journey.stages} == {"team"}


# -- size and nesting --------------------------------------------------------------

def _hashes(size: int, pad: str) -> int:
    """How many '#' open the padding comment, so that whole `pad`s fill the rest exactly."""
    room = size - len(DEMO.encode("utf-8")) - len("#\n")
    return 1 + room % len(pad.encode("utf-8"))


def padded(size: int, pad: str = "#") -> str:
    """The demo journey with a comment line making it exactly `size` bytes of UTF-8."""
    hashes = _hashes(size, pad)
    room = size - len(DEMO.encode("utf-8")) - hashes - len("\n")
    return DEMO + "#" * hashes + pad * (room // len(pad.encode("utf-8"))) + "\n"


def test_a_journey_of_exactly_the_limit_loads():
    assert MAX_JOURNEY_BYTES == 2**20
    text = padded(MAX_JOURNEY_BYTES)
    assert len(text.encode("utf-8")) == MAX_JOURNEY_BYTES
    assert parse_journey(text).name == "Tempo self-serve SaaS"


def test_a_journey_one_byte_over_the_limit_is_refused_where_it_passes_it():
    text = padded(MAX_JOURNEY_BYTES + 1)
    line = DEMO.count("\n") + 1
    col = MAX_JOURNEY_BYTES - len(DEMO.encode("utf-8")) + 1
    assert only(text) == (line, col, "the journey file is larger than 1 MiB (the limit for a journey "
                                     "file) from here on")


def test_the_limit_counts_bytes_not_characters(tmp_path):
    text = padded(MAX_JOURNEY_BYTES + 2, pad="é")  # fewer characters than the limit, more bytes
    assert len(text) < MAX_JOURNEY_BYTES
    line, col, _ = only(text)
    hashes = _hashes(MAX_JOURNEY_BYTES + 2, "é")
    whole = (MAX_JOURNEY_BYTES - len(DEMO.encode("utf-8")) - hashes) // 2  # the é that fit after the '#'s
    assert (line, col) == (DEMO.count("\n") + 1, hashes + whole + 1)
    path = tmp_path / "big.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_journey(path)
    assert str(info.value) == f"{path}:{line}:{col}: the journey file is larger than 1 MiB (the limit " \
                              "for a journey file) from here on"


def test_an_endless_file_is_not_read_whole():
    got = bounded("""
        import json
        from journeymap.errors import SpecError
        from journeymap.spec import load_journey
        try:
            load_journey("/dev/zero")
            print(json.dumps({"error": None}))
        except SpecError as exc:
            print(json.dumps({"error": str(exc)}))
    """)
    assert got["error"] == ("/dev/zero:1:1048577: the journey file is larger than 1 MiB (the limit for "
                            "a journey file) from here on")


@pytest.mark.parametrize("nest", [
    lambda d: "personas: " + "[" * d + "]" * d,
    lambda d: "personas: [{id: a, where: " + "{a: " * (d - 3) + "1" + "}" * (d - 3) + "}]",
    lambda d: "personas:\n" + "".join(" " * i + "-\n" for i in range(1, d)),
], ids=["flow lists", "flow mappings", "block lists"])
def test_nesting_is_limited(nest):
    depth = MAX_DEPTH  # levels count every node: the document's mapping is the first, a scalar one too
    with pytest.raises(SpecError) as fits:
        parse_journey(BASE + nest(depth - 1) + "\n")
    assert "nest deeper" not in str(fits.value)
    line, col, message = only(BASE + nest(depth) + "\n")
    assert line >= 4 and col > 1
    assert message == f"the data nest deeper than {MAX_DEPTH} levels (the limit for a journey file)"
    only(BASE + nest(50 * depth) + "\n")  # far deeper: the same refusal, no RecursionError


# -- bytes and characters ----------------------------------------------------------

def test_a_file_that_is_not_utf8_is_located(tmp_path):
    path = tmp_path / "latin1.yml"
    path.write_bytes(BASE.encode() + "name_x: café\n".encode("latin-1"))
    with pytest.raises(SpecError) as info:
        load_journey(path)
    assert str(info.value) == (f"{path}:4:12: cannot read journey file: it is not UTF-8 text "
                               "(byte 0xe9: invalid continuation byte)")


@pytest.mark.parametrize("char, col", [("\x00", 14), ("\ud800", 14), ("\x07", 14)])
def test_a_character_yaml_forbids_is_located(char, col):
    assert only(BASE + f"min_volume: 3{char}\n") == (
        4, col, f"invalid YAML: unacceptable character #x{ord(char):04x}: special characters are not allowed")


# -- generated and mutated journeys --------------------------------------------------

FUZZ = r'''
import os, sys, tempfile
from importlib import resources

from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from journeymap.errors import JourneyError, SpecError
from journeymap.spec import Journey, load_journey, parse_journey

DEMO = resources.files("journeymap.demo").joinpath("journey.yaml").read_text(encoding="utf-8")
LINES = DEMO.splitlines()
TAGS = ["!!bool", "!!int", "!!float", "!!timestamp", "!!null", "!!str", "!!map", "!!seq", "!!set",
        "!!binary", "!!omap", "!!merge", "!!python/object:os.system", "!!python/object/apply:os.system",
        "!foo", "!", "!<tag:yaml.org,2002:int>", "!e!x"]
VALUES = ["maybe", "x", "0x", "1e9999", "-.inf", ".nan", "9" * 5000, "2024-13-45", "2024-01-31", "''",
          "[1, 2]", "{a: 1}", "~", "yes", "0o17", "1_000", "0b", "+", "-"]
SNIPPETS = ["&a", "*a", "&a [*a]", "<<: *a", "<<: [*a, *a]", "? [a]", "? {a: 1}", "- ", ": ", "---", "...",
            "%YAML 1.1", "%YAML 2.0", "%TAG !e! tag:e.com,2000:", "{", "}", "[", "]", "|", ">-", "'", '"',
            '"\\x"', '"\\u00"', "\t", "\t- x", "  ", "#", "@", "`", "!", "&", "*", "&a &b x", "*undefined",
            "{a: 1, a: 2}", "[" * 200 + "]" * 200, "{a: " * 200 + "1" + "}" * 200, "\ufeff", "\x85",
            "\u2028", "\x00", "\ud800", "\x1b", "owner: {}", "where: {x: {in: {}}}", "within: -1d",
            "benchmark: {low: 1e400, high: nan}", "target: 99999999999999999999999", "enter: []",
            "id: " + "x" * 10000, "stages: *a", "stages: !!seq [*a]"]

CHARS = st.one_of(st.sampled_from(list("\t :-#&*!'\"{}[]|>?%@`,\\") + ["\x85", "\ufeff", "\u2028", "\x00",
                                                                    "\ud800", "\x1b", "\r"]),
                  st.text(min_size=1, max_size=4))


def laughs(levels, width):
    lines = ["lols:", "  l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels)]
    return lines


snippet = st.one_of(
    st.sampled_from(SNIPPETS),
    st.builds(lambda t, v: f"{t} {v}", st.sampled_from(TAGS), st.sampled_from(VALUES)),
    st.builds(lambda k, v: f"{k}: {v}", st.sampled_from(["name", "min_volume", "inactivity", "x", "<<"]),
              st.sampled_from(VALUES)),
    st.integers(min_value=-10**60, max_value=10**60).map(str),
    st.text(max_size=12),
)
hostile = st.one_of(  # one value in a journey that is otherwise well formed
    st.builds(lambda t, v: f"{t} {v}", st.sampled_from(TAGS), st.sampled_from(VALUES)),
    st.sampled_from(VALUES),
    st.sampled_from(["*a", "&a x", "&a [*a]", "*l0", "*l8", "*undefined", "&a {<<: *a}", "[*a, *a]"]),
    st.integers(min_value=-10**60, max_value=10**60).map(str),
    snippet,
)


@st.composite
def generated(draw):
    """A journey built from scratch (stages, personas, benchmarks), a few values hostile."""
    rate = draw(st.sampled_from([0, 0.05, 0.2, 0.5]))

    def value(default):
        return draw(hostile) if draw(st.floats(0, 1)) < rate else default

    lines = laughs(draw(st.integers(1, 9)), draw(st.integers(1, 10))) if draw(st.booleans()) else []
    lines += [f"name: {value('shop')}", f"inactivity: {value('30d')}", f"min_volume: {value(30)}", "stages:"]
    n = draw(st.integers(1, 6))
    for i in range(n):
        lines += [f"  - id: {value(f's{i}')}", f"    owner: {value('&a team' if i == 0 else '*a')}",
                  f"    enter: {{event: {value(f'e{i}')}, where: {{plan: {value('pro')}}}}}"]
        if i:
            lines += [f"    within: {value('14d')}",
                      f"    benchmark: {{low: {value(0.1)}, high: {value(0.5)}}}"]
    lines += ["personas:", f"  - {{id: p, where: {{size: {{gte: {value(2)}}}}}}}",
              "benchmarks:", f"  s0: {{low: {value(0.2)}, high: {value(0.4)}}}"]
    return lines


@st.composite
def mutated(draw):
    """The demo journey or a generated one, with a few lines deleted, copied, swapped,
    indented oddly or changed, snippets inserted, or a billion-laughs block added."""
    lines = list(LINES) if draw(st.booleans()) else draw(generated())
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3, 5]))):
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "value", "value", "indent",
                                   "chars", "laughs"]))
        if not lines:
            lines.append(draw(snippet))
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "insert":
            lines.insert(i, draw(st.sampled_from(["", " ", "  ", "    ", "\t", "  - "])) + draw(snippet))
        elif op == "value":
            head, sep, _ = lines[i].partition(": ")
            lines[i] = head + (sep or ": ") + draw(hostile)
        elif op == "indent":
            lines[i] = draw(st.sampled_from(["", " ", "   ", "\t", "\t "])) + lines[i].lstrip()
        elif op == "chars":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(CHARS) + lines[i][at:]
        else:
            levels, width = draw(st.integers(1, 9)), draw(st.integers(1, 10))
            lines[0:0] = laughs(levels, width)
            lines.append(f"stages{draw(st.sampled_from(['', '_x']))}: *l{levels - 1}")
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n", "\n\n"]))


def check(result, file):
    """A Journey, or a SpecError whose every problem is located in the file."""
    if isinstance(result, Journey):
        assert isinstance(result.name, str) and result.stages, result
        return
    assert isinstance(result, JourneyError), repr(result)
    assert isinstance(result, SpecError) and result.problems, repr(result)
    for p in result.problems:
        assert p.file == file and p.line is not None and p.line >= 1, (str(p), file)
        assert str(p).startswith(f"{file}:{p.line}:"), str(p)


def attempt(call):
    try:
        return call()
    except JourneyError as exc:
        return exc


EXAMPLES, SHRINK = int(sys.argv[1]), sys.argv[2] == "shrink"


@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck),
          phases=tuple(Phase) if SHRINK else (Phase.explicit, Phase.generate))
@given(text=mutated(), as_file=st.booleans(), garbage=st.sampled_from(
    [b""] * 5 + [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xfe\xff", b"\x80abc", b"\xf4\x90\x80\x80"]),
    at=st.floats(0, 1))
def fuzz(text, as_file, garbage, at):
    if not as_file:
        check(attempt(lambda: parse_journey(text)), "<journey>")
        return
    data = text.encode("utf-8", "surrogatepass")  # lone surrogates become bytes UTF-8 refuses
    cut = int(len(data) * at)
    data = data[:cut] + garbage + data[cut:]
    fd, path = tempfile.mkstemp(suffix=".yml")
    try:
        os.write(fd, data)
        os.close(fd)
        check(attempt(lambda: load_journey(path)), path)
    finally:
        os.unlink(path)


fuzz()
print('{"ok": true}')
'''


def test_mutated_journeys_only_ever_load_or_raise_located_spec_errors():
    assert bounded(FUZZ, "200", "shrink", timeout=45) == {"ok": True}


def test_the_fuzz_harness_catches_the_unhardened_loader():
    """The harness is strict: with ruamel's plain round-trip loader in place of the
    hardened one (what load.py used before), the raw constructor errors surface."""
    plain = textwrap.dedent("""\
        import journeymap.spec.load
        from ruamel.yaml import YAML
        journeymap.spec.load.load_yaml = lambda text: YAML(typ="rt").load(text)
    """)
    done = run_bounded(plain + FUZZ, "200", "no-shrink", timeout=45)
    assert done.returncode != 0, done.stdout[-2000:]
    assert re.search(r"^(KeyError|ValueError|IndexError|RecursionError|MemoryError)\b", done.stderr, re.M), \
        done.stderr[-2000:]


def test_the_demo_journey_loads():
    assert isinstance(parse_journey(DEMO), Journey)
