"""GeoDistill models: nets, losses, training, model packages and the tiled inference engine.

Only torch, numpy, rasterio, safetensors and torchmetrics are used here, never QGIS or Qt, so
everything in this package runs headless (tests, benchmarks, training scripts) and the plugin
layer talks to it through plain paths, numbers and dataclasses.
"""
