"""The ``guahao`` command line (SPEC §2): one parser, one handler per command.

A user mistake prints one line and exits non-zero; a traceback is only for a bug.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bot.app.chat import run_chat
from bot.app.services import Services, open_services
from bot.audit import staff_actor
from bot.config import Config, load_config
from bot.errors import GuahaoError, NotAvailableError
from bot.schedule import parse_schedule_csv

EXIT_ERROR = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace, Config], int]


def _not_yet(command: str) -> Handler:
    def handler(args: argparse.Namespace, config: Config) -> int:
        raise NotAvailableError(f"'guahao {command}' is not available yet in this version")

    return handler


def _staff_actor() -> str:
    """The audit actor of a staff command run from this terminal."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return staff_actor(f"cli-{user}")


def _schedule_import(args: argparse.Namespace, config: Config) -> int:
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise GuahaoError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GuahaoError(f"cannot read {path}: {exc}") from None
    with _services(config) as services:
        result = services.schedule.import_rows(parse_schedule_csv(text, config))
    print(f"imported {result.accepted} slots ({result.created} new, {result.updated} updated) from {path}")
    return 0


def _checkin(args: argparse.Namespace, config: Config) -> int:
    with _services(config) as services:
        appointment = services.standing.checkin(args.serial, _staff_actor())
    print(f"{appointment.serial}: attended (queue no. {appointment.queue_no}, {appointment.date} {appointment.start})")
    return 0


def _sweep(args: argparse.Namespace, config: Config) -> int:
    with _services(config) as services:
        marked = services.standing.sweep_no_shows()
    print(f"no-show sweep: {marked} appointment(s) marked no_show")
    return 0


@contextmanager
def _services(config: Config) -> Iterator[Services]:
    services = open_services(config)
    try:
        yield services
    finally:
        services.close()


def _chat(args: argparse.Namespace, config: Config) -> int:
    with _services(config) as services:
        return run_chat(services, args.user)


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
    chat.set_defaults(handler=_chat)

    schedule = commands.add_parser("schedule", help="manage the schedule of slots")
    schedule_commands = schedule.add_subparsers(dest="schedule_command", metavar="ACTION", parser_class=_Parser)
    schedule_commands.required = True
    schedule_import = schedule_commands.add_parser(
        "import", parents=[common], help="load slots from a CSV file (idempotent)"
    )
    schedule_import.add_argument("file", metavar="FILE.csv")
    schedule_import.set_defaults(handler=_schedule_import)

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
    checkin.set_defaults(handler=_checkin)

    sweep = commands.add_parser("sweep", parents=[common], help="mark missed appointments as no-shows now")
    sweep.set_defaults(handler=_sweep)

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
    # long-running commands log their life; one-shot commands keep stderr for the one line that matters
    level = logging.INFO if args.command in ("serve", "worker") else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
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
