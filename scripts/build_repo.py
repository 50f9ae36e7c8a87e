"""Build a QGIS plugin repository in dist/: the plugin zip and the plugins.xml that lists it.

Add the folder (file:///.../dist/plugins.xml) or the URL it is served from as a repository in
Plugins > Manage and Install Plugins > Settings; QGIS then installs GeoDistill from the list
and offers each newer version built here as an update.
Usage: python3 scripts/build_repo.py [--out DIR] [--base-url URL]
"""
from __future__ import annotations

import argparse
import configparser
import datetime
import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from build_zip import ROOT, TOP_FOLDER, build_zip

REPOSITORY_FILE = "plugins.xml"
#: plugins.xml element -> metadata.txt key, for the elements copied as they are
COPIED_FIELDS = {"description": "description", "about": "about", "homepage": "homepage",
                 "author_name": "author", "author_email": "email", "tracker": "tracker",
                 "repository": "repository", "tags": "tags", "category": "category",
                 "changelog": "changelog", "experimental": "experimental",
                 "deprecated": "deprecated", "server": "server"}


def read_metadata() -> configparser.SectionProxy:
    """The [general] section of the plugin's metadata.txt."""
    metadata = configparser.ConfigParser(interpolation=None)
    metadata.read(ROOT / "metadata.txt", encoding="utf-8")
    return metadata["general"]


def full_version(version: str) -> str:
    """A QGIS version as x.y.z ("3.22" -> "3.22.0"), as the official repository writes it."""
    parts = version.strip().split(".")
    return ".".join(parts + ["0"] * (3 - len(parts)))


def plugin_element(general, file_name: str, base_url: str, icon: str) -> ElementTree.Element:
    """The <pyqgis_plugin> entry QGIS's plugin installer reads."""
    today = datetime.date.today().isoformat()
    entry = ElementTree.Element("pyqgis_plugin", name=general["name"], version=general["version"])
    fields = {key: general.get(source, "").strip() for key, source in COPIED_FIELDS.items()}
    fields.update({
        "version": general["version"],
        "qgis_minimum_version": full_version(general["qgisMinimumVersion"]),
        "qgis_maximum_version": full_version(general.get("qgisMaximumVersion", "3.99")),
        "file_name": file_name,
        "download_url": base_url + file_name,
        "icon": base_url + icon,
        "uploaded_by": general["author"],
        "create_date": today,
        "update_date": today,
        "trusted": "False",
    })
    for key, value in fields.items():
        ElementTree.SubElement(entry, key).text = value
    return entry


def build_repository(out_dir: Path, base_url: str | None = None) -> Path:
    """Write the zip (named `<plugin folder>.<version>.zip`: QGIS takes the plugin's folder name
    from the file name up to its first dot), the icon and plugins.xml; return plugins.xml."""
    general = read_metadata()
    out_dir = out_dir.resolve()
    base_url = base_url or out_dir.as_uri()
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    built = build_zip(out_dir)
    file_name = f"{TOP_FOLDER}.{general['version']}.zip"
    built.replace(out_dir / file_name)
    icon = ROOT / general["icon"]
    shutil.copyfile(icon, out_dir / f"{TOP_FOLDER}{icon.suffix}")
    plugins = ElementTree.Element("plugins")
    plugins.append(plugin_element(general, file_name, base_url, f"{TOP_FOLDER}{icon.suffix}"))
    ElementTree.indent(plugins)
    target = out_dir / REPOSITORY_FILE
    partial = target.with_suffix(".xml.partial")
    ElementTree.ElementTree(plugins).write(partial, encoding="UTF-8", xml_declaration=True)
    partial.replace(target)
    return target


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--base-url", default=None,
                        help="URL the folder is served from (default: the folder as a file:// URL)")
    arguments = parser.parse_args()
    print(build_repository(arguments.out, arguments.base_url))
