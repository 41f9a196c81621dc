"""The `labkit` command: doctor, serve, seed, lab, handout, timings, reset (load, bench, review)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from labkit import _process
from labkit.cli._load import add_commands as add_load_commands
from labkit.cli._review import add_command as add_review_command
from labkit.errors import BadArgument, LabkitError, PortInUse, debug_enabled

if TYPE_CHECKING:
    from labkit.databases import Database
    from sample_service.seed import SeedReport

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; a LabkitError ends in one line on stderr and exit code 2.

    `--debug` (or LABKIT_DEBUG=1) lets the error through with its traceback instead.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except LabkitError as exc:
        if args.debug or debug_enabled():
            raise
        print(f"labkit {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labkit", description="The Backend Design Workbench's tools."
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error, not one line"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    doctor = commands.add_parser("doctor", help="check what is ready, with a fix for each problem")
    doctor.add_argument(
        "--room", action="store_true",
        help="also what a workshop laptop needs: PostgreSQL starting, ports, disk, a wheelhouse",
    )  # fmt: skip
    doctor.add_argument(
        "--clean",
        action="store_true",
        help="first drop PostgreSQL service databases left by killed kernels",
    )
    doctor.set_defaults(run=_doctor)

    serve = commands.add_parser("serve", help="run the sample service in the foreground")
    serve.add_argument("--db", default="sqlite", help="sqlite, postgres or a database URL")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--scale", type=int, default=1_000, help="orders to seed (0: keep data)")
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=_serve)

    seed = commands.add_parser("seed", help="create the shop's schema and fill it with data")
    seed.add_argument("--db", default="sqlite", help="sqlite, postgres or a database URL")
    seed.add_argument("--scale", type=int, default=1_000, help="number of orders")
    seed.set_defaults(run=_seed)

    lab = commands.add_parser("lab", help="open JupyterLab on the notebooks (127.0.0.1 only)")
    lab.add_argument("--port", type=int, default=8888)
    lab.add_argument(
        "--no-browser", action="store_true", help="print the URL instead of opening it"
    )
    lab.set_defaults(run=_lab)

    handout = commands.add_parser(
        "handout", help="write the learners' copy: the workbench without exercises/solutions"
    )
    handout.add_argument("target", help="a new folder, or a file ending in .zip")
    handout.set_defaults(run=_handout)

    timings = commands.add_parser(
        "timings", help="run every notebook and exercise, time them, and print the agendas"
    )
    timings.add_argument(
        "--write", metavar="GUIDE", nargs="?", const="exercises/TRAINERS.md",
        help="also write them into the trainer guide, between its timing markers",
    )  # fmt: skip
    timings.set_defaults(run=_timings)

    reset = commands.add_parser(
        "reset", help="stop every lab process, drop the databases labkit made, remove its files"
    )
    reset.add_argument("--journal", action="store_true", help="also clear the journal")
    reset.set_defaults(run=_reset)

    add_load_commands(commands)  # load, bench
    add_review_command(commands)
    return parser


def _reset(args: argparse.Namespace) -> int:
    from labkit.reset import reset

    print(reset(journal=args.journal))
    return 0


def _timings(args: argparse.Namespace) -> int:
    from labkit.timings import measure, render, write_guide

    text = render(measure())
    print(text)
    if args.write:
        write_guide(Path(args.write), text)
        print(f"\nwritten into {args.write}")
    return 0


def _handout(args: argparse.Namespace) -> int:
    from labkit.handout import handout

    print(handout(args.target))
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from labkit.doctor import doctor
    from labkit.service import reclaim_service_databases

    if args.clean:
        dropped = reclaim_service_databases()
        print(f"reclaimed {len(dropped)} service database(s) left by stopped processes")
    report = doctor(room=args.room)
    print(report.text())
    return 0 if report.ok else 1


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from labkit import service
    from labkit.databases import database

    if not _process.port_is_free(args.port):
        raise PortInUse(f"port {args.port} on 127.0.0.1 is in use; choose another with --port.")
    db = database(args.db)
    if args.scale:
        report = _seed_database(db, args.scale)
        print(report)
    os.environ["SHOP_DATABASE_URL"] = db.url
    print(f"serving the shop on http://127.0.0.1:{args.port} (docs at /docs); Ctrl-C stops it")
    print(service.signing_secret_mode(dict(os.environ)))
    os.environ.update(service.signing_secret_environment(dict(os.environ)))
    uvicorn.run(
        "sample_service.main:create_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        access_log=False,
        proxy_headers=False,  # the service trusts only the proxies in SHOP_TRUSTED_PROXIES
    )
    return 0


def _seed(args: argparse.Namespace) -> int:
    from labkit.databases import database

    report = _seed_database(database(args.db), args.scale)
    print(report)
    return 0


def _seed_database(db: Database, scale: int) -> SeedReport:
    if scale < 1:
        raise BadArgument(f"--scale must be a positive number of orders, not {scale}.")
    from labkit.databases import seed

    return seed(db, scale=scale)


def _lab(args: argparse.Namespace) -> int:
    notebooks = _notebooks_dir()
    argv = [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={args.port}"]
    argv += [f"--ServerApp.root_dir={notebooks}"]
    # Offline: no update checks, no news feed, no extension search on PyPI.
    argv += ["--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    argv += ["--LabApp.news_url=", "--LabApp.extension_manager=readonly"]
    # Settings defaults a fresh user starts with: no prompt asking to fetch news or updates.
    argv += [f"--LabApp.app_settings_dir={Path(__file__).parent / 'lab_settings'}"]
    if os.geteuid() == 0:
        argv.append("--allow-root")  # containers and workshop VMs often run as root
    if args.no_browser:
        argv.append("--no-browser")
    print(f"JupyterLab on {notebooks}: the URL with its token follows; Ctrl-C stops it.")
    os.execv(sys.executable, argv)
    return 0  # not reached: exec replaces this process


def _notebooks_dir() -> Path:
    from labkit.course import NOTEBOOKS_DIR

    for candidate in (Path.cwd() / "notebooks", NOTEBOOKS_DIR):
        if candidate.is_dir():
            return candidate
    raise LabkitError("no notebooks/ folder here; run `labkit lab` from the workbench's checkout.")
