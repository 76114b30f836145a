"""The `journeymap` package: its public names load on first use and stay what they are."""

import importlib
import subprocess
import sys


def test_public_names_load_on_first_use_and_measure_stays_the_function():
    script = (
        "import sys, journeymap\n"
        "assert 'journeymap.api' not in sys.modules and 'pandas' not in sys.modules\n"
        "from journeymap.measure.funnel.funnel import FunnelResult\n"
        "import journeymap.measure.paths.actual\n"
        "from journeymap import measure, open as open_\n"
        "assert callable(journeymap.measure) and journeymap.measure is measure\n"
        "assert measure.__module__ == 'journeymap.api' and open_.__name__ == 'open_workspace'\n"
        "assert journeymap.FunnelResult is FunnelResult\n"
        "assert set(journeymap.__all__) <= set(dir(journeymap))\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_an_unknown_name_is_an_attribute_error():
    import journeymap
    try:
        journeymap.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_the_package_reloads():
    import journeymap
    again = importlib.reload(journeymap)
    assert callable(again.measure) and again.measure.__module__ == "journeymap.api"
