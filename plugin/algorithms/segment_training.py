"""geodistill:train_segmentation and geodistill:evaluate_segmentation."""
from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsMapLayer,
    QgsProcessingException,
    QgsProcessingUtils,
    QgsProviderRegistry,
    QgsVectorFileWriter,
)

from ...models.catalogue import EVALUATE_SEGMENTATION, TRAIN_SEGMENTATION
from .base import GeoDistillAlgorithm


class _LabelsMixin:
    """Reads a labels layer (LABELS, or REFERENCE): a raster file, or polygons (exported
    when needed)."""

    #: the labels parameter and the request field its file fills
    labels_parameter = ("LABELS", "labels")

    def extra_values(self, parameters, context) -> dict:
        """The labels layer's file."""
        name, field = self.labels_parameter
        return {field: self.layer_file(parameters, name, context)}

    def layer_file(self, parameters, name: str, context) -> str:
        """A file the models can read for a raster or vector layer parameter.

        Raster layers must be GDAL files; a vector layer that is not a whole OGR file (a layer
        of a multi-layer file or of an archive, a filtered or memory layer) is written to a
        temporary GeoPackage.
        """
        layer = self.parameterAsLayer(parameters, name, context)
        if layer is None:
            raise QgsProcessingException(self.tr(f"{name}: no layer was given."))
        if layer.type() == QgsMapLayer.RasterLayer:
            return self.raster_path({name: layer}, name, context)
        parts = QgsProviderRegistry.instance().decodeUri(layer.providerType(), layer.source())
        path = parts.get("path")
        if (layer.providerType() == "ogr" and path and Path(path).is_file() and not parts.get("vsiPrefix")
                and not parts.get("layerName") and not layer.subsetString()):
            return path
        copy = QgsProcessingUtils.generateTempFilename(f"{name.lower()}.gpkg")
        options = QgsVectorFileWriter.SaveVectorOptions()
        options.driverName = "GPKG"
        error = QgsVectorFileWriter.writeAsVectorFormatV3(layer, copy, context.transformContext(), options)
        if error[0] != QgsVectorFileWriter.NoError:
            raise QgsProcessingException(self.tr(f"{name}: could not copy '{layer.name()}' to a "
                                                 f"file: {error[1]}"))
        return copy


class TrainSegmentationAlgorithm(_LabelsMixin, GeoDistillAlgorithm):
    """Trains (or distils) a land-cover segmentation model on the user's rasters and labels."""

    task = TRAIN_SEGMENTATION
    help_text = (
        "Trains a land-cover segmentation model on your rasters and labels.<br><b>Input "
        "rasters</b>: the images (all with the same bands).<br><b>Labels</b>: polygons with a "
        "class attribute (in any CRS: they are reprojected), or a label raster of class values "
        "(on any grid: it is resampled with nearest neighbour). Unlabelled areas are fine.<br>"
        "<b>Class field</b>: the attribute of the polygons holding the class (whole numbers "
        "0-254 are kept as class values; text classes are numbered in alphabetical order).<br>"
        "<b>Ignore value</b>: the label raster's value for unlabelled pixels.<br><b>Architecture"
        "</b>: <i>bundled</i> (default: fine-tune the bundled land-cover model, which needs the "
        "fewest labels; 3-band images), <i>efficientnet</i> (the same net from ImageNet weights), "
        "<i>lite</i> (small, from scratch) or <i>ginet</i> (the paper-sized net, e.g. as a "
        "teacher; slow on a CPU).<br><b>Teacher</b>: optional GINet model package to "
        "distil into the lite student (its classes are used).<br><b>Epochs</b>, <b>Tile size"
        "</b>: training length and training patch side in pixels.<br>The bottom rows of each "
        "raster holding about 15 % of its labels are held out and the model card records the "
        "mIoU and per-class IoU on them.<br><b>Output model</b>: the .safetensors model package "
        "with its classes, names and colours; use it as MODEL in 'Segment land cover'.")


class EvaluateSegmentationAlgorithm(_LabelsMixin, GeoDistillAlgorithm):
    """Scores a class raster against reference labels: mIoU, per-class IoU, confusion matrix."""

    task = EVALUATE_SEGMENTATION
    labels_parameter = ("REFERENCE", "reference_path")
    help_text = (
        "Scores a class raster (e.g. from 'Segment land cover') against reference labels.<br>"
        "<b>Prediction</b>: the class raster.<br><b>Reference</b>: a label raster (any grid: it "
        "is resampled with nearest neighbour) or polygons with a class attribute (any CRS).<br>"
        "<b>Class field</b>: the polygons' class attribute (class values, or the class names "
        "the prediction carries).<br><b>Ignore value</b>: the reference raster's value for "
        "unlabelled pixels.<br><b>Output report</b>: an HTML page with the mIoU, overall "
        "accuracy, kappa, the IoU of each class and the confusion matrix; a JSON file with the "
        "same numbers is written beside it.")
