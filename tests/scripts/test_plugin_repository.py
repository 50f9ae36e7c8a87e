"""`make repo` builds a plugin repository QGIS's plugin manager reads: plugins.xml is parsed
by QGIS's own installer code (pyplugin_installer), and the entry points at the zip beside it."""
import configparser
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
import zipfile
from pathlib import Path

import pytest

from support import ROOT

QGIS_PYTHON = "/usr/share/qgis/python"


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("repo")
    result = subprocess.run(["/usr/bin/python3", "scripts/build_repo.py", "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return out


def metadata():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "metadata.txt", encoding="utf-8")
    return parser["general"]


def test_plugins_xml_has_the_fields_qgis_reads(repository):
    entries = ElementTree.parse(repository / "plugins.xml").getroot().findall("pyqgis_plugin")
    assert len(entries) == 1
    entry, general = entries[0], metadata()
    assert entry.get("name") == general["name"] == "GeoDistill"
    assert entry.get("version") == entry.findtext("version") == general["version"]
    assert entry.findtext("qgis_minimum_version") == "3.22.0"
    assert entry.findtext("about") == general["about"].strip()
    file_name = entry.findtext("file_name")
    assert file_name.partition(".")[0] == "geodistill"  # QGIS's plugin id: the name up to its first dot
    assert entry.findtext("download_url") == (repository / file_name).as_uri()
    with zipfile.ZipFile(repository / file_name) as archive:
        packed = configparser.ConfigParser(interpolation=None)
        packed.read_string(archive.read("geodistill/metadata.txt").decode())
    assert packed["general"]["version"] == general["version"]


def test_qgis_plugin_installer_lists_the_plugin(repository, qgis_app, qtbot):
    """The repository is fetched and parsed as Plugins > Manage and Install Plugins does."""
    if not Path(QGIS_PYTHON, "pyplugin_installer").is_dir():
        pytest.skip("QGIS's pyplugin_installer is not installed")
    sys.path.append(QGIS_PYTHON)
    from pyplugin_installer import installer_data

    repositories, plugins = installer_data.repositories, installer_data.plugins
    key = "GeoDistill test repository"
    repositories.mRepositories[key] = {
        "url": (repository / "plugins.xml").as_uri(), "authcfg": "", "enabled": True, "valid": True,
        "Relay": installer_data.Relay(key), "xmlData": None, "error": "",
        "state": installer_data.Repositories.STATE_DISABLED}
    try:
        with qtbot.waitSignal(repositories.repositoryFetched, timeout=30000):
            repositories.requestFetching(key)
        assert repositories.mRepositories[key]["state"] == installer_data.Repositories.STATE_LOADED, \
            repositories.mRepositories[key]["error"]
        listed = plugins.repoCache[key]  # only plugins compatible with this QGIS are listed
        assert [plugin["id"] for plugin in listed] == ["geodistill"]
        plugin, general = listed[0], metadata()
        assert plugin["name"] == "GeoDistill" and plugin["version_available"] == general["version"]
        assert plugin["about"] == general["about"].strip()
        assert Path(plugin["download_url"].removeprefix("file://")).is_file()
        assert plugin["filename"] == f"geodistill.{general['version']}.zip"
    finally:
        repositories.mRepositories.pop(key, None)
        plugins.repoCache.pop(key, None)
