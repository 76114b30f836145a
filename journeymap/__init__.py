"""journeymap: a customer journey map that measures itself.

>>> import journeymap
>>> sorted(journeymap.__all__)[:3]
['ActivationResult', 'ActualJourney', 'CorrelationResult']
"""

from journeymap import memory
from journeymap._version import __version__  # noqa: F401 - journeymap.__version__

memory.tune()

from journeymap.api import (  # noqa: E402
    ActivationResult,
    ActualJourney,
    CorrelationResult,
    DriversResult,
    FunnelResult,
    JourneyMap,
    KpiResult,
    MapResult,
    RetentionResult,
    TransitionsResult,
    activation,
    correlation,
    drivers,
    funnel,
    kpis,
    measure,
    paths,
    retention,
    transitions,
    validate,
)
from journeymap.errors import EngineError, IngestError, JourneyError, QueryError, SpecError, WorkspaceError  # noqa: E402
from journeymap.insight.diagnose import Diagnosis, Leak  # noqa: E402
from journeymap.spec.load import load_journey  # noqa: E402
from journeymap.spec.model import Journey  # noqa: E402
from journeymap.workspace import Workspace  # noqa: E402
from journeymap.workspace import open_workspace as open  # noqa: E402,A001 - journeymap.open(dir)

__all__ = [
    "ActivationResult",
    "ActualJourney",
    "CorrelationResult",
    "Diagnosis",
    "DriversResult",
    "EngineError",
    "FunnelResult",
    "IngestError",
    "Journey",
    "JourneyError",
    "JourneyMap",
    "KpiResult",
    "Leak",
    "MapResult",
    "QueryError",
    "RetentionResult",
    "SpecError",
    "TransitionsResult",
    "Workspace",
    "WorkspaceError",
    "activation",
    "correlation",
    "drivers",
    "funnel",
    "kpis",
    "load_journey",
    "measure",
    "open",
    "paths",
    "retention",
    "transitions",
    "validate",
]
