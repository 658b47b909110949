"""A process that runs the archive (``bot.archive.Archive.run``) on the services of a config file, in small batches
so that a test can SIGKILL it mid-way.

    python -m tests.archive_process CONFIG BATCH
"""

from __future__ import annotations

import sys
from datetime import timedelta

from bot import archive
from bot.clock import ManualClock
from bot.config import load_config
from bot.storage.runtime import connect
from tests.support import NOW


def main() -> None:
    config = load_config(sys.argv[1])
    archive.BATCH = int(sys.argv[2])  # small batches: many fsyncs, a run long enough to be killed in
    days = int(sys.argv[3])
    client = connect(config.redis.url)
    done = archive.Archive(client, config, ManualClock(NOW + timedelta(days=days))).run()
    sys.stdout.write(f"{done}\n")


if __name__ == "__main__":
    main()
