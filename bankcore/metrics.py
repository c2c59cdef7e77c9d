"""Bank statistics: counts, and success rate / mean steps per run (and per trial) by truth and by current verdict."""

from __future__ import annotations

from typing import Any

from .store import Store


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _outcome(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "trajectories": row["trajectories"],
        "mean_steps": _round(row["mean_steps"], 3),
        "truth": {
            "n": row["with_truth"],
            "success_rate": _round(row["truth_success_rate"]),
            "mean_steps_success": _round(row["truth_mean_steps_success"], 3),
            "mean_steps_failure": _round(row["truth_mean_steps_failure"], 3),
        },
        "verdict": {
            "n": row["judged"],
            "success_rate": _round(row["verdict_success_rate"]),
            "mean_steps_success": _round(row["verdict_mean_steps_success"], 3),
            "mean_steps_failure": _round(row["verdict_mean_steps_failure"], 3),
        },
    }


def bank_stats(store: Store) -> dict[str, Any]:
    counts = store.table_counts()
    by_source: dict[str, int] = {}
    by_status: dict[str, int] = {}
    combos = []
    for source, status, n in store.item_counts():
        by_source[source] = by_source.get(source, 0) + n
        by_status[status] = by_status.get(status, 0) + n
        combos.append({"source": source, "status": status, "count": n})
    runs: dict[int, dict[str, Any]] = {}
    for row in store.run_outcomes():
        if row["trial"] is None and row["run_id"] not in runs:
            runs[row["run_id"]] = {"run_id": row["run_id"], "name": row["name"], "format": row["source_format"],
                                   "memory_mode": row["memory_mode"], **_outcome(row), "trials": []}
        elif row["trial"] is not None:
            runs[row["run_id"]]["trials"].append({"trial": row["trial"], **_outcome(row)})
    for run in runs.values():
        if not run["trials"]:
            del run["trials"]
    return {
        "bank": str(store.path),
        "schema_version": store.schema_version(),
        "counts": counts,
        "items": {"by_source": by_source, "by_status": by_status, "by_source_status": combos},
        "runs": list(runs.values()),
    }


def format_stats(stats: dict[str, Any]) -> str:
    """Human-readable stats for the terminal."""
    c = stats["counts"]
    lines = [
        f"bank {stats['bank']} (schema v{stats['schema_version']})",
        f"  runs {c['runs']}, trajectories {c['trajectories']}, steps {c['steps']}, verdicts {c['verdicts']}, "
        f"items {c['memory_items']}, events {c['memory_events']}",
    ]
    if stats["items"]["by_source_status"]:
        parts = ", ".join(f"{r['source']}/{r['status']} {r['count']}" for r in stats["items"]["by_source_status"])
        lines.append(f"  items by source/status: {parts}")

    def pct(x: float | None) -> str:
        return "—" if x is None else f"{100 * x:.1f}%"

    for run in stats["runs"]:
        lines.append(f"  run {run['run_id']} {run['name']} ({run['format']}): {run['trajectories']} trajectories, "
                     f"mean steps {run['mean_steps']}, success by truth {pct(run['truth']['success_rate'])} "
                     f"(n={run['truth']['n']}), by verdict {pct(run['verdict']['success_rate'])} "
                     f"(n={run['verdict']['n']})")
        for trial in run.get("trials", []):
            lines.append(f"      trial {trial['trial']}: {trial['trajectories']} trajectories, "
                         f"truth {pct(trial['truth']['success_rate'])}, verdict {pct(trial['verdict']['success_rate'])}")
    return "\n".join(lines)
