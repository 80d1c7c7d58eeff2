"""``python -m galmix`` runs the command line."""

import sys

from galmix.cli import main

sys.exit(main())
