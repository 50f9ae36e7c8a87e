"""Missing packs: without torch the plugin loads quietly and only training needs it; without
onnxruntime the plugin warns once and inference algorithms name the 'Run models' pack."""
import sys

import pytest
from qgis.core import Qgis, QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback

from geodistill.plugin import deps


def unimportable(monkeypatch, module):
    """Make `import module` fail as it does where the package is not installed."""
    for name in [n for n in sys.modules if n == module or n.startswith(f"{module}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)


@pytest.fixture
def torch_unimportable(monkeypatch):
    unimportable(monkeypatch, "torch")


@pytest.fixture
def onnxruntime_unimportable(monkeypatch):
    unimportable(monkeypatch, "onnxruntime")


def load_plugin(qgis_iface):
    import geodistill

    qgis_iface.messageBar().clear_messages()
    plugin = geodistill.classFactory(qgis_iface)
    plugin.initGui()
    return plugin, qgis_iface.messageBar().get_messages(Qgis.Warning)


def test_plugin_loads_without_warning_when_only_torch_is_missing(torch_unimportable, qgis_iface):
    plugin, warnings = load_plugin(qgis_iface)
    try:
        assert not any("GeoDistill needs" in w for w in warnings), warnings
        assert plugin.provider is not None and plugin.provider.algorithms()
    finally:
        plugin.unload()


def test_plugin_warns_when_onnxruntime_is_missing(onnxruntime_unimportable, qgis_iface):
    plugin, warnings = load_plugin(qgis_iface)
    try:
        assert any("'onnxruntime'" in w and "'Run models' pack" in w and "onnxruntime==1.32.0" in w
                   for w in warnings), warnings
    finally:
        plugin.unload()


def dependency_errors(provider) -> dict[str, str]:
    """Each algorithm's error when run with no parameters (dependency errors come first)."""
    errors = {}
    for algorithm in provider.algorithms():
        try:
            algorithm.create().processAlgorithm({}, QgsProcessingContext(), QgsProcessingFeedback())
        except QgsProcessingException as error:
            errors[algorithm.name()] = str(error)
    return errors


INFERENCE = {"pansharpen", "dehaze", "segment", "classify_scenes", "diagnostics"}


def test_only_training_and_evaluation_need_torch(torch_unimportable, geodistill_provider):
    errors = dependency_errors(geodistill_provider)
    for name in {a.name() for a in geodistill_provider.algorithms()} - INFERENCE:
        assert "'torch'" in errors[name] and "'Train models' pack" in errors[name], (name, errors.get(name))
        assert "torch==2.13.0" in errors[name]
    for name in INFERENCE:
        assert "'torch'" not in errors.get(name, ""), (name, errors[name])


def test_inference_names_the_run_pack_without_onnxruntime(onnxruntime_unimportable, geodistill_provider):
    errors = dependency_errors(geodistill_provider)
    for name in INFERENCE:
        assert "'onnxruntime'" in errors[name] and "'Run models' pack" in errors[name], name


def test_packs_list_their_pinned_requirements():
    run = [d.requirement for d in deps.pack_dependencies(deps.RUN_PACK)]
    train = [d.requirement for d in deps.pack_dependencies(deps.TRAIN_PACK)]
    assert "onnxruntime==1.32.0" in run and not any(r.startswith("torch") for r in run)
    assert set(run) < set(train) and "torch==2.13.0" in train
