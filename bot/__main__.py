"""``python -m bot`` is the ``guahao`` command."""

import sys

from bot.app.cli import main

sys.exit(main())
