"""Built-in benchmark ranges for the rate into well-known stages.

From the domain articles (shared/seeds): consideration -> purchase converts
2-15%; onboarding -> activation (first value) 40-70%; ongoing-use period
retention 85-95%; advocacy participation 5-20%. A journey file overrides them.
"""

from __future__ import annotations

SOURCE = "built-in (customer journey mapping benchmarks)"

_RANGES: dict[tuple[str, ...], tuple[float, float]] = {
    ("purchase", "paid", "paid_conversion", "conversion", "subscribe"): (0.02, 0.15),
    ("activation", "activated", "first_value", "aha", "value"): (0.40, 0.70),
    ("retention", "retained", "renewal"): (0.85, 0.95),
    ("advocacy", "referral", "advocate", "review"): (0.05, 0.20),
}

#: stage id -> (low, high) of the expected rate into a stage with that id
BUILTIN: dict[str, tuple[float, float]] = {name: bounds for names, bounds in _RANGES.items()
                                           for name in names}


def builtin_range(stage_id: str) -> tuple[float, float] | None:
    """The built-in (low, high) range for the rate into a stage with this id, if known.

    >>> builtin_range("purchase")
    (0.02, 0.15)
    """
    return BUILTIN.get(stage_id.lower())
