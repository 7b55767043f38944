"""``python -m telemedroom`` runs the command line."""

import sys

from telemedroom.cli import main

sys.exit(main())
