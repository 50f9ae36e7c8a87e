"""`make zip` builds a zip the QGIS plugin repository accepts, and QGIS can load it:
qgis_process lists every algorithm and shows their help."""
import configparser
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from support import ROOT, qgis_process_runner

REQUIRED_METADATA = ("name", "qgisMinimumVersion", "description", "about", "version", "author",
                     "email", "repository", "tracker", "homepage", "tags", "icon",
                     "hasProcessingProvider", "supportsQt6", "experimental", "changelog")


@pytest.fixture(scope="module")
def plugin_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(["make", "zip"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    built = sorted((ROOT / "dist").glob("geodistill-*.zip"))
    assert built, "make zip wrote no dist/geodistill-<version>.zip"
    target = out / built[-1].name
    target.write_bytes(built[-1].read_bytes())
    return target


@pytest.fixture(scope="module")
def extracted(plugin_zip, tmp_path_factory) -> Path:
    parent = tmp_path_factory.mktemp("plugins")
    with zipfile.ZipFile(plugin_zip) as archive:
        archive.extractall(parent)
    return parent


def test_zip_follows_repository_rules(plugin_zip):
    with zipfile.ZipFile(plugin_zip) as archive:
        names = archive.namelist()
        metadata_text = archive.read("geodistill/metadata.txt").decode()
    assert plugin_zip.stat().st_size < 25 * 1024 * 1024
    bundled = sorted((ROOT / "resources" / "models").glob("*.safetensors"))
    assert all(f"geodistill/resources/models/{p.stem}.onnx" in names for p in bundled)
    assert {n.split("/")[0] for n in names} == {"geodistill"}
    assert "geodistill".isidentifier()
    assert "geodistill/LICENSE" in names and "geodistill/__init__.py" in names
    assert not [n for n in names if n.endswith((".pyc", ".pyo")) or "__pycache__" in n]
    assert not [n for n in names if n.startswith(("geodistill/tests/", "geodistill/benchmarks/",
                                                  "geodistill/.ci/", "geodistill/.git"))]
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(metadata_text)
    general = parser["general"]
    for key in REQUIRED_METADATA:
        assert general.get(key, "").strip(), f"metadata.txt lacks '{key}'"
    assert general["qgisMinimumVersion"] == "3.22"
    assert general["hasProcessingProvider"] == "yes"
    assert general["supportsQt6"] == "True"
    for package in ("torch", "rasterio", "safetensors"):
        assert package in general["about"]
    assert f"geodistill/{general['icon']}" in names


def test_qgis_loads_extracted_zip(extracted, tmp_path):
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "from qgis.core import QgsApplication\n"
        "app = QgsApplication([], False); app.initQgis()\n"
        "import geodistill\n"
        "assert geodistill.__file__.startswith(%r), geodistill.__file__\n"
        "plugin = geodistill.classFactory(None); plugin.initProcessing()\n"
        "provider = QgsApplication.processingRegistry().providerById('geodistill')\n"
        "print(sorted(a.id() for a in provider.algorithms()))\n"
        "plugin.unload(); app.exitQgis()\n"
    ) % (str(extracted), str(extracted))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin",
                                 "HOME": str(tmp_path)}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "geodistill:diagnostics" in result.stdout


def test_qgis_process_lists_every_algorithm_and_shows_help(extracted, tmp_path, geodistill_provider):
    run = qgis_process_runner(extracted, tmp_path / "profile")
    listing = run("list")
    assert listing.returncode == 0, listing.stderr
    listed = {word for line in listing.stdout.splitlines() for word in line.split()
              if word.startswith("geodistill:")}
    assert listed == {algorithm.id() for algorithm in geodistill_provider.algorithms()}
    shown = run("help", "geodistill:pansharpen")
    assert shown.returncode == 0, shown.stderr
    assert "(geodistill:pansharpen)" in shown.stdout
    assert "Arguments" in shown.stdout and "OUTPUT" in shown.stdout
