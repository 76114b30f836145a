"""journeymap: a customer journey map that measures itself.

The public names below are imported on first use, so a single command (`journeymap
funnel …`) loads only the measure it runs:

>>> import journeymap
>>> sorted(journeymap.__all__)[:3]
['ActivationResult', 'ActualJourney', 'CorrelationResult']
>>> journeymap.funnel.__module__
'journeymap.api'
"""

from importlib import import_module

from journeymap import memory
from journeymap._version import __version__  # noqa: F401 - journeymap.__version__

memory.tune()

#: Each public name and the module that defines it (`open` is `open_workspace`).
_HOMES = {
    **dict.fromkeys(["ActivationResult", "ActualJourney", "CorrelationResult", "DriversResult",
                     "FunnelResult", "JourneyMap", "KpiResult", "MapResult", "RetentionResult",
                     "TransitionsResult", "activation", "correlation", "drivers", "funnel", "kpis",
                     "measure", "paths", "retention", "transitions", "validate"], "journeymap.api"),
    **dict.fromkeys(["EngineError", "IngestError", "JourneyError", "QueryError", "SpecError",
                     "WorkspaceError"], "journeymap.errors"),
    "Diagnosis": "journeymap.insight.diagnose",
    "Leak": "journeymap.insight.diagnose",
    "load_journey": "journeymap.spec.load",
    "Journey": "journeymap.spec.model",
    "Workspace": "journeymap.workspace",
    "open": "journeymap.workspace",
}

__all__ = sorted(_HOMES)

# The subpackage journeymap.measure is loaded now, so that later imports of its modules do
# not bind it over the name `measure`, which is the function (found by __getattr__).
import_module("journeymap.measure")
globals().pop("measure", None)  # bound by the import above (not on a reload)


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'journeymap' has no attribute {name!r}")
    value = getattr(import_module(home), "open_workspace" if name == "open" else name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
