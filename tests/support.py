"""Paths and runners shared by tests in any folder (a plain module: `conftest` names clash
between folders)."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
"""The repository root, which is the plugin folder."""


def qgis_process_runner(plugin_parent: Path, profile: Path):
    """A function running `qgis_process.bin ARGS` with GeoDistill installed from `plugin_parent`.

    Debian's /usr/bin/qgis_process wrapper adds QGIS_OPTS=--noversioncheck, which QGIS 3.22's
    qgis_process.bin rejects, so the binary is called directly. The plugin is enabled in a
    throw-away profile, and the venv's packages (torch ...) are put on PYTHONPATH.
    """
    import subprocess
    import sysconfig

    settings = profile / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text("[PythonPlugins]\ngeodistill=true\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QGIS_PLUGINPATH=str(plugin_parent),
               QGIS_CUSTOM_CONFIG_PATH=str(profile),
               PYTHONPATH=sysconfig.get_paths()["purelib"])
    env.pop("QGIS_OPTS", None)

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(["qgis_process.bin", *args], env=env, capture_output=True,
                              text=True, timeout=timeout)

    return run
