"""The ``guahao`` command line (SPEC §2): one parser, one handler per command.

A user mistake prints one line and exits non-zero; a traceback is only for a bug.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import requests
from wechatpy.exceptions import WeChatClientException

import rules
from adapters.console.chat import run_chat
from adapters.console.simulator import warn_if_exposed
from adapters.wechat import qrcode
from adapters.wechat.push import TokenUnavailableError, WeChatApi, create_menu
from app.demo import demo_config_layer
from app.logs import setup_logging
from app.serve import serve
from app.services import build_engine, open_services
from app.worker import run_worker
from bot.archive import KINDS, Archive, archive_directory
from bot.archive_files import ArchiveFiles
from bot.audit import staff_actor
from bot.broadcasts import BroadcastProgress, BroadcastStatus
from bot.config import (
    PATH_VARIABLE,
    Config,
    describe_config,
    load_config,
    mainland_warnings,
    redacted_url,
    twilio_warnings,
)
from bot.errors import GuahaoError
from bot.export import Exporter, ExportRequest
from bot.schedule import parse_schedule_csv
from bot.services import Services
from bot.storage.runtime import wait_until_reachable

EXIT_ERROR = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace, Config], int]


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
        result = services.schedule.import_rows(parse_schedule_csv(text, config), actor=_staff_actor())
    print(f"imported {result.accepted} slots ({result.created} new, {result.updated} updated) from {path}")
    return 0


def _checkin(args: argparse.Namespace, config: Config) -> int:
    with _services(config) as services:
        appointment = services.standing.checkin(args.serial, _staff_actor())
    print(f"{appointment.serial}: attended (queue no. {appointment.queue_no}, {appointment.date} {appointment.start})")
    return 0


def _serve(args: argparse.Namespace, config: Config) -> int:
    warn_if_exposed(config, args.host or config.server.host)
    # the worker child reads the very file this process read, however it was found
    path = str(config.path.resolve()) if config.path else None
    return serve(config, demo=args.demo, host=args.host, port=args.port, config_path=path)


def _worker(args: argparse.Namespace, config: Config) -> int:
    with _services(config, wait=True) as services:  # started before its Redis: waits for it, one line a try
        run_worker(services)
    return 0


class _ProgressBar:
    """A plain-text progress bar on stderr: redrawn in place on a terminal, a line per 10 % otherwise."""

    WIDTH = 30

    def __init__(self, total: int) -> None:
        self.total = total
        self.tty = sys.stderr.isatty()
        self._shown = -1

    def update(self, progress: BroadcastProgress) -> None:
        done = progress.processed
        share = done / self.total if self.total else 1.0
        step = int(share * 10)
        if not self.tty and step == self._shown:
            return
        self._shown = step
        filled = int(share * self.WIDTH)
        line = (
            f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{self.total}  "
            f"sent {progress.sent}  failed {progress.failed}  skipped {progress.skipped}"
        )
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def _broadcast(args: argparse.Namespace, config: Config) -> int:
    with _services(config) as services:
        broadcasts = services.broadcasts
        request = broadcasts.validate(args.hospital, args.date, args.text, args.department, args.doctor, args.cancel)
        progress, new = broadcasts.create(request, _staff_actor())
        what = "cancel and notify" if request.cancel else "notify"
        print(f"broadcast {progress.id}: {what} {progress.total} appointment(s)" + ("" if new else " (resuming)"))
        bar = _ProgressBar(progress.total)
        try:
            final = broadcasts.run(progress.id, bar.update)
        except KeyboardInterrupt:
            bar.close()
            print("interrupted: run the same command again to finish this broadcast", file=sys.stderr)
            raise
        bar.close()
    print(
        f"broadcast {final.id} {final.status.value}: {final.sent} sent, {final.failed} failed, "
        f"{final.skipped} skipped (no longer booked) of {final.total}"
    )
    return 0 if final.status == BroadcastStatus.done else EXIT_ERROR


def _wechat_menu(args: argparse.Namespace, config: Config) -> int:
    if not (config.wechat.app_id and config.wechat.app_secret):
        raise GuahaoError("wechat.app_id and wechat.app_secret are needed to create the menu")
    with _services(config) as services:
        try:
            create_menu(WeChatApi(config.wechat, services.redis))
        except WeChatClientException as refused:
            raise GuahaoError(f"WeChat refused the menu: errcode {refused.errcode} {refused.errmsg}") from None
        except (requests.RequestException, TokenUnavailableError) as failed:
            raise GuahaoError(f"cannot reach the WeChat API at {config.wechat.api_base_url}: {failed}") from None
    print("custom menu created: 预约挂号 / 我的预约 / 更多")
    return 0


def _wechat_qrcode(args: argparse.Namespace, config: Config) -> int:
    if not (config.wechat.app_id and config.wechat.app_secret):
        raise GuahaoError("wechat.app_id and wechat.app_secret are needed to create a QR code")
    hospital, department = qrcode.department_of(config, args.department, args.hospital)
    scene = qrcode.scene_of(hospital, department)
    with _services(config) as services:
        try:
            created = qrcode.create_qrcode(WeChatApi(config.wechat, services.redis), scene)
            url = qrcode.image_url(config.wechat, str(created["ticket"]))
            picture = qrcode.fetch_image(url) if args.save else b""
        except WeChatClientException as refused:
            raise GuahaoError(f"WeChat refused the QR code: errcode {refused.errcode} {refused.errmsg}") from None
        except (requests.RequestException, TokenUnavailableError) as failed:
            raise GuahaoError(f"cannot reach the WeChat API at {config.wechat.api_base_url}: {failed}") from None
    if args.save:
        try:
            Path(args.save).write_bytes(picture)
        except OSError as failed:
            raise GuahaoError(f"cannot write {args.save}: {failed.strerror}") from None
    print(f"QR code of {hospital} / {department} (scene {scene}): scanning it opens booking there")
    print(f"code URL: {created.get('url', '')}")
    print(f"image: {url}" + (f" (saved to {args.save})" if args.save else ""))
    return 0


def _sweep(args: argparse.Namespace, config: Config) -> int:
    with _services(config) as services:
        marked = services.standing.sweep_no_shows()
    print(f"no-show sweep: {marked} appointment(s) marked no_show")
    return 0


def _archive(args: argparse.Namespace, config: Config) -> int:
    with _services(config) as services:
        done = Archive(services.redis, config, services.clock).run()
    print(
        f"archive: {done.appointments} appointment(s) and {done.audit} audit entries moved to "
        f"{archive_directory(config)}, {done.slots} past slot(s) dropped"
        + (f", {done.recovered} entries of an interrupted run settled" if done.recovered else "")
    )
    return 0


def _export(args: argparse.Namespace, config: Config) -> int:
    request = ExportRequest(
        kind=args.kind,
        start=args.start,
        end=args.end,
        unmasked=args.unmasked,
        reason=args.reason or "",
        include_redis=args.include_redis,
    )
    request.check()  # before Redis is opened: a mistake costs nothing
    out = Path(args.out) if args.out else None
    if out is not None and not out.parent.is_dir():
        raise GuahaoError(f"--out: no such directory: {out.parent}")
    with _services(config) as services:
        exporter = Exporter(
            services.redis, config, services.clock, services.box, ArchiveFiles(archive_directory(config))
        )
        lines = exporter.export(request, _staff_actor())
        count = 0
        if out is None:
            for line in lines:
                print(json.dumps(line, ensure_ascii=False))
                count += 1
        else:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # may hold personal data: owner only
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                for line in lines:
                    handle.write(json.dumps(line, ensure_ascii=False) + "\n")
                    count += 1
    print(
        f"exported {count} {request.kind} entr{'y' if count == 1 else 'ies'}" + (f" to {out}" if out else ""),
        file=sys.stderr,
    )
    return 0


def _day(value: str) -> date:
    """``--from`` / ``--to``: a YYYY-MM-DD date, checked while parsing."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {value!r}") from None


