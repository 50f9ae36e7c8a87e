#!/usr/bin/env bash
# Prepare everything `make test` / `make demo` need on Debian 12, then leave .venv ready.
# Installs the Debian packages that are missing (as root; otherwise prints the command and
# stops), creates .venv from /usr/bin/python3 with --system-site-packages (QGIS, PyQt5,
# rasterio and numpy come from Debian) and pip-installs the pinned requirements into it, and
# installs the `geodistill` command line as .venv/bin/geodistill.
# A second run finds everything in place and returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(qgis python3-qgis qgis-providers python3-pyqt5 python3-rasterio python3-gdal
              gdal-bin python3-venv python3-pip xvfb xauth)
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  command="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "GeoDistill needs these Debian packages: ${missing[*]}" >&2
    echo "Run as root:  $command" >&2
    exit 1
  fi
  echo "Installing Debian packages: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The command line runs this plugin folder's `models` package: found from the launcher's own
# path (.venv/bin/geodistill -> ../..), so it also serves a checkout whose .venv is a link.
install_launcher() {
  local launcher=.venv/bin/geodistill content
  content='#!/bin/sh
# geodistill: the GeoDistill command line (see docs/cli.md); written by scripts/setup_env.sh
bin="$(dirname "$0")"
root="$(cd "$bin/../.." && pwd)"
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" exec "$bin/python" -m models.cli "$@"'
  if [ ! -f "$launcher" ] || [ "$(cat "$launcher")" != "$content" ]; then
    printf '%s\n' "$content" > "$launcher"
    chmod +x "$launcher"
  fi
}

stamp=.venv/.requirements-installed
wanted=$(cat requirements.txt requirements-dev.txt scripts/constraints.txt | sha256sum | cut -c1-16)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  install_launcher
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv (system site packages visible: QGIS, PyQt5, rasterio, numpy)"
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
.venv/bin/python -m pip install -q -r requirements-dev.txt -c scripts/constraints.txt
echo "$wanted" > "$stamp"
install_launcher
