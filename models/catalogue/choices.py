"""The choice lists and defaults that both the Processing algorithms and `models` use.

Kept here, free of torch, so the plugin can import them at module level and `models`
validates requests against the very lists the dialogs offer.
"""
from __future__ import annotations

#: where a model runs: auto (the first CUDA GPU when there is one, else the CPU), cpu, cuda, cuda:N
DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?)$"

#: pansharpening methods; auto comes last so that the indexes of the older methods (batch
#: files, Processing models) keep their meaning
PANSHARPEN_METHODS = ("model", "mtf_glp", "brovey", "auto")
#: sensors whose MTF filters the Wald degradation and MTF-GLP use (`models.data.wald.SENSORS`)
SENSORS = ("generic", "worldview2", "worldview3", "quickbird", "ikonos", "geoeye1", "pleiades")
#: scene adaptation is off by default: on the held-out scenes it raised the students' ERGAS
#: (docs/benchmarks/pansharpening_fits.md), although its held-back checks one scale further
#: down improved
DEFAULT_ADAPT_ITERATIONS = 0

#: nets a training algorithm can train, per task
PANSHARPEN_ARCHITECTURES = ("lite", "psdnet")
DEHAZE_ARCHITECTURES = ("lite", "ktdn")
SEGMENTATION_ARCHITECTURES = ("ginet", "lite", "efficientnet", "bundled")
CLASSIFIER_ARCHITECTURES = ("teacher", "resnet18", "mobilenetv2", "efficientnet_lite0")
#: how a scene classifier is trained (class_centric distils a teacher)
CLASSIFIER_METHODS = ("class_centric", "class_aware", "plain")

#: the classical dehazing method a dehaze MODEL may name instead of a package
DARK_CHANNEL_PRIOR = "dark_channel_prior"

#: probability below which a scene cell is labelled uncertain
DEFAULT_MIN_CONFIDENCE = 0.4
