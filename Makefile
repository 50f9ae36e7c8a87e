# GeoDistill developer commands. Each target prepares the environment first (Debian packages,
# .venv with pinned requirements) so it works on a fresh Debian 12 machine.
PYTHON := .venv/bin/python
export QT_QPA_PLATFORM ?= offscreen

.PHONY: env test test-fast demo screenshots zip repo benchmarks clean

env:
	@bash scripts/setup_env.sh

test: env
	$(PYTHON) -m pytest -q

# the suite without the tests marked slow (training runs, clusters, real QGIS windows)
test-fast: env
	$(PYTHON) -m pytest -q -m "not slow"

demo: env
	$(PYTHON) scripts/demo.py --out demo_out

# pictures of the demo's results and of the panel in a real QGIS window (Xvfb) -> docs/screenshots/
screenshots:
	@/usr/bin/python3 scripts/screenshots.py --demo demo_out --out docs/screenshots --panel

zip:
	@/usr/bin/python3 scripts/build_zip.py --out dist

# a plugin repository in dist/ (zip + plugins.xml); BASE_URL=https://host/path/ when it is served
repo:
	@/usr/bin/python3 scripts/build_repo.py --out dist $(if $(BASE_URL),--base-url $(BASE_URL))

benchmarks: env
	mkdir -p benchmarks/out
	for name in engine pansharpen dehaze segment classify; do $(PYTHON) benchmarks/$$name.py --out benchmarks/out/$$name.json || exit 1; done

clean:
	rm -rf dist demo_out benchmarks/out .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
