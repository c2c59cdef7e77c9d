"""Commands on the bank as a whole: init, check, import, stats, export, demo, import-bank."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..lazy import lazy_module
from ..read.metrics import format_stats
from ..models import to_dict
from .output import _json_out, number_in, progress, say, warn
from .registry import command, open_bank

# Only export and import-bank sign or check files: `bankcore stats` and `check` do not load the signing code.
signing = lazy_module("bankcore.curate.signing", globals())


@command("init", help="create or upgrade the bank file", creates_bank=True)
def cmd_init(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    version = bank.init()
    say(args, f"bank ready: {bank.store.location} (schema v{version})")
    return 0


def _check_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true")


@command("check", help="audit the bank: every item is the last state of its history; merges and provenance are "
                       "linked (read-only)", arguments=_check_arguments, reads_only=True)
def cmd_check(args: argparse.Namespace) -> int:
    report = open_bank(args).check()
    if args.json:
        _json_out(to_dict(report) | {"ok": report.ok})
    else:
        print(report.summary())
    return 0 if report.ok else 1


def _import_arguments(p: argparse.ArgumentParser) -> None:
    from ..learn.importers import FORMATS  # the importers load only for the commands that import
    from ..learn.importers.base import DEFAULT_MAX_RECORD_BYTES
    p.add_argument("path", help="file or folder to import")
    p.add_argument("--format", default="auto", choices=["auto", *FORMATS], help="input format (default: auto)")
    p.add_argument("--run", help="name of the run these trajectories form (default: file name)")
    p.add_argument("--skip-bad", action="store_true", help="import the good records and report each bad one")
    p.add_argument("--domain", help="domain for records that do not name one")
    p.add_argument("--swebench-results", metavar="FILE",
                   help="SWE-bench results (harness or sb-cli report, results.json, report.json folder, CSV): "
                        "each trajectory's ground truth by instance id")
    p.add_argument("--labels", choices=["judge", "truth"], default="judge",
                   help="truth: each trajectory's ground truth becomes its label (truth:<source>) now; judge "
                        "(default): leave labelling to `bankcore judge`")
    p.add_argument("--max-record-mb", type=number_in(0.0, low_open=True),
                   default=DEFAULT_MAX_RECORD_BYTES / 1024 / 1024,
                   help="largest single record accepted (default: %(default).0f)")


@command("import", help="import trajectories (file or folder)", arguments=_import_arguments, creates_bank=True)
def cmd_import(args: argparse.Namespace) -> int:
    from ..learn.importers import ImportOptions
    bank = open_bank(args)
    options = ImportOptions(max_record_bytes=int(args.max_record_mb * 1024 * 1024),
                            swebench_results=Path(args.swebench_results) if args.swebench_results else None,
                            domain=args.domain)
    with progress(args, "importing", "traj") as advance:
        report = bank.import_path(args.path, fmt=args.format, run_name=args.run, skip_bad=args.skip_bad,
                                  options=options, on_record=advance, on_bad=warn)
    say(args, report.summary())
    if args.labels == "truth":
        say(args, bank.label_from_truth(bank.imported_trajectories(report)).summary())
    return 3 if report.bad else 0


def _stats_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


@command("stats", help="counts, success rates and mean steps per run", arguments=_stats_arguments, reads_only=True)
def cmd_stats(args: argparse.Namespace) -> int:
    stats = open_bank(args, check_at_once=False).stats()  # its one connection checks the file
    print(json.dumps(stats, indent=2, default=str) if args.json else format_stats(stats))
    return 0


def _export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output file (.jsonl.gz)")
    p.add_argument("--key-file", metavar="FILE", action="append",
                   help=f"sign the export with the secret key in FILE (HMAC-SHA256; default: "
                        f"${signing.KEY_FILE_ENV}); given several times, the first signs")


def _export_key(args: argparse.Namespace) -> signing.KeyRing | None:
    """The key ring named by --key-file (any number of times) or $BANKCORE_EXPORT_KEY_FILE (files separated by
    os.pathsep), read before the bank is opened (a bad key file then creates no bank); None when neither names one."""
    return signing.ring_from(args.key_file)


@command("export", help="write the whole bank to a .jsonl.gz file", arguments=_export_arguments, reads_only=True)
def cmd_export(args: argparse.Namespace) -> int:
    key = _export_key(args)
    bank = open_bank(args)
    with progress(args, "exporting", "rec") as advance:
        n = bank.export(args.out, on_line=advance, key=key)
    say(args, f"exported {n} records to {args.out}" + (f", signed (key id {key.key_id})" if key else ""))
    return 0


def _demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true", help="rebuild even if the bank file exists")


@command("demo", help="build the synthetic demo bank from data/demo (offline)", arguments=_demo_arguments)
def cmd_demo(args: argparse.Namespace) -> int:
    from .. import demo
    from ..bank import Bank
    db = Path(args.db or Bank().path)
    bank = demo.build(db, force=args.force, say=lambda text: say(args, text))
    say(args, f"demo bank ready: {bank.store.location}")
    return 0


def _import_bank_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a file written by `bankcore export`")
    p.add_argument("--strict", action="store_true",
                   help="refuse an export that carries no integrity record (one written before format v2)")
    p.add_argument("--key-file", metavar="FILE", action="append",
                   help="refuse the export unless it is signed with the secret key in FILE and unchanged since "
                        f"(default: ${signing.KEY_FILE_ENV}); given several times, a signature by any of the keys "
                        "passes")


@command("import-bank", help="restore an export into an empty bank", arguments=_import_bank_arguments,
         creates_bank=True)
def cmd_import_bank(args: argparse.Namespace) -> int:
    key = _export_key(args)
    bank = open_bank(args)
    with progress(args, "restoring", "rec") as advance:
        counts = bank.import_bank(args.file, on_line=advance, strict=args.strict, key=key)
    if counts.pop("no_integrity_record", None):
        warn(f"{args.file} carries no integrity record (written before export format v2): its history was checked, "
             "but a changed line cannot be told; use --strict to refuse such files")
    if counts.pop("signature_not_checked", None):
        warn(f"{args.file} is signed, but its signature was not checked (no --key-file or "
             f"${signing.KEY_FILE_ENV}): an edited file with its chain recomputed would pass")
    signed_by = key.keys[counts.pop("signature_key", 0)] if key else None
    if counts.pop("signature_verified", None):
        older = "" if signed_by is key.signer else ", an older key of the ring"
        say(args, f"signature checked: {args.file} is as it was signed (key id {signed_by.key_id}{older})")
    say(args, f"restored into {bank.store.location}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0
