"""journeymap: a customer journey map that measures itself.

>>> import journeymap
>>> sorted(journeymap.__all__)[:3]
['EngineError', 'FunnelResult', 'IngestError']
"""

__version__ = "0.1.0"  # first: modules below read it

from journeymap import memory  # noqa: E402

memory.tune()

from journeymap.api import measure, paths  # noqa: E402
from journeymap.errors import EngineError, IngestError, JourneyError, QueryError, SpecError
from journeymap.measure.funnel.funnel import FunnelResult, funnel
from journeymap.measure.map.measured_map import MapResult
from journeymap.measure.paths.transitions import TransitionsResult, transitions
from journeymap.spec.load import load_journey
from journeymap.spec.model import Journey
from journeymap.workspace import Project
from journeymap.workspace import open_workspace as open  # noqa: A001 - journeymap.open(dir)


__all__ = [
    "EngineError",
    "FunnelResult",
    "IngestError",
    "Journey",
    "JourneyError",
    "MapResult",
    "Project",
    "QueryError",
    "SpecError",
    "funnel",
    "load_journey",
    "measure",
    "open",
    "paths",
    "transitions",
    "TransitionsResult",
]
