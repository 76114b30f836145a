"""The numbers of the drivers' candidates, from 2×2 tables (did / did not, advanced /
did not) per persona: rates, lift, the odds ratio with its Wald interval and p-value,
Benjamini–Hochberg q-values and the Mantel–Haenszel odds ratio pooled over personas.
"""

from __future__ import annotations

import math

import numpy as np

from journeymap.measure.stats import Z95, rate


def table_stats(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> dict[str, np.ndarray]:
    """Per 2×2 table (a = did & advanced, b = did & not, c = not & advanced, d = not &
    not): odds ratio, its 95% Wald interval on the log scale and the two-sided p-value
    (0.5 added to every cell of a table holding a zero)."""
    a, b, c, d = (np.asarray(x, float) for x in (a, b, c, d))
    shift = np.where((a == 0) | (b == 0) | (c == 0) | (d == 0), 0.5, 0.0)
    a, b, c, d = a + shift, b + shift, c + shift, d + shift
    log_or = np.log(a * d / (b * c))
    se = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    z = np.abs(log_or) / se
    p = np.array([math.erfc(x / math.sqrt(2)) for x in z])
    return {"odds_ratio": np.exp(log_or), "low": np.exp(log_or - Z95 * se), "high": np.exp(log_or + Z95 * se),
            "p": p}


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), in the order given."""
    p = np.asarray(p, float)
    n = p.size
    if not n:
        return p
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out


def mantel_haenszel(a, b, c, d) -> float | None:
    """The Mantel–Haenszel odds ratio pooled over strata (arrays of cells per stratum)."""
    a, b, c, d = (np.asarray(x, float) for x in (a, b, c, d))
    n = a + b + c + d
    ok = n > 0
    num, den = np.sum(a[ok] * d[ok] / n[ok]), np.sum(b[ok] * c[ok] / n[ok])
    return float(num / den) if den > 0 else None


def candidate_rows(found: list[tuple[str, str, int, np.ndarray]], total: np.ndarray, n: int) -> list[dict]:
    """`candidate_row` of every candidate (name, event, times, did), the numbers computed for all of
    them at once (the same floats: the same divisions, and the pooled odds ratio summed
    over the strata in the same order); a candidate with no one on a side goes through
    `candidate_row` itself."""
    if not found:
        return []
    did = np.stack([f[3] for f in found]).astype(np.int64)  # (candidates, strata, 2)
    rest = total[None] - did
    a, b, c, d = did[:, :, 1].sum(axis=1), did[:, :, 0].sum(axis=1), rest[:, :, 1].sum(axis=1), \
        rest[:, :, 0].sum(axis=1)
    safe = (a + b > 0) & (c + d > 0)
    r_did, r_not = a / np.maximum(a + b, 1), c / np.maximum(c + d, 1)
    mh = pooled_odds(did[:, :, 1], did[:, :, 0], rest[:, :, 1], rest[:, :, 0])
    out = []
    for i, (name, event, times, cells) in enumerate(found):
        if not safe[i]:
            out.append(candidate_row(name, event, times, cells, total, n))
            continue
        ai, bi, ci, di, rd, rn = int(a[i]), int(b[i]), int(c[i]), int(d[i]), float(r_did[i]), float(r_not[i])
        out.append({"behaviour": name, "event": event, "at_least": times, "did": ai + bi, "share": (ai + bi) / n,
                    "rate_did": rd, "rate_not": rn, "lift": rd / rn if rn else None, "difference": rd - rn,
                    "mh_odds_ratio": mh[i], "a": ai, "b": bi, "c": ci, "d": di})
    return out


def pooled_odds(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> list[float | None]:
    """`mantel_haenszel` of every row of per-stratum cells (rows, strata) at once."""
    a, b, c, d = (x.astype(float) for x in (a, b, c, d))
    n = a + b + c + d
    ok = n > 0
    num = np.divide(a * d, n, out=np.zeros_like(n), where=ok).sum(axis=1)
    den = np.divide(b * c, n, out=np.zeros_like(n), where=ok).sum(axis=1)
    return [float(x / y) if y > 0 else None for x, y in zip(num, den)]


def candidate_row(name: str, event: str, times: int, did: np.ndarray, total: np.ndarray, n: int) -> dict:
    """One candidate's numbers from its per-stratum cells (column 1: advanced)."""
    rest = total - did
    a, b = int(did[:, 1].sum()), int(did[:, 0].sum())
    c, d = int(rest[:, 1].sum()), int(rest[:, 0].sum())
    r_did, r_not = rate(a, a + b), rate(c, c + d)
    return {"behaviour": name, "event": event, "at_least": times, "did": a + b, "share": (a + b) / n,
            "rate_did": r_did, "rate_not": r_not,
            "lift": r_did / r_not if r_not else None, "difference": r_did - r_not,
            "mh_odds_ratio": mantel_haenszel(did[:, 1], did[:, 0], rest[:, 1], rest[:, 0]),
            "a": a, "b": b, "c": c, "d": d}
