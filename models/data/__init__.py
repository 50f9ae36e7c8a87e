"""Training sample makers, QGIS-free: arrays in, aligned training arrays out.

`wald`: Wald-protocol pansharpening pairs (sensor-MTF-matched Gaussian degradation of MS and
PAN by the resolution ratio, aligned patch cropping, flip/rotation augmentation).
`haze`: synthetic non-homogeneous haze on clear images. `labels`: segmentation labels from
polygons, label rasters or image/mask folders. `polygons`: class rasters to polygons.
`chips`: classification chips from folders or from a raster plus labelled points/polygons.
"""
