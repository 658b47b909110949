"""``python -m app`` is the ``guahao`` command."""

import sys

from app.cli import main

sys.exit(main())
