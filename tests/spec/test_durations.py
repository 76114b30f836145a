"""parse_duration: units, plain seconds, and clear errors."""

import pytest

from journeymap.spec import parse_duration


@pytest.mark.parametrize(("value", "seconds"), [
    ("90s", 90.0),
    ("15m", 900.0),
    ("12h", 43_200.0),
    ("30d", 2_592_000.0),
    ("2w", 1_209_600.0),
    ("1.5h", 5_400.0),
    (" 7d ", 604_800.0),
    (45, 45.0),
    (0.5, 0.5),
])
def test_durations(value, seconds):
    assert parse_duration(value) == seconds
    assert isinstance(parse_duration(value), float)


@pytest.mark.parametrize("value", [
    "30", "30 days", "3x", "d", "", "-5m", "15M", "1h30m", None, True, [1], 0, -3, "0s", float("inf"),
])
def test_bad_durations_raise_value_error_naming_the_value(value):
    with pytest.raises(ValueError, match="bad duration") as info:
        parse_duration(value)
    assert repr(value if not isinstance(value, str) else str(value)) in str(info.value)
