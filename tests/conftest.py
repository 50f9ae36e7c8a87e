"""Test bootstrap: the repository root is the plugin package, imported as `geodistill`.

The checkout folder may have any name (CI clones into a folder that is not a Python
identifier), so a link named `geodistill` to the root is made in a temporary folder that goes
first on `sys.path`; plugin and tests then import `geodistill.models` / `geodistill.plugin`
exactly as QGIS imports the installed plugin.
"""
import hashlib
import os
import sys
import tempfile
from pathlib import Path

import pytest

from support import ROOT

_link_parent = Path(tempfile.gettempdir()) / f"geodistill-import-{os.getuid()}-{hashlib.md5(str(ROOT).encode()).hexdigest()[:8]}"
_link_parent.mkdir(exist_ok=True)
_link = _link_parent / "geodistill"
if not _link.is_symlink() or _link.resolve() != ROOT:
    if _link.is_symlink():
        _link.unlink()
    _link.symlink_to(ROOT, target_is_directory=True)
sys.path.insert(0, str(_link_parent))


@pytest.fixture
def geodistill_provider(qgis_app, qgis_processing):
    """The GeoDistill provider registered as qgis_process would (initProcessing, no iface)."""
    import geodistill
    from qgis.core import QgsApplication

    plugin = geodistill.classFactory(None)
    plugin.initProcessing()
    yield QgsApplication.processingRegistry().providerById("geodistill")
    plugin.unload()


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny nets train fastest (and steadiest on a shared 2-core machine) on one thread; a
    module asks for it with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def chip_folder(tmp_path_factory):
    """A small labelled chip folder (three classes, 14 chips of 32 px each)."""
    from classification_scenes import write_chip_folder

    return write_chip_folder(tmp_path_factory.mktemp("chips"), per_class=14, size=32)
