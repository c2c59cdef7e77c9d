"""`Bank`: the public API. Wires the store to importers, judges, extractors, embeddings and retrieval."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from . import exchange, ingest, metrics
from .importers import ImportOptions
from .models import ImportReport, Trajectory, Truth
from .settings import Settings
from .store import Clock, Store, utc_now


class Bank:
    """One bank file and the settings to work on it."""

    def __init__(self, db_path: str | Path | None = None, *, settings: Settings | None = None,
                 clock: Clock = utc_now, on_busy: Callable[[str], None] | None = None):
        self.settings = settings or Settings.load()
        if db_path is not None:
            self.settings = replace(self.settings, db_path=Path(db_path))
        self.store = Store(self.settings.db_path, clock=clock, lock_timeout_s=self.settings.lock_timeout_s,
                           on_busy=on_busy)

    @property
    def path(self) -> Path:
        return self.store.path

    def init(self) -> int:
        """Create (or upgrade) the bank file. Returns the schema version."""
        return self.store.schema_version()

    # ------------------------------------------------------------------ trajectories
    def import_path(self, path: str | Path, *, fmt: str = "auto", run_name: str | None = None,
                    skip_bad: bool = False, options: ImportOptions | None = None,
                    on_record: Callable[[int], None] | None = None,
                    on_bad: Callable[[str], None] | None = None) -> ImportReport:
        return ingest.import_path(self.store, Path(path), fmt=fmt, run_name=run_name, skip_bad=skip_bad,
                                  options=options, on_record=on_record, on_bad=on_bad)

    def trajectory(self, traj_id: str) -> Trajectory:
        return self.store.get_trajectory(traj_id)

    def truth(self, traj_id: str) -> Truth | None:
        return self.store.get_truth(traj_id)

    # ------------------------------------------------------------------ whole bank
    def stats(self) -> dict[str, Any]:
        return metrics.bank_stats(self.store)

    def export(self, out: str | Path, on_line: Callable[[], None] | None = None) -> int:
        return exchange.export_bank(self.store, Path(out), on_line)

    def import_bank(self, path: str | Path, on_line: Callable[[], None] | None = None) -> dict[str, int]:
        return exchange.import_bank(self.store, Path(path), on_line)

    # ------------------------------------------------------------------ dashboard (issue 6)
    @property
    def views(self):
        """Read-only screens for the dashboard (`bankcore/views.py`): paginated, aggregated, no Streamlit."""
        from .views import Views
        return Views(self.store, self.settings)
