"""GeoDistill Processing algorithms; `ALGORITHM_CLASSES` is what the provider registers."""
from .classify import ClassifyScenesAlgorithm
from .classify_training import EvaluateSceneClassifierAlgorithm, TrainSceneClassifierAlgorithm
from .dehaze import DehazeAlgorithm
from .dehaze_training import EvaluateDehazeAlgorithm, TrainDehazeAlgorithm
from .diagnostics import DiagnosticsAlgorithm
from .pansharpen import PansharpenAlgorithm
from .pansharpen_training import EvaluatePansharpenAlgorithm, TrainPansharpenAlgorithm
from .segment import SegmentAlgorithm
from .segment_training import EvaluateSegmentationAlgorithm, TrainSegmentationAlgorithm

ALGORITHM_CLASSES = (
    DiagnosticsAlgorithm,
    PansharpenAlgorithm,
    TrainPansharpenAlgorithm,
    EvaluatePansharpenAlgorithm,
    DehazeAlgorithm,
    TrainDehazeAlgorithm,
    EvaluateDehazeAlgorithm,
    SegmentAlgorithm,
    TrainSegmentationAlgorithm,
    EvaluateSegmentationAlgorithm,
    ClassifyScenesAlgorithm,
    TrainSceneClassifierAlgorithm,
    EvaluateSceneClassifierAlgorithm,
)
