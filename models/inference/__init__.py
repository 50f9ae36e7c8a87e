"""The streaming tiled inference engine and what it is built from.

`engine.run_tiled` runs any model over rasters larger than memory: `tiling` lays out
overlapping tiles, `blending` weights them, `accumulator` blends predictions row by row,
`raster_io` reads windows and writes atomic GeoTIFFs, `alignment` reads inputs of different
resolution window-aligned, `scaling` maps pixel values to the model's range, `device` resolves
CPU/CUDA and precision, `backoff` batches tiles and backs off on out-of-memory errors, and
`global_context` gives GINet its decimated view of the whole scene.
"""
