"""`python -m models.cli`: the geodistill command line."""
import sys

from .main import main

sys.exit(main())
