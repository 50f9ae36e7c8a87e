"""Without torch the plugin still loads, warns once, and algorithms fail with an install hint."""
import sys

import pytest
from qgis.core import Qgis, QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback


@pytest.fixture
def torch_unimportable(monkeypatch):
    """Make `import torch` fail as it does where torch is not installed."""
    for name in [n for n in sys.modules if n == "torch" or n.startswith("torch.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)


def test_plugin_loads_and_warns_without_torch(torch_unimportable, qgis_iface):
    import geodistill

    qgis_iface.messageBar().clear_messages()
    plugin = geodistill.classFactory(qgis_iface)
    plugin.initGui()
    try:
        warnings = qgis_iface.messageBar().get_messages(Qgis.Warning)
        assert any("'torch'" in w and "pip install" in w for w in warnings), warnings
        assert plugin.provider is not None and plugin.provider.algorithms()
    finally:
        plugin.unload()


def test_every_algorithm_names_missing_torch(torch_unimportable, geodistill_provider):
    context = QgsProcessingContext()
    feedback = QgsProcessingFeedback()
    for algorithm in geodistill_provider.algorithms():
        instance = algorithm.create()
        with pytest.raises(QgsProcessingException) as raised:
            instance.processAlgorithm({}, context, feedback)
        message = str(raised.value)
        assert "'torch'" in message and "pip install" in message, (algorithm.id(), message)
