"""GeoDistill Processing algorithms; `ALGORITHM_CLASSES` is what the provider registers."""
from .diagnostics import DiagnosticsAlgorithm

ALGORITHM_CLASSES = (
    DiagnosticsAlgorithm,
)
