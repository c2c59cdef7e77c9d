"""Commands that hand the bank to other tools: export-lessons (a lesson set for a prompt, ACE or a SKILL.md) and
export-dataset (trajectories with verdicts for Langfuse or Phoenix). `bankcore export` (the whole bank) is elsewhere.

With a key (--key-file, or $BANKCORE_EXPORT_KEY_FILE) a file written with --out gets a detached signature beside it,
FILE.sig (`curate.signing`): the file's own bytes are exactly the unsigned ones, so the tools that read it are none
the wiser. Output to stdout cannot carry one: --key-file without --out is refused, and the environment's key is not
used there. An export over a signed file never leaves the old FILE.sig beside the new bytes: it is replaced, or,
unsigned, removed with a notice. `bankcore verify-signature FILE` (signature_commands) checks one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, TextIO

from ..models import ITEM_SOURCES, ITEM_STATUSES
from ..read.exports import DATASET_FORMATS, LESSON_FORMATS, LessonFilter, write_dataset, write_lessons
from ..curate.lesson_formats import IMPORT_FORMATS
from ..curate.signing import KEY_FILE_ENV, KeyRing, file_digest, ring_from, signature_path, write_signature
from ..errors import BankcoreError
from .output import _json_out, say, warn
from .registry import command, open_bank


@contextmanager
def output_to(path: str | None, *, signed_by: KeyRing | None = None, kind: str = "lesson-set") -> Iterator[TextIO]:
    """stdout, or `path` written atomically: a temporary file beside it replaces it only once all is written, so a
    failed export never leaves a half-written file under the name (nor destroys the file that was there). With
    `signed_by`, FILE.sig is written once FILE is in place, from the bytes of the staged file (exactly what was
    written). A FILE.sig already there signed the file being replaced: it is removed just before the replace (so
    no moment pairs the new file with the old signature), and an unsigned export says so on stderr — left behind,
    it would fail verification as "altered", or pass one when the bytes happen to be the same."""
    if path is None:
        yield sys.stdout
        return
    target = Path(path).expanduser()
    fd, staged = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            yield out
        digest = file_digest(staged) if signed_by else None
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staged, 0o666 & ~umask)  # as any new file, not mkstemp's owner-only 0600
        stale = _remove_signature(target)
        os.replace(staged, target)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise
    if digest is not None:
        write_signature(target, signed_by, kind=kind, size=digest[0], sha256=digest[1])
    elif stale:
        warn(f"removed {stale}: it signed the file this unsigned export replaced (sign with --key-file to keep "
             "one)")


def _remove_signature(target: Path) -> Path | None:
    """Remove FILE.sig if there is one (a link or a file, never a folder: unlinking one fails with its path);
    returns its path when it was there."""
    sig = signature_path(target)
    try:
        sig.unlink()
    except FileNotFoundError:
        return None
    return sig


def _key_file_argument(p: argparse.ArgumentParser, action: str) -> None:
    p.add_argument("--key-file", metavar="KEY", action="append",
                   help=f"{action} (HMAC-SHA256; default: ${KEY_FILE_ENV}, files separated by '{os.pathsep}'); "
                        "given several times, the first key signs and any verifies")


def _signing_ring(args: argparse.Namespace) -> KeyRing | None:
    """The ring that signs what --out names, read before the bank is opened; None for stdout or without a key."""
    if args.key_file and not args.out:
        raise BankcoreError("--key-file signs the file --out names (the signature goes beside it, as FILE.sig): "
                            "give -o/--out FILE")
    return ring_from(args.key_file) if args.out else None


def _signed_note(ring: KeyRing | None, out: str) -> str:
    return f", signed in {out}.sig (key id {ring.key_id})" if ring else ""


def _out_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--out", metavar="FILE", help="write to FILE (atomically) instead of stdout")


def _lessons_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", default="md", choices=LESSON_FORMATS,
                   help="md: Markdown for a system prompt; json: the lesson set with provenance (reads back); "
                        "playbook: an ACE playbook; skill: a SKILL.md (default: md)")
    p.add_argument("--status", default="approved", choices=ITEM_STATUSES, help="lessons in this state "
                                                                                 "(default: approved)")
    p.add_argument("--source", choices=ITEM_SOURCES, help="only lessons of this source")
    p.add_argument("--domain", help="only lessons of this domain")
    _out_argument(p)
    _key_file_argument(p, "sign the file --out names: its signature goes beside it, as FILE.sig")


@command("export-lessons", help="write the approved lessons as Markdown, JSON, an ACE playbook or a SKILL.md "
                                "(untrusted text kept inert)", arguments=_lessons_arguments, reads_only=True)
def cmd_export_lessons(args: argparse.Namespace) -> int:
    ring = _signing_ring(args)
    store = open_bank(args).store
    filters = LessonFilter(status=args.status, domain=args.domain, source=args.source)
    with output_to(args.out, signed_by=ring, kind="lesson-set") as out:
        n = write_lessons(store, out, args.format, filters)
    if args.out:
        say(args, f"wrote {n} {args.status} lessons to {args.out} ({args.format}){_signed_note(ring, args.out)}")
    return 0


def _import_lessons_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a lesson set: what export-lessons writes, a JSON list of {title, description, "
                                "content, domain?, source?}, or Markdown with one heading per lesson")
    p.add_argument("--format", default="auto", choices=IMPORT_FORMATS,
                   help="how to read FILE (default: auto, from its name and first lines)")
    p.add_argument("--domain", help="the domain of the lessons that name none")
    p.add_argument("--actor", metavar="NAME", help="who imports, for the history (default: $BANKCORE_ACTOR)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _key_file_argument(p, "refuse FILE unless FILE.sig beside it is a valid signature of it by this key")


@command("import-lessons", help="add a lesson set (export-lessons output or hand-written) as pending lessons, each "
                                "through the injection gate", arguments=_import_lessons_arguments, creates_bank=True)
def cmd_import_lessons(args: argparse.Namespace) -> int:
    from ..curate.lesson_sets import import_lessons  # the gate and the embedder: not for the export commands
    ring = ring_from(args.key_file)
    bank = open_bank(args)
    report = import_lessons(bank.store, bank.embedder, Path(args.file).expanduser(), fmt=args.format,
                            domain=args.domain, actor=f"human:{args.actor or bank.settings.actor}", key=ring)
    if report.signature == "not checked":
        warn(f"{args.file} is signed ({args.file}.sig), but its signature was not checked (no --key-file or "
             f"${KEY_FILE_ENV}): an altered file would pass")
    if args.json:
        _json_out(report.counts())
    else:
        say(args, report.summary())
    return 0


def _dataset_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", default="langfuse", choices=DATASET_FORMATS,
                   help="langfuse: dataset-item requests, one per line (JSONL); phoenix: the body of Phoenix's "
                        "dataset upload (JSON) (default: langfuse)")
    p.add_argument("--run", help="only this run's trajectories")
    p.add_argument("--domain", help="only trajectories of this domain")
    p.add_argument("--name", default="bankcore-trajectories", help="the dataset's name (default: %(default)s)")
    p.add_argument("--no-steps", action="store_true",
                   help="input is the task alone, not the agent's steps and final answer")
    _out_argument(p)
    _key_file_argument(p, "sign the file --out names: its signature goes beside it, as FILE.sig")


@command("export-dataset", help="write trajectories with their verdicts and ground truth as a Langfuse or Phoenix "
                                "dataset", arguments=_dataset_arguments, reads_only=True)
def cmd_export_dataset(args: argparse.Namespace) -> int:
    ring = _signing_ring(args)
    store = open_bank(args).store
    with output_to(args.out, signed_by=ring, kind="dataset") as out:
        n = write_dataset(store, out, args.format, name=args.name, run=args.run, domain=args.domain,
                          with_steps=not args.no_steps)
    if args.out:
        say(args, f"wrote {n} trajectories to {args.out} ({args.format} dataset {args.name!r})"
                  f"{_signed_note(ring, args.out)}")
    return 0
