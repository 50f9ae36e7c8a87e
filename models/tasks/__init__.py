"""End-to-end, QGIS-free pipelines behind each Processing algorithm.

A Processing algorithm turns its parameters into one of the request dataclasses here and
calls the pipeline with plain callbacks; everything else (checks, model choice, scaling,
adaptation, the tiled engine) happens here, so it runs the same in tests, benchmarks and QGIS.
"""
