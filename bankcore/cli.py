"""The `bankcore` command. Every subcommand takes `--db PATH` (default `$BANKCORE_DB` or data/bank.duckdb).

User errors print one line to stderr and exit 1; nothing prints a traceback unless BANKCORE_DEBUG is set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .bank import Bank
from .errors import BankcoreError
from .importers import FORMATS, ImportOptions
from .importers.base import DEFAULT_MAX_RECORD_BYTES
from .metrics import format_stats

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def register(fn):
        COMMANDS[name] = fn
        return fn
    return register


# ---------------------------------------------------------------------- output helpers
def say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text)


def warn(text: str) -> None:
    print(text, file=sys.stderr)


@contextmanager
def progress(args: argparse.Namespace, desc: str, unit: str, total: int | None = None) -> Iterator[Callable]:
    """A tqdm bar on stderr (only on a terminal, never with --quiet); yields an `advance(n=1)` callable."""
    if args.quiet or not sys.stderr.isatty():
        yield lambda n=1: None
        return
    from tqdm import tqdm
    with tqdm(desc=desc, unit=unit, total=total, file=sys.stderr, leave=False, dynamic_ncols=True) as bar:
        yield lambda n=1: bar.update(n)


def open_bank(args: argparse.Namespace) -> Bank:
    return Bank(args.db, on_busy=None if args.quiet else _busy_notice())


def _busy_notice() -> Callable[[str], None]:
    shown = False

    def notice(message: str) -> None:
        nonlocal shown
        if not shown:
            warn(message)
            shown = True
    return notice


# ---------------------------------------------------------------------- commands
@command("init")
def cmd_init(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    version = bank.init()
    say(args, f"bank ready: {bank.path} (schema v{version})")
    return 0


@command("import")
def cmd_import(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    options = ImportOptions(max_record_bytes=int(args.max_record_mb * 1024 * 1024),
                            swebench_results=Path(args.swebench_results) if args.swebench_results else None,
                            domain=args.domain)
    with progress(args, "importing", "traj") as advance:
        report = bank.import_path(args.path, fmt=args.format, run_name=args.run, skip_bad=args.skip_bad,
                                  options=options, on_record=advance, on_bad=warn)
    say(args, report.summary())
    return 3 if report.bad else 0


@command("stats")
def cmd_stats(args: argparse.Namespace) -> int:
    stats = open_bank(args).stats()
    print(json.dumps(stats, indent=2, default=str) if args.json else format_stats(stats))
    return 0


@command("export")
def cmd_export(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    with progress(args, "exporting", "rec") as advance:
        n = bank.export(args.out, on_line=advance)
    say(args, f"exported {n} records to {args.out}")
    return 0


@command("import-bank")
def cmd_import_bank(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    with progress(args, "restoring", "rec") as advance:
        counts = bank.import_bank(args.file, on_line=advance)
    say(args, f"restored into {bank.path}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


# ---- judging and extraction commands (issue 3)

# ---- retrieval commands (issue 4)

# ---- consolidation and review commands (issue 5)

# ---- agent runner commands (issue 7)


@command("demo")
def cmd_demo(args: argparse.Namespace) -> int:
    from . import demo
    db = Path(args.db or Bank().path)
    bank = demo.build(db, force=args.force, say=lambda text: say(args, text))
    say(args, f"demo bank ready: {bank.path}")
    return 0


# ---------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="bank file (default: $BANKCORE_DB or data/bank.duckdb)")
    common.add_argument("-q", "--quiet", action="store_true", help="print only errors and requested output")

    parser = argparse.ArgumentParser(prog="bankcore", description="A ReasoningBank memory bank for agents.",
                                     parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("init", parents=[common], help="create or upgrade the bank file")

    p = sub.add_parser("import", parents=[common], help="import trajectories (file or folder)")
    p.add_argument("path", help="file or folder to import")
    p.add_argument("--format", default="auto", choices=["auto", *FORMATS], help="input format (default: auto)")
    p.add_argument("--run", help="name of the run these trajectories form (default: file name)")
    p.add_argument("--skip-bad", action="store_true", help="import the good records and report each bad one")
    p.add_argument("--domain", help="domain for records that do not name one")
    p.add_argument("--swebench-results", help="SWE-bench results summary (resolved ids) for mini-swe-agent")
    p.add_argument("--max-record-mb", type=float, default=DEFAULT_MAX_RECORD_BYTES / 1024 / 1024,
                   help="largest single record accepted (default: %(default).0f)")

    p = sub.add_parser("stats", parents=[common], help="counts, success rates and mean steps per run")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("export", parents=[common], help="write the whole bank to a .jsonl.gz file")
    p.add_argument("--out", required=True, help="output file (.jsonl.gz)")

    p = sub.add_parser("demo", parents=[common], help="build the synthetic demo bank from data/demo (offline)")
    p.add_argument("--force", action="store_true", help="rebuild even if the bank file exists")

    p = sub.add_parser("import-bank", parents=[common], help="restore an export into an empty bank")
    p.add_argument("file", help="a file written by `bankcore export`")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except BankcoreError as exc:
        if os.environ.get("BANKCORE_DEBUG"):
            raise
        warn(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        warn("interrupted")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
