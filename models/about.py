"""The plugin's own metadata.txt: its version goes into model cards, reports and the provider."""
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


def created_by() -> str:
    """What model cards and reports record as their creator, e.g. "GeoDistill 0.1.0"."""
    return f"GeoDistill {plugin_version()}"
