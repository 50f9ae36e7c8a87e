"""Everything in GeoDistill that touches QGIS or Qt: plugin class, Processing provider and
algorithms, dock and dialogs, dependency checks, layer styling. Imports go one way:
`plugin` -> `models`, never back."""
