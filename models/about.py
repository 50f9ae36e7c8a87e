"""Read values from the plugin's metadata.txt (version shown in the provider and reports)."""
from __future__ import annotations

import configparser
from functools import lru_cache
from pathlib import Path

METADATA_PATH = Path(__file__).resolve().parents[1] / "metadata.txt"


@lru_cache(maxsize=1)
def read_metadata() -> dict[str, str]:
    """The [general] section of metadata.txt as a dict."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(METADATA_PATH, encoding="utf-8")
    return dict(parser["general"])


def plugin_version() -> str:
    """The plugin version from metadata.txt."""
    return read_metadata().get("version", "unknown")
