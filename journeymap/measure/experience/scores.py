"""The statistics of experience signals, each with its interval.

- NPS = % promoters (9-10) - % detractors (0-6), in points; 95% interval from the
  variance of a difference of two shares of one multinomial sample:
  se = 100 * sqrt((p + d - (p - d)^2) / n).
- CSAT = share of answers 4 or 5, with a Wilson 95% interval.
- CES = mean score (oriented so higher is easier), with a t-based 95% interval.
- Distinctive comment terms: weighted log-odds with an informative Dirichlet
  prior (Monroe, Colaresi & Quinn 2008, "Fightin' Words"), each stage's comments
  against all other stages', the prior being every comment's term frequencies
  scaled to min(words, PRIOR_WEIGHT) pseudo-counts; terms with z > 1.96 and at
  least MIN_TERM_COUNT uses, highest z first.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

from journeymap.measure.stats import Z95, wilson_ci

PRIOR_WEIGHT = 500.0
MIN_TERM_COUNT = 3
TOP_TERMS = 8
STOPWORDS = frozenset("""a about after again all also am an and any are as at be because been before
being but by can could did do does doing don for from get got had has have having he her here him his
how i if in into is it its just me more most my no nor not now of off on once only or other our out
over own so some still such than that the their them then there these they this those through to too
under until up very was we were what when where which while who why will with would yet you your
i'm it's can't don't won't isn't i've""".split())
_WORD = re.compile(r"[^\W\d_][\w'-]*", re.UNICODE)


def nps(scores: np.ndarray) -> dict:
    """NPS of 0-10 scores with its 95% interval, and the promoter/detractor shares."""
    n = int(scores.size)
    if not n:
        return {"n": 0, "nps": None, "nps_ci": None, "promoters": None, "detractors": None}
    p, d = float(np.mean(scores >= 9)), float(np.mean(scores <= 6))
    value = 100 * (p - d)
    se = 100 * math.sqrt(max(p + d - (p - d) ** 2, 0.0) / n)
    return {"n": n, "nps": value, "nps_ci": [max(-100.0, value - Z95 * se), min(100.0, value + Z95 * se)],
            "promoters": p, "detractors": d}


def csat(scores: np.ndarray) -> dict:
    """Share of satisfied answers (4 or 5 of 1-5) with its Wilson 95% interval."""
    n, good = int(scores.size), int(np.sum(scores >= 4))
    return {"n": n, "csat": good / n if n else None, "csat_ci": wilson_ci(good, n), "mean": _mean(scores)}


def ces(scores: np.ndarray) -> dict:
    """Mean effort score (higher = easier) with a t-based 95% interval."""
    n = int(scores.size)
    mean = _mean(scores)
    if n < 2:
        return {"n": n, "ces": mean, "ces_ci": None}
    half = t95(n - 1) * float(np.std(scores, ddof=1)) / math.sqrt(n)
    return {"n": n, "ces": mean, "ces_ci": [mean - half, mean + half]}


def _mean(x: np.ndarray) -> float | None:
    return float(np.mean(x)) if x.size else None


_T95 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157,
        2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.13145, 2.119905, 2.109816, 2.100922,
        2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831,
        2.048407, 2.04523, 2.042272)  # df 1..30, to 6 places


def t95(df: int) -> float:
    """The two-sided 95% quantile of Student's t with `df` degrees of freedom: tabled
    to df 30, beyond it the Cornish-Fisher expansion around the normal (within 0.01%).

    >>> [round(t95(k), 3) for k in (1, 2, 10, 30, 1000)]
    [12.706, 4.303, 2.228, 2.042, 1.962]
    """
    if df <= len(_T95):
        return _T95[max(df, 1) - 1]
    z = Z95
    return (z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3))


def terms(text: str) -> list[str]:
    """The words of a comment that carry meaning: lower case, no stop words, 3+ letters."""
    return [w for w in _WORD.findall(text.lower()) if len(w) >= 3 and w not in STOPWORDS]


def distinctive_terms(comments_by_group: dict[str, list[str]], top: int = TOP_TERMS) -> dict[str, list[dict]]:
    """Per group: the terms most distinctive of its comments against all other groups'
    (see the module doc), as [{"term", "count", "z"}]."""
    counts = {}
    for g, texts in comments_by_group.items():  # each distinct comment read once
        mine = Counter()
        for text, times in Counter(texts).items():
            for w in terms(text):
                mine[w] += times
        counts[g] = mine
    total = Counter()
    for c in counts.values():
        total.update(c)
    n_all = sum(total.values())
    if not n_all:
        return {g: [] for g in counts}
    weight = min(float(n_all), PRIOR_WEIGHT)
    prior = {w: weight * c / n_all for w, c in total.items()}
    out = {}
    for g, mine in counts.items():
        n_i = sum(mine.values())
        n_j = n_all - n_i
        found = []
        for w, y_i in mine.items():
            if y_i < MIN_TERM_COUNT:
                continue
            a = prior[w]
            y_j = total[w] - y_i
            delta = (math.log((y_i + a) / (n_i + weight - y_i - a))
                     - math.log((y_j + a) / (n_j + weight - y_j - a)))
            z = delta / math.sqrt(1 / (y_i + a) + 1 / (y_j + a))
            if z > Z95:
                found.append({"term": w, "count": y_i, "z": round(z, 2)})
        out[g] = sorted(found, key=lambda t: (-t["z"], t["term"]))[:top]
    return out
