"""`bankcore verify-signature FILE`: check the detached signature (FILE.sig) that `export-lessons` and
`export-dataset` write beside a file signed with --key-file, without importing anything.

It opens no bank and imports no store, so it starts as fast as `--version`: a check to run in a pipeline before
handing a lesson set to a prompt, ACE or a dataset tool. Exit 0: verified; 1 with one line naming FILE or FILE.sig
otherwise (unsigned, another key, altered or cut short, an edited or foreign .sig, an unreadable file or key).
"""

from __future__ import annotations

import argparse
import json

from ..curate.signing import KEY_FILE_ENV, KINDS, ring_from, verify_file
from ..errors import BankcoreError
from .output import say
from .registry import command


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="the signed file (its signature is FILE.sig beside it)")
    p.add_argument("--key-file", "--key", metavar="KEY", action="append",
                   help=f"a key that may have signed it (default: ${KEY_FILE_ENV}); given several times, any of "
                        "them verifies (a rotated ring)")
    p.add_argument("--kind", choices=tuple(KINDS), help="also require what was signed: a lesson set or a dataset "
                                                        "(default: either)")
    p.add_argument("--json", action="store_true", help="machine-readable output on success")


@command("verify-signature", help="check FILE.sig, the detached signature export-lessons and export-dataset write "
                                  "with --key-file (exit 0: verified)", arguments=_arguments)
def cmd_verify_signature(args: argparse.Namespace) -> int:
    ring = ring_from(args.key_file)
    if ring is None:
        raise BankcoreError(f"verify-signature needs the key that signed {args.file}: give --key-file KEY or set "
                            f"${KEY_FILE_ENV}")
    found = verify_file(args.file, ring, kind=args.kind)
    if args.json:
        print(json.dumps({"file": args.file, "verified": True, "kind": found.kind, "key_id": found.key_id,
                          "bytes": found.size, "older_key": found.position > 0}))
        return 0
    older = " (an older key of the ring)" if found.position else ""
    say(args, f"{args.file}: signature verified — {KINDS[found.kind]} of {found.size} bytes, signed by key id "
              f"{found.key_id}{older}")
    return 0
