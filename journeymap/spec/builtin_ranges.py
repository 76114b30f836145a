"""Built-in benchmark ranges for the rate into well-known stages.

From the domain articles (shared/seeds): consideration -> purchase converts
2-15%; onboarding -> activation (first value) 40-70%; ongoing-use period
retention 85-95%; advocacy participation 5-20%. A journey file overrides them.
"""

from __future__ import annotations

from journeymap.spec.model import Benchmark

_SOURCE = "built-in (customer journey mapping benchmarks)"

_RANGES: dict[tuple[str, ...], tuple[float, float]] = {
    ("purchase", "paid", "paid_conversion", "conversion", "subscribe"): (0.02, 0.15),
    ("activation", "activated", "first_value", "aha", "value"): (0.40, 0.70),
    ("retention", "retained", "renewal"): (0.85, 0.95),
    ("advocacy", "referral", "advocate", "review"): (0.05, 0.20),
}

BUILTIN: dict[str, Benchmark] = {
    name: Benchmark(low, high, _SOURCE) for names, (low, high) in _RANGES.items() for name in names
}


def builtin_benchmark(stage_id: str) -> Benchmark | None:
    """The built-in range for the rate into a stage with this id, if one is known.

    >>> builtin_benchmark("purchase").low
    0.02
    """
    return BUILTIN.get(stage_id.lower())
