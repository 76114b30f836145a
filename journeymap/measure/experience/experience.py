"""Experience per stage: survey answers and tickets, attributed to the stage each
customer was in when they happened.

Attribution: an answer or ticket belongs to the last stage its customer had entered
at or before its time, by the map's stage engine and tie rules (so an answer at the
very instant of an entry belongs to the stage entered). Answers before a customer's
first stage (or from customers who never entered it) form the bucket "(before the
journey)"; answers after entering a bad-outcome stage, "(after churn)".

Per stage: NPS, CSAT and CES with 95% intervals, answers, respondents and the
response rate (respondents / customers who entered the stage); tickets per 100
customers who entered the stage, by channel and topic, and the median hours to
resolve; the most distinctive comment terms (see `scores`). With a period, the
same per entry cohort of each stage (the answers of the customers who entered
the stage in that week or month). Bad values (scores
that are not numbers, not whole numbers or outside the scale; negative or
unreadable resolution times) are left out of the numbers and reported, counted
with an example, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeymap._deferred import pd
from journeymap.measure._feed.users import positions_of_rows
from journeymap.measure.experience.scores import ces, csat, distinctive_terms, nps
from journeymap.results import clean
from journeymap.spec.model import Journey, Survey
from journeymap.store.frames import booleans, floats, from_numbers, from_strings, numbers

BEFORE, AFTER_CHURN = "(before the journey)", "(after churn)"
SCORERS = {"nps": nps, "csat": csat, "ces": ces}


@dataclass(frozen=True)
class StageExperience:
    """How one stage (or bucket) feels, for one group of customers."""

    stage: str
    customers: int | None  # who entered the stage (None for a bucket)
    surveys: dict[str, dict]  # kind -> its statistic, n, respondents, response_rate
    tickets: dict | None
    terms: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return clean({"stage": self.stage, "customers": self.customers, **self.surveys,
                      "tickets": self.tickets, "terms": self.terms})

    def row(self) -> dict:
        """One flat table row: each survey's value and interval, tickets per 100."""
        out = {"stage": self.stage, "customers": self.customers}
        for kind, s in self.surveys.items():
            out[kind] = s.get(kind)
            out[f"{kind}_ci"] = s.get(f"{kind}_ci")
            out[f"{kind}_answers"] = s.get("n")
            out[f"{kind}_response_rate"] = s.get("response_rate")
        if self.tickets is not None:
            out["tickets"] = self.tickets["tickets"]
            out["tickets_per_100"] = self.tickets["per_100"]
            out["median_resolution_h"] = self.tickets["median_resolution_h"]
        out["terms"] = [t["term"] for t in self.terms]
        return out


@dataclass(frozen=True)
class Experience:
    """Experience per stage (and the two buckets), overall and per persona, with the bad
    data found and what it was computed on."""

    stages: list[StageExperience]
    personas: dict[str, list[StageExperience]]
    problems: list[dict]
    computed_on: dict
    cohorts: list[dict] = field(default_factory=list)  # per stage and entry cohort (with a period)

    def stage(self, stage_id: str) -> StageExperience:
        return next(s for s in self.stages if s.stage == stage_id)

    def to_dict(self) -> dict:
        out = {"computed_on": self.computed_on, "stages": [s.to_dict() for s in self.stages],
               "personas": {p: [s.to_dict() for s in rows] for p, rows in self.personas.items()},
               "problems": self.problems}
        if self.cohorts:
            out["cohorts"] = clean(self.cohorts)
        return out


@dataclass(frozen=True)
class _Rows:
    """One signal's rows, each with its bucket (stage index, -1 before, -2 after churn)."""

    users: np.ndarray  # position in the customers of the map (-1: none)
    ids: pa.Array
    t: np.ndarray
    bucket: np.ndarray


