"""GeoDistill Processing algorithms; `ALGORITHM_CLASSES` is what the provider registers."""
from .diagnostics import DiagnosticsAlgorithm
from .pansharpen import PansharpenAlgorithm
from .pansharpen_training import EvaluatePansharpenAlgorithm, TrainPansharpenAlgorithm

ALGORITHM_CLASSES = (
    DiagnosticsAlgorithm,
    PansharpenAlgorithm,
    TrainPansharpenAlgorithm,
    EvaluatePansharpenAlgorithm,
)
