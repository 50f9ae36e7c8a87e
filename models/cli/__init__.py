"""The `geodistill` command line: the Processing tools run over many scenes without QGIS, in
one process or as tasks on a Dask cluster (see docs/cli.md)."""
