"""``python -m supatenant``: the ``supatenant`` command."""

import sys

from supatenant.cli import main

sys.exit(main())