@contextmanager
def _services(config: Config, *, wait: bool = False) -> Iterator[Services]:
    services = open_services(config, wait=wait)
    try:
        if not wait and services.runtime is not None:  # a one-shot command: a Redis it cannot reach (a wrong
            # redis.url, a server not started) is one line, not a ConnectionError traceback at its first command
            wait_until_reachable(services.redis, redacted_url(services.runtime.url), attempts=1)
        yield services
    finally:
        services.close()


def _chat(args: argparse.Namespace, config: Config) -> int:
    with _services(config) as services:
        return run_chat(services, build_engine(services), args.user)


def _redis_shown(config: Config) -> str:
    redis_config = config.redis
    if redis_config.sentinels:
        ack = f", WAIT for {redis_config.min_replicas_ack} replica(s)" if redis_config.min_replicas_ack else ""
        return f"Sentinel service {redis_config.sentinel_service!r} via {len(redis_config.sentinels)} Sentinel(s){ack}"
    return redacted_url(redis_config.url) if redis_config.url else "embedded in " + redis_config.data_dir


def _check_config(args: argparse.Namespace, config: Config) -> int:
    where = f"{config.path} (from {config.path_from})" if config.path else "no config file: built-in defaults"
    layers = ["defaults", *(["--demo"] if args.demo else []), "file" if config.path else "", "GUAHAO_* env"]
    channels = [name for name, on in (("wechat", config.wechat.enabled), ("sms", True)) if on]
    print(
        f"config OK ({where}): policy {config.policy_preset}, {len(config.hospitals)} hospital(s), "
        f"channels: {', '.join(channels)}, redis: {_redis_shown(config)}"
    )
    print(f"release: {release_summary(config)}")
    print(f"where each part comes from ({' < '.join(layer for layer in layers if layer)}; secrets hidden):")
    parts = describe_config(config)
    width = max(len(part) for part, _, _ in parts)
    for part, shown, source in parts:
        print(f"  {part:<{width}}  {source:<7}  {shown}")
    if not config.hospitals:
        print("note: no hospitals configured, nothing can be booked (add [[hospitals]], or use --demo)")
    for warning in mainland_warnings(config.sms) + twilio_warnings(config.sms):
        print(f"warning: {warning}")
    return 0


