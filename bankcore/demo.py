"""The demo bank: built from the corpus in data/demo through the real pipeline, offline and deterministically."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from .bank import Bank
from .errors import BankcoreError

DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
DEMO_START = datetime(2026, 9, 1, 9, 0, 0)


class SteppingClock:
    """A clock that starts at a fixed moment and advances a fixed step per reading: same input → same bank."""

    def __init__(self, start: datetime = DEMO_START, step: timedelta = timedelta(seconds=1)):
        self.now, self.step = start, step

    def __call__(self) -> datetime:
        value = self.now
        self.now += self.step
        return value

    def jump_to(self, moment: datetime) -> None:
        self.now = max(self.now, moment)


def build(db_path: Path, *, force: bool = False, corpus: Path = DEMO_DIR,
          say: Callable[[str], None] = lambda _: None) -> Bank:
    """Build the demo bank at `db_path` (refusing to overwrite unless `force`). Atomic: built aside, then moved."""
    db_path = Path(db_path)
    if db_path.exists() and not force:
        raise BankcoreError(f"{db_path} exists; pass --force to rebuild the demo bank")
    files = sorted(corpus.glob("*.jsonl"))
    if not files:
        raise BankcoreError(f"no demo corpus in {corpus}")
    tmp = db_path.with_name(db_path.name + ".building")
    for leftover in (tmp, Path(str(tmp) + ".wal")):
        leftover.unlink(missing_ok=True)
    bank = Bank(tmp, clock=SteppingClock())
    for file in files:
        report = bank.import_path(file)
        say(report.summary())
    bank.store.set_setting("demo", {"synthetic": True, "corpus": str(corpus.name)})
    os.replace(tmp, db_path)
    Path(str(db_path) + ".wal").unlink(missing_ok=True)
    return Bank(db_path)
