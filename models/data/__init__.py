"""Training sample makers, QGIS-free: arrays in, aligned training arrays out.

`wald`: Wald-protocol pansharpening pairs (sensor-MTF-matched Gaussian degradation of MS and
PAN by the resolution ratio, aligned patch cropping, flip/rotation augmentation).
"""
