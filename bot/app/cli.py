"""The ``guahao`` command line (SPEC §2): one parser, one handler per command.

A user mistake prints one line and exits non-zero; a traceback is only for a bug.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from bot.config import Config, load_config
from bot.errors import GuahaoError, NotAvailableError

EXIT_ERROR = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace, Config], int]


def _not_yet(command: str) -> Handler:
    def handler(args: argparse.Namespace, config: Config) -> int:
        raise NotAvailableError(f"'guahao {command}' is not available yet in this version")

    return handler


def _check_config(args: argparse.Namespace, config: Config) -> int:
    where = str(config.path) if config.path else "built-in defaults"
    channels = [name for name, on in (("wechat", config.wechat.enabled), ("sms", True)) if on]
    print(
        f"config OK ({where}): policy {config.policy_preset}, {len(config.hospitals)} hospital(s), "
        f"channels: {', '.join(channels)}, redis: {config.redis.url or 'embedded in ' + config.redis.data_dir}"
    )
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line (no usage dump) and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The full command tree of SPEC §2, each command with ``--config``."""
    common = _Parser(add_help=False)
    common.add_argument("--config", metavar="F", help="config file (default ./config.toml, else built-in defaults)")
    parser = _Parser(prog="guahao", description="挂号 guahao — a hospital booking chat bot (WeChat + SMS).")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    serve = commands.add_parser("serve", parents=[common], help="web server and background worker in one process group")
    serve.add_argument("--demo", action="store_true", help="demo hospitals, a 7-day schedule and the web simulator")
    serve.add_argument("--host", help="listen address (default server.host)")
    serve.add_argument("--port", type=int, help="listen port (default server.port)")
    serve.set_defaults(handler=_not_yet("serve"))

    worker = commands.add_parser("worker", parents=[common], help="the background worker alone (for production)")
    worker.set_defaults(handler=_not_yet("worker"))

    chat = commands.add_parser("chat", parents=[common], help="talk to the bot in the terminal")
    chat.add_argument("--user", metavar="ID", help="console user id (default: your login name)")
    chat.set_defaults(handler=_not_yet("chat"))

    schedule = commands.add_parser("schedule", help="manage the schedule of slots")
    schedule_commands = schedule.add_subparsers(dest="schedule_command", metavar="ACTION", parser_class=_Parser)
    schedule_import = schedule_commands.add_parser(
        "import", parents=[common], help="load slots from a CSV file (idempotent)"
    )
    schedule_import.add_argument("file", metavar="FILE.csv")
    schedule_import.set_defaults(handler=_not_yet("schedule import"))

    broadcast = commands.add_parser("broadcast", parents=[common], help="notify every patient booked there")
    broadcast.add_argument("--hospital", required=True, metavar="H")
    broadcast.add_argument("--department", metavar="D")
    broadcast.add_argument("--doctor", metavar="X")
    broadcast.add_argument("--date", required=True, metavar="YYYY-MM-DD")
    broadcast.add_argument("--text", required=True, metavar="T")
    broadcast.add_argument("--cancel", action="store_true", help="also cancel those appointments (by the hospital)")
    broadcast.set_defaults(handler=_not_yet("broadcast"))

    checkin = commands.add_parser("checkin", parents=[common], help="mark an appointment attended")
    checkin.add_argument("serial", metavar="SERIAL")
    checkin.set_defaults(handler=_not_yet("checkin"))

    menu = commands.add_parser("wechat-menu", parents=[common], help="create the official account's custom menu")
    menu.set_defaults(handler=_not_yet("wechat-menu"))

    check = commands.add_parser("check-config", parents=[common], help="validate the configuration and exit")
    check.set_defaults(handler=_check_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``guahao`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        config = load_config(args.config)
        return handler(args, config)
    except GuahaoError as exc:
        print(f"guahao: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
