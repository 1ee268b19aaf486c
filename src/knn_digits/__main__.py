"""``python -m knn_digits`` runs the CLI."""

import sys

from .cli import main

sys.exit(main())
