"""Processing parameters generated from a task catalogue entry, and read back into the
keyword values of the task's request.

`processing_definition` turns a catalogue `Parameter` into its QgsProcessingParameter (or,
for a result-only kind, its QgsProcessingOutput); `TaskParameters` is the mixin of the base
algorithm that adds a task's parameters, reads the ones that fill request fields, and runs
the task's request.
"""
from __future__ import annotations

import dataclasses

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputString,
    QgsProcessingParameterBand,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)

from ...models.catalogue import RESULT_KINDS, Kind, Parameter

_GEOMETRIES = {"point": QgsProcessing.TypeVectorPoint, "polygon": QgsProcessing.TypeVectorPolygon}


def _number(parameter: Parameter, label: str, number_type):
    """A number parameter; limits left unset are QGIS's own (no limit)."""
    limits = {key: value for key, value in (("minValue", parameter.minimum),
                                            ("maxValue", parameter.maximum)) if value is not None}
    return QgsProcessingParameterNumber(parameter.name, label, number_type,
                                        defaultValue=parameter.default,
                                        optional=parameter.optional, **limits)


def processing_definition(parameter: Parameter, label: str):
    """The Processing parameter of `parameter` (`label` translated)."""
    name, optional, kind = parameter.name, parameter.optional, parameter.kind
    if kind == Kind.RASTER:
        return QgsProcessingParameterRasterLayer(name, label, optional=optional)
    if kind == Kind.RASTERS:
        return QgsProcessingParameterMultipleLayers(name, label, QgsProcessing.TypeRaster,
                                                    optional=optional)
    if kind == Kind.LAYER:
        return QgsProcessingParameterMapLayer(name, label, optional=optional)
    if kind == Kind.FEATURES:
        return QgsProcessingParameterFeatureSource(
            name, label, [_GEOMETRIES[g] for g in parameter.geometry], optional=optional)
    if kind == Kind.FIELD:
        return QgsProcessingParameterField(name, label, parentLayerParameterName=parameter.parent,
                                           optional=optional)
    if kind == Kind.BAND:
        return QgsProcessingParameterBand(name, label, defaultValue=parameter.default,
                                          parentLayerParameterName=parameter.parent,
                                          optional=optional)
    if kind == Kind.BANDS:
        return QgsProcessingParameterBand(name, label, None, parameter.parent, optional=optional,
                                          allowMultiple=True)
    if kind == Kind.EXTENT:
        return QgsProcessingParameterExtent(name, label, optional=optional)
    if kind in (Kind.MODEL, Kind.DEVICE, Kind.TEXT):
        return QgsProcessingParameterString(name, label, defaultValue=parameter.default,
                                            optional=optional)
    if kind == Kind.INT:
        return _number(parameter, label, QgsProcessingParameterNumber.Integer)
    if kind == Kind.FLOAT:
        return _number(parameter, label, QgsProcessingParameterNumber.Double)
    if kind == Kind.ENUM:
        return QgsProcessingParameterEnum(name, label, options=list(parameter.choices),
                                          defaultValue=parameter.default_index, optional=optional)
    if kind == Kind.FILE:
        return QgsProcessingParameterFile(name, label, extension=parameter.file_type,
                                          optional=optional)
    if kind == Kind.FOLDER:
        return QgsProcessingParameterFile(name, label, behavior=QgsProcessingParameterFile.Folder,
                                          optional=optional)
    if kind == Kind.RASTER_OUTPUT:
        return QgsProcessingParameterRasterDestination(
            name, label, optional=optional, createByDefault=parameter.create_by_default)
    if kind == Kind.VECTOR_OUTPUT:
        return QgsProcessingParameterVectorDestination(
            name, label, _GEOMETRIES[parameter.geometry[0]], optional=optional,
            createByDefault=parameter.create_by_default)
    if kind == Kind.FEATURE_SINK:
        return QgsProcessingParameterFeatureSink(name, label, _GEOMETRIES[parameter.geometry[0]],
                                                 optional=optional)
    if kind == Kind.FILE_OUTPUT:
        return QgsProcessingParameterFileDestination(name, label, fileFilter=parameter.file_type,
                                                     optional=optional)
    if kind == Kind.OUTPUT_FILE:
        return QgsProcessingOutputFile(name, label)
    if kind == Kind.OUTPUT_TEXT:
        return QgsProcessingOutputString(name, label)
    raise ValueError(f"{name}: unknown parameter kind '{kind}'")