def _numbers(values: pa.Array) -> np.ndarray:
    """Values as floats (NaN where missing or not a number)."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        values = pc.utf8_trim_whitespace(values)
        ok = pc.match_substring_regex(values, r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
        values = pc.if_else(ok, values, pa.nulls(1, values.type)[0]).cast(pa.float64())
    elif pa.types.is_boolean(values.type) or pa.types.is_null(values.type):
        values = pa.nulls(len(values), pa.float64())
    return floats(values)


def _problem(problems: list, signal: str, what: str, bad: np.ndarray, rows: _Rows, values) -> None:
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        problems.append({"signal": signal, "problem": what, "count": int(bad.sum()),
                         "example": {"user_id": rows.ids[i].as_py(),
                                     "ts": str(np.datetime64(int(rows.t[i]), "us")) + "Z",
                                     "value": values[i].as_py()}})


def _scores(survey: Survey, raw: pa.Array, rows: _Rows, problems: list) -> np.ndarray:
    """The valid scores (NaN elsewhere), oriented so higher is better; bad ones reported."""
    x = _numbers(raw)
    lo, hi = survey.scale
    missing = np.isnan(x) & ~booleans(pc.is_valid(raw))
    garbled = np.isnan(x) & ~missing
    with np.errstate(invalid="ignore"):
        outside = ~np.isnan(x) & ((x < lo) | (x > hi) | (x != np.round(x)))
    _problem(problems, survey.kind, "no score", missing, rows, raw)
    _problem(problems, survey.kind, "not a number", garbled, rows, raw)
    _problem(problems, survey.kind, f"not a whole number from {lo} to {hi}", outside, rows, raw)
    x = np.where(missing | garbled | outside, np.nan, x)
    if survey.kind == "ces" and not survey.higher_is_easier:
        x = lo + hi - x
    return x


def _bucket_label(journey: Journey, k: int) -> str:
    return BEFORE if k == -1 else AFTER_CHURN if k == -2 else journey.stages[k].id


def _distinct(users: np.ndarray) -> int:
    """Distinct users among rows in user order (runs), without a sort."""
    return int(np.count_nonzero(np.diff(users)) + 1) if users.size else 0


def _survey_stats(kind: str, scores: np.ndarray, users: np.ndarray, entered: int | None) -> dict:
    ok = ~np.isnan(scores)
    stats = SCORERS[kind](scores[ok])
    respondents = _distinct(users[ok])
    stats["respondents"] = respondents if entered is not None else None  # (a bucket: unknown ids)
    stats["response_rate"] = respondents / entered if entered else None
    return stats


def _ticket_stats(sel: np.ndarray, t: dict, entered: int | None) -> dict:
    n = int(sel.sum())
    per = (lambda k: 100 * k / entered) if entered else (lambda k: None)
    hours = t["hours"][sel] if t["hours"] is not None else np.zeros(0)
    hours = hours[~np.isnan(hours)]

    def by(labelled):
        if labelled is None:
            return {}
        names, codes = labelled
        counts = np.bincount(codes[sel], minlength=len(names))
        order = np.argsort(-counts, kind="stable")
        return {str(names[i]): {"tickets": int(counts[i]), "per_100": per(int(counts[i]))}
                for i in order if counts[i]}
    return {"tickets": n, "per_100": per(n), "by_channel": by(t["channel"]), "by_topic": by(t["topic"]),
            "median_resolution_h": float(np.median(hours)) if hours.size else None,
            "resolved": int(hours.size)}


def _labels(raw: pa.Array | None) -> tuple[list[str], np.ndarray] | None:
    """(names, a code per row into them); missing values are "(none)"."""
    if raw is None:
        return None
    if pa.types.is_dictionary(raw.type):
        raw = raw.dictionary_decode()
    coded = pc.coalesce(raw.cast(pa.string()), from_strings(["(none)"])[0]).dictionary_encode()
    return coded.dictionary.to_pylist(), numbers(coded.indices).astype(np.int64)


def _resolution_hours(journey: Journey, side, rows: _Rows, idx: np.ndarray, problems: list
                      ) -> np.ndarray | None:
    """Hours to resolve each ticket: from its property, or from the first resolving event
    with its ticket id at or after it; NaN when unknown."""
    sig = journey.signals.tickets
    if sig.resolution_hours:
        raw = side.columns[sig.resolution_hours].take(from_numbers(idx))
        h = _numbers(raw)
        bad = ~np.isnan(h) & (h < 0)
        garbled = np.isnan(h) & booleans(pc.is_valid(raw))
        _problem(problems, "tickets", "negative resolution time", bad, rows, raw)
        _problem(problems, "tickets", "resolution time not a number", garbled, rows, raw)
        return np.where(bad, np.nan, h)
    if sig.resolved_event:
        names = [n for n, _ in journey.signals.rules]
        done = side.of(names.index("resolved"))
        ids = side.columns[sig.id]
        opened_ids = ids.take(from_numbers(idx)).cast(pa.string()).to_pylist()
        first: dict = {}
        for i, key in zip(done, ids.take(from_numbers(done)).cast(pa.string()).to_pylist()):
            first.setdefault(key, []).append(int(side.t[i]))
        out = np.full(idx.size, np.nan)
        for j, key in enumerate(opened_ids):
            later = [x for x in first.get(key, ()) if x >= rows.t[j]]
            if later:
                out[j] = (min(later) - rows.t[j]) / 3.6e9
        return out
    return None


def _cohort_rows(journey: Journey, entries, survey_parts: dict, ticket_parts, cohort_of) -> list[dict]:
    """Per stage and entry cohort of that stage: each survey's statistic and tickets per
    100 customers of the cohort (answers of customers who entered the stage then)."""
    out = []
    for k, st in enumerate(journey.stages):
        entered = entries.entry_t[:, k]
        who = np.flatnonzero(entered >= 0)
        if not who.size:
            continue
        label = np.full(entries.n_users, None, object)
        label[who] = cohort_of(entered[who])
        sizes = pd.Series(label[who]).value_counts()
        for cohort in sorted(sizes.index):
            n_in = int(sizes[cohort])
            row = {"stage": st.id, "cohort": cohort, "customers": n_in}
            for kind, (rows, scores, parts) in survey_parts.items():
                idx = parts[k]
                idx = idx[(rows.users[idx] >= 0) & (label[np.maximum(rows.users[idx], 0)] == cohort)]
                stat = _survey_stats(kind, scores[idx], rows.users[idx], n_in)
                row |= {kind: stat.get(kind), f"{kind}_ci": stat.get(f"{kind}_ci"), f"{kind}_answers": stat["n"]}
            if ticket_parts is not None:
                rows, _, parts = ticket_parts
                idx = parts[k]
                n = int(np.sum((rows.users[idx] >= 0) & (label[np.maximum(rows.users[idx], 0)] == cohort)))
                row |= {"tickets": n, "tickets_per_100": 100 * n / n_in}
            out.append(row)
    return out


def experience_of(journey: Journey, entries, side, stage_at, entered: dict[str, list[int]],
                  groups: dict[str, np.ndarray], cohort_of=None) -> Experience:
    """Experience of every stage for each group of customers (`groups`: name -> mask
    over the map's customers, "all" first; `entered`: name -> customers per stage).
    `entries` and `side` are the stage pass's entries and the signal rows it saw;
    `stage_at(entries, positions, t)` attributes rows to stages (the map's rule)."""
    sig = journey.signals
    names = [n for n, _ in sig.rules]
    bad_outcome = np.array([s.is_bad_outcome for s in journey.stages] + [False])
    problems: list[dict] = []
    used = {p: s.kind for s in sig.surveys for p in (s.score, s.comment) if p}
    if sig.tickets is not None:
        t = sig.tickets
        used |= {p: "tickets" for p in (t.channel, t.topic, t.resolution_hours, t.id) if p}
    counts = {name: int(((side.bits >> k) & 1).sum()) for k, name in enumerate(names)}
    for s in [*sig.surveys, *([sig.tickets] if sig.tickets is not None else [])]:
        kind = getattr(s, "kind", "tickets")
        if not counts.get(kind):
            problems.append({"signal": kind, "problem": f"no '{' or '.join(s.rule.events)}' events in the "
                             "data: nothing to attribute", "count": 0, "example": None})
    for col in getattr(side, "missing", ()):
        problems.append({"signal": used.get(col), "problem": f"no event property '{col}' in the data",
                         "count": None, "example": None})

    every = positions_of_rows(entries.users, side.users) if entries.n_users and len(side.t) else \
        np.full(len(side.t), -1, np.int64)
    bucket = stage_at(entries, every, side.t)
    bucket = np.where((bucket >= 0) & bad_outcome[np.maximum(bucket, 0)], -2, bucket)

    def rows_of(k: int) -> tuple[_Rows, np.ndarray]:
        idx = side.of(k)
        return _Rows(every[idx], side.users.take(from_numbers(idx)), side.t[idx], bucket[idx]), idx

    surveys = {}
    for s in sig.surveys:
        rows, idx = rows_of(names.index(s.kind))
        scores = _scores(s, side.columns[s.score].take(from_numbers(idx)), rows, problems)
        comments = side.columns[s.comment].take(from_numbers(idx)).to_pylist() if s.comment else None
        surveys[s.kind] = (rows, scores, comments)
    tickets = None
    if sig.tickets is not None:
        rows, idx = rows_of(names.index("tickets"))
        col = lambda p: _labels(side.columns[p].take(from_numbers(idx))) if p else None  # noqa: E731
        tickets = (rows, {"channel": col(sig.tickets.channel), "topic": col(sig.tickets.topic),
                          "hours": _resolution_hours(journey, side, rows, idx, problems)})
    buckets = list(range(len(journey.stages))) + [-1, -2]
    terms = {}
    for kind, (rows, scores, comments) in surveys.items():
        if comments is None:
            continue
        for b in buckets:
            sel = np.flatnonzero(rows.bucket == b)
            terms.setdefault(b, []).extend(c for c in (comments[i] for i in sel) if isinstance(c, str))
    found = distinctive_terms({b: texts for b, texts in terms.items()}) if terms else {}

    def by_bucket(rows: _Rows) -> dict[int, np.ndarray]:
        """Row indexes of each bucket (one sort, then slices)."""
        order = np.argsort(rows.bucket, kind="stable")
        cuts = np.searchsorted(rows.bucket[order], buckets)
        ends = np.searchsorted(rows.bucket[order], buckets, side="right")
        return {b: order[lo:hi] for b, lo, hi in zip(buckets, cuts, ends)}

    survey_parts = {kind: (rows, scores, by_bucket(rows)) for kind, (rows, scores, _) in surveys.items()}
    ticket_parts = (tickets[0], tickets[1], by_bucket(tickets[0])) if tickets is not None else None

    def stages_for(group: str, mask: np.ndarray | None) -> list[StageExperience]:
        def members(rows: _Rows, idx: np.ndarray) -> np.ndarray:
            if mask is None:
                return idx
            u = rows.users[idx]
            return idx[(u >= 0) & mask[np.maximum(u, 0)]]

        out = []
        for b in buckets:
            n_in = entered[group][b] if b >= 0 else None
            stats = {}
            for kind, (rows, scores, parts) in survey_parts.items():
                idx = members(rows, parts[b])
                stats[kind] = _survey_stats(kind, scores[idx], rows.users[idx], n_in)
            tk = None
            if ticket_parts is not None:
                rows, t, parts = ticket_parts
                sel = np.zeros(rows.bucket.size, bool)
                sel[members(rows, parts[b])] = True
                tk = _ticket_stats(sel, t, n_in)
            if b < 0 and not any(v["n"] for v in stats.values()) and not (tk and tk["tickets"]):
                continue  # an empty bucket is not shown
            out.append(StageExperience(_bucket_label(journey, b), n_in, stats, tk,
                                       found.get(b, []) if mask is None else []))
        return out

    computed_on = {"signals": names, "answers": {k: int(np.sum(~np.isnan(v[1]))) for k, v in surveys.items()},
                   "tickets": int(tickets[0].bucket.size) if tickets else 0,
                   "attribution": "the last stage entered at or before the answer or ticket"}
    cohorts = _cohort_rows(journey, entries, survey_parts, ticket_parts, cohort_of) if cohort_of else []
    return Experience(stages_for("all", None),
                      {g: stages_for(g, m) for g, m in groups.items() if g != "all"},
                      problems, computed_on, cohorts)
