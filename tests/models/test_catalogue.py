"""The task catalogue is what the Processing algorithms and the command line are made from:
it imports without torch, QGIS or rasterio, every algorithm declares exactly its entry's
parameters, every field it fills exists in the task's request, and its choice lists are the
ones `models` checks against."""
import dataclasses
import subprocess
import sys

from support import ROOT

from geodistill.models.catalogue import (CLASSIFIER_ARCHITECTURES, RESULT_KINDS, SENSORS, TASKS,
                                         Kind)


def test_catalogue_imports_without_torch_qgis_or_rasterio():
    blocked = ("torch", "rasterio", "qgis", "PyQt5", "onnxruntime", "numpy")
    script = "; ".join([
        "import sys",
        *(f"sys.modules[{name!r}] = None" for name in blocked),
        "import models.catalogue as catalogue",
        "assert len(catalogue.TASKS) == 13, catalogue.TASKS",
        f"assert not [m for m in sys.modules if m.split('.')[0] in {blocked!r} and sys.modules[m]]",
    ])
    finished = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr[-2000:]


def test_every_algorithm_declares_its_catalogue_entry(geodistill_provider):
    algorithms = {algorithm.name(): algorithm for algorithm in geodistill_provider.algorithms()}
    assert set(algorithms) == set(TASKS)
    for name, task in TASKS.items():
        algorithm = algorithms[name]
        assert algorithm.displayName() == task.display_name
        parameters = [p for p in task.parameters if p.kind not in RESULT_KINDS]
        assert [d.name() for d in algorithm.parameterDefinitions()] == [p.name for p in parameters]
        for parameter in parameters:
            definition = algorithm.parameterDefinition(parameter.name)
            where = f"{name}.{parameter.name}"
            assert definition.description() == parameter.label, where
            optional = bool(int(definition.flags()) & int(definition.FlagOptional))
            assert optional == parameter.optional, where
            if parameter.kind == Kind.ENUM:
                assert definition.options() == list(parameter.choices), where
                assert definition.defaultValue() == parameter.choices.index(parameter.default), where
            elif parameter.default is not None:
                assert definition.defaultValue() == parameter.default, where
            if parameter.minimum is not None:
                assert definition.minimum() == parameter.minimum, where
            if parameter.maximum is not None:
                assert definition.maximum() == parameter.maximum, where
            if parameter.help and parameter.kind != Kind.MODEL:
                assert definition.help() == parameter.help, where
        outputs = {d.name() for d in algorithm.outputDefinitions()}
        assert {p.name for p in task.parameters if p.kind in RESULT_KINDS} <= outputs


def test_model_help_lists_the_bundled_models_of_its_task(geodistill_provider):
    from geodistill.plugin.algorithms.base import bundled_model_names

    algorithm = geodistill_provider.algorithm("dehaze")
    names = bundled_model_names("dehazing")
    assert names and all(name in algorithm.parameterDefinition("MODEL").help() for name in names)


def test_every_field_is_a_field_of_the_tasks_request():
    for name, task in TASKS.items():
        if not task.request:
            continue
        request_class, function = task.engine()
        fields = {field.name for field in dataclasses.fields(request_class)}
        filled = [p.field for p in task.parameters if p.field]
        assert callable(function), name
        assert set(filled) <= fields, f"{name}: {set(filled) - fields} are not request fields"
        assert len(filled) == len(set(filled)), f"{name} fills a field twice"
        if task.pairs:
            assert "pairs" in fields and all(task.parameter(p).kind == Kind.RASTERS
                                             for p in task.pairs)


def test_choice_lists_are_the_ones_models_knows():
    from geodistill.models.data.wald import SENSORS as SENSOR_MTFS
    from geodistill.models.nets.classifiers import ARCHITECTURES
    from geodistill.models.tasks.classify_training import EFFICIENTNET_VARIANTS

    assert SENSORS == tuple(SENSOR_MTFS)
    assert set(CLASSIFIER_ARCHITECTURES) == {*ARCHITECTURES, *EFFICIENTNET_VARIANTS}


def test_command_line_flags_come_from_the_catalogue():
    from geodistill.models.cli.tools import TOOLS

    flags = {name: [option.flag for option in tool.options] for name, tool in TOOLS.items()}
    assert flags == {
        "pansharpen": ["--model", "--device", "--tile-size", "--overlap", "--pan-band", "--method",
                       "--adapt-iterations", "--sensor"],
        "dehaze": ["--model", "--device", "--tile-size", "--overlap", "--bands"],
        "segment": ["--model", "--device", "--tile-size", "--overlap", "--bands"],
        "classify": ["--model", "--device", "--bands", "--chip-size", "--stride"],
    }
    kinds = {option.name: option.kind for tool in TOOLS.values() for option in tool.options}
    assert kinds["PAN_BAND"] == "int" and kinds["BANDS"] == "bands" and kinds["METHOD"] == "text"
    for tool in TOOLS.values():
        for option in tool.options:
            assert option.field == tool.task.parameter(option.name).field


def test_the_command_line_and_the_task_functions_default_as_the_processing_tools_do():
    from geodistill.models.cli.tools import TOOLS

    for tool in TOOLS.values():
        request_class, _ = tool.task.engine()
        defaults = {field.name: field.default for field in dataclasses.fields(request_class)
                    if field.default is not dataclasses.MISSING}
        for parameter in tool.task.parameters:
            if parameter.field in defaults and parameter.default is not None:
                assert defaults[parameter.field] == parameter.default, (tool.name, parameter.name)