def release_summary(config: Config) -> str:
    """How each day's slots are released: first-come, or a lottery window after the release time (RULES §12)."""

    def mode(policy: rules.Policy) -> str:
        if policy.release_mode == "lottery":
            return f"lottery, {policy.lottery_window_seconds} s window from {policy.release_time}"
        return f"first-come from {policy.release_time}"

    own = [f"{h.id}: {mode(h.policy)}" for h in config.hospitals if mode(h.policy) != mode(config.policy)]
    return mode(config.policy) + (f" ({'; '.join(own)})" if own else "")


def _port(text: str) -> int:
    """``--port``: checked while parsing, before anything is loaded or started."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {port}")
    return port


def _host(text: str) -> str:
    """``--host``: a name or an address, not empty."""
    if not text.strip() or text != text.strip():
        raise argparse.ArgumentTypeError(f"expected a host name or address, got {text!r}")
    return text


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line (no usage dump) and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _Commands:
    """Declares the commands of one level of the tree, each with the handler it runs and, unless told otherwise, the
    options of ``parents``."""

    def __init__(self, commands: argparse._SubParsersAction[_Parser], parents: list[_Parser]) -> None:
        self._commands = commands
        self._parents = parents

    def __call__(
        self,
        name: str,
        handler: Handler,
        summary: str,
        *,
        description: str | None = None,
        parents: list[_Parser] | None = None,
    ) -> _Parser:
        command = self._commands.add_parser(
            name, parents=parents or self._parents, help=summary, description=description
        )
        command.set_defaults(handler=handler)
        return command


def build_parser() -> argparse.ArgumentParser:
    """The full command tree of SPEC §2, each command with ``--config``."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--config", metavar="F", help=f"config file (else ${PATH_VARIABLE}, else ./config.toml, else built-in defaults)"
    )
    demo = _Parser(add_help=False, parents=[common])
    demo.add_argument(
        "--demo", action="store_true", help="add the demo hospitals etc. where the config file and env set nothing"
    )
    parser = _Parser(prog="guahao", description="挂号 guahao — a hospital booking chat bot (WeChat + SMS).")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    command = _Commands(commands, [demo])
    serve = command("serve", _serve, "web server and background worker in one process group")
    serve.add_argument("--host", type=_host, help="listen address (default server.host)")
    serve.add_argument("--port", type=_port, help="listen port, 1-65535 (default server.port)")

    command("worker", _worker, "the background worker alone (for production)")

    chat = command("chat", _chat, "talk to the bot in the terminal")
    chat.add_argument("--user", metavar="ID", help="console user id (default: your login name)")

    schedule = commands.add_parser("schedule", help="manage the schedule of slots")
    schedule_commands = schedule.add_subparsers(dest="schedule_command", metavar="ACTION", parser_class=_Parser)
    schedule_commands.required = True
    schedule_import = _Commands(schedule_commands, [demo])(
        "import", _schedule_import, "load slots from a CSV file (idempotent)"
    )
    schedule_import.add_argument("file", metavar="FILE.csv")

    broadcast = command(
        "broadcast",
        _broadcast,
        "notify every patient booked there",
        description="Notify every patient booked at the hospital (+ department, + doctor) on the date, in this "
        "process, with a progress bar. Resumable: if interrupted, run the same command again and the same broadcast "
        "continues; every patient is notified once. (POST /api/staff/broadcasts queues one for 'guahao worker'.)",
    )
    broadcast.add_argument("--hospital", required=True, metavar="H")
    broadcast.add_argument("--department", metavar="D")
    broadcast.add_argument("--doctor", metavar="X")
    broadcast.add_argument("--date", required=True, metavar="YYYY-MM-DD")
    broadcast.add_argument("--text", required=True, metavar="T")
    broadcast.add_argument("--cancel", action="store_true", help="also cancel those appointments (by the hospital)")

    checkin = command("checkin", _checkin, "mark an appointment attended")
    checkin.add_argument("serial", metavar="SERIAL")

    command("sweep", _sweep, "mark missed appointments as no-shows now")
    command("archive", _archive, "move aged appointments and audit entries to the archive files ([retention])")

    export = command(
        "export",
        _export,
        "read the archive back as JSON lines (personal data masked unless --unmasked)",
        description="Appointments by visit date, or audit entries by date, from the archive files (and with "
        "--include-redis what Redis still holds). Patients are masked; --unmasked shows them in clear and needs "
        "--reason, which is written to the audit trail first.",
    )
    export.add_argument("--from", dest="start", required=True, type=_day, metavar="YYYY-MM-DD")
    export.add_argument("--to", dest="end", required=True, type=_day, metavar="YYYY-MM-DD")
    export.add_argument("--kind", choices=KINDS, default=KINDS[0])
    export.add_argument("--out", metavar="F", help="write to F (mode 0600) instead of stdout")
    export.add_argument("--include-redis", action="store_true", help="add what is not archived yet")
    export.add_argument("--unmasked", action="store_true", help="names, ID and phone numbers in clear (audited)")
    export.add_argument("--reason", metavar="TEXT", help="why an unmasked export is needed (required with it)")

    command("wechat-menu", _wechat_menu, "create the official account's custom menu", parents=[common])

    qr = command(
        "wechat-qrcode",
        _wechat_qrcode,
        "create a department's QR code (scanning it opens booking there)",
        description="Create a permanent QR code of the official account with the scene dept:<hospital>:<department>: "
        "a patient who scans it (following the account or not yet) is taken straight to booking in that department.",
    )
    qr.add_argument("--department", required=True, metavar="D", help="department id")
    qr.add_argument("--hospital", metavar="H", help="hospital id (needed when several have that department)")
    qr.add_argument("--save", metavar="FILE", help="also save the code's picture (JPEG) there")

    command("check-config", _check_config, "validate the configuration and exit")
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
    setup_logging(logging.INFO if args.command in ("serve", "worker") else logging.WARNING)
    try:
        config = load_config(args.config, demo=demo_config_layer() if getattr(args, "demo", False) else None)
        return handler(args, config)
    except GuahaoError as exc:
        print(f"guahao: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `guahao check-config | head`, `guahao export ... | head`: the reader has gone
        _silence_stdout()
        return EXIT_ERROR


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush of a closed pipe prints no traceback."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