class TaskParameters:
    """Adds the parameters of the algorithm's catalogue entry (`task`) and reads them back;
    mixed into the base algorithm, whose `tr`, `parameterAs*` and value readers it uses."""

    def add_task_parameters(self) -> None:
        """Declare every parameter and result of `task`, in its order, with its help."""
        from .base import bundled_model_names

        for parameter in self.task.parameters:
            definition = processing_definition(parameter, self.tr(parameter.label))
            if parameter.kind in RESULT_KINDS:
                self.addOutput(definition)
                continue
            help_text = parameter.help
            if parameter.kind == Kind.MODEL:
                names = bundled_model_names(parameter.model_task)
                help_text = help_text.format(models=", ".join(names) if names else "none installed")
            if help_text:
                definition.setHelp(self.tr(help_text))
            self.addParameter(definition)

    def run_task(self, parameters, context, feedback):
        """Build the task's request from the parameters (and `extra_values`) and run it with
        `feedback` as its progress, cancel and log; returns (request, result)."""
        from .base import engine_callbacks

        request_class, run = self.task.engine()
        values = {**self.request_values(parameters, context), **self.extra_values(parameters, context)}
        if "user_model_folder" in {field.name for field in dataclasses.fields(request_class)}:
            values["user_model_folder"] = self.user_model_folder()
        request = request_class(**values)
        return request, run(request, engine_callbacks(feedback))

    #: the error when the task's `pairs` parameters hold different numbers of layers
    #: ({first} and {second} are the counts)
    pair_mismatch = "Give as many layers in each list ({first} and {second})."

    def extra_values(self, parameters, context) -> dict:
        """Request values no catalogue parameter fills alone: the task's layer `pairs`;
        algorithms with others (labels, chips) override this."""
        if not self.task.pairs:
            return {}
        first, second = self.task.pairs
        firsts = self.raster_paths(parameters, first, context)
        seconds = self.raster_paths(parameters, second, context)
        if len(firsts) != len(seconds):
            raise QgsProcessingException(self.tr(self.pair_mismatch.format(
                first=len(firsts), second=len(seconds))))
        return {"pairs": list(zip(firsts, seconds))}

    def request_values(self, parameters, context) -> dict:
        """The request fields the task's parameters fill, by field name."""
        return {p.field: self.parameter_value(p, parameters, context)
                for p in self.task.parameters if p.field}

    def parameter_value(self, parameter: Parameter, parameters, context):
        """One parameter's value as the request takes it: file paths for layers, a choice's
        name for an enum, None for an optional value left empty."""
        name, kind = parameter.name, parameter.kind
        if kind == Kind.RASTER:
            return self.raster_path(parameters, name, context)
        if kind == Kind.RASTERS:
            return self.raster_paths(parameters, name, context)
        if kind == Kind.BANDS:
            return self.bands_value(parameters, context)
        if kind == Kind.EXTENT:
            return self.area_value(parameters, context, parameter.parent)
        if kind == Kind.DEVICE:
            return self.device_value(parameters, context)
        if kind == Kind.MODEL:
            model = self.parameterAsString(parameters, name, context)
            return [model] if parameter.field == "models" else model
        if kind == Kind.TEXT:
            return self.parameterAsString(parameters, name, context).strip() or None
        if kind == Kind.ENUM:
            return parameter.choices[self.parameterAsEnum(parameters, name, context)]
        if kind in (Kind.FILE, Kind.FOLDER):
            return self.parameterAsFile(parameters, name, context) or None
        if kind in (Kind.RASTER_OUTPUT, Kind.VECTOR_OUTPUT):
            return self.parameterAsOutputLayer(parameters, name, context) or None
        if kind == Kind.FILE_OUTPUT:
            return self.parameterAsFileOutput(parameters, name, context)
        empty = parameters.get(name) in (None, "")
        if kind == Kind.BAND:
            return None if empty else self.parameterAsInt(parameters, name, context)
        if kind == Kind.INT:
            return self.parameterAsInt(parameters, name, context)
        if kind == Kind.FLOAT:
            if empty and parameter.default is None:
                return None
            return self.parameterAsDouble(parameters, name, context)
        raise ValueError(f"{name}: a {kind} parameter fills no request field")

