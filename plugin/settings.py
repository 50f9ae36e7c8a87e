"""GeoDistill's remembered choices, kept with `QgsSettings` under "GeoDistill/".

Last model per tool, tile size, device, the user's model folder, the results folder, and the
folder the dependency installer puts Python packages in. Models and packages default to folders
in the QGIS profile; results default to a folder beside the project (or in the user's home),
where they outlast QGIS being closed.
"""
from __future__ import annotations

from pathlib import Path

from qgis.core import QgsApplication, QgsSettings

PREFIX = "GeoDistill"
DEFAULT_TILE_SIZE = 512
DEFAULT_DEVICE = "auto"


def _settings() -> QgsSettings:
    return QgsSettings()


def _key(*parts: str) -> str:
    return "/".join((PREFIX, *parts))


def profile_folder() -> Path:
    """The GeoDistill folder inside the active QGIS profile (models, installed packages)."""
    return Path(QgsApplication.qgisSettingsDirPath()) / "geodistill"


def default_user_model_folder() -> Path:
    """Where user models go unless the settings say otherwise."""
    return profile_folder() / "models"


def packages_folder() -> Path:
    """The folder owned by the plugin that the installer puts Python packages into."""
    return profile_folder() / "python"


def user_model_folder() -> Path:
    """The user's model folder (created on first use)."""
    value = _settings().value(_key("user_model_folder"), "")
    folder = Path(value) if value else default_user_model_folder()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def set_user_model_folder(folder: str | Path) -> None:
    """Remember the user's model folder."""
    _settings().setValue(_key("user_model_folder"), str(folder))


def output_folder(project_home: str = "") -> Path:
    """Where the panel saves results left without a path: the folder chosen in the panel, else
    `default_output_folder`."""
    chosen = chosen_output_folder()
    return Path(chosen) if chosen else default_output_folder(project_home)


def default_output_folder(project_home: str = "") -> Path:
    """A `geodistill` folder beside the saved project, else `GeoDistill` in the user's home."""
    return Path(project_home) / "geodistill" if project_home else Path.home() / "GeoDistill"


def chosen_output_folder() -> str:
    """The results folder chosen in the panel ("" when none was)."""
    return str(_settings().value(_key("output_folder"), "") or "")


def set_output_folder(folder: str | Path) -> None:
    """Remember the results folder ("" goes back to the default)."""
    _settings().setValue(_key("output_folder"), str(folder) if folder else "")


def last_model(tool: str) -> str:
    """The model last chosen on the page of `tool` ("" when none was)."""
    return str(_settings().value(_key("last_model", tool), ""))


def set_last_model(tool: str, model: str) -> None:
    """Remember the model chosen on the page of `tool`."""
    _settings().setValue(_key("last_model", tool), model)


def tile_size() -> int:
    """The tile size used for new runs (pixels)."""
    try:
        return int(_settings().value(_key("tile_size"), DEFAULT_TILE_SIZE))
    except (TypeError, ValueError):
        return DEFAULT_TILE_SIZE


def set_tile_size(value: int) -> None:
    """Remember the tile size."""
    _settings().setValue(_key("tile_size"), int(value))


def device() -> str:
    """The device choice: auto, cpu or cuda:N."""
    return str(_settings().value(_key("device"), DEFAULT_DEVICE)) or DEFAULT_DEVICE


def set_device(value: str) -> None:
    """Remember the device choice."""
    _settings().setValue(_key("device"), value)


def ask_to_install() -> bool:
    """Whether the installer dialog may open by itself when dependencies are missing."""
    return str(_settings().value(_key("ask_to_install"), "true")).lower() == "true"


def set_ask_to_install(value: bool) -> None:
    """Remember whether the installer dialog may open by itself."""
    _settings().setValue(_key("ask_to_install"), "true" if value else "false")
