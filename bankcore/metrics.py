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


def confusion_scores(tp: int, fn: int, fp: int, tn: int) -> dict[str, Any]:
    """Accuracy, balanced accuracy (mean of the success and failure recall), precision and recall for
    "success", from a confusion matrix against the truth. None where a rate has no denominator."""
    n = tp + fn + fp + tn
    tpr = tp / (tp + fn) if tp + fn else None
    tnr = tn / (tn + fp) if tn + fp else None
    return {
        "n": n,
        "accuracy": _round((tp + tn) / n) if n else None,
        "balanced_accuracy": _round((tpr + tnr) / 2) if tpr is not None and tnr is not None else None,
        "success_recall": _round(tpr),
        "failure_recall": _round(tnr),
        "success_precision": _round(tp / (tp + fp)) if tp + fp else None,
        "confusion": {"tp": tp, "fn": fn, "fp": fp, "tn": tn},
    }


def judge_quality(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per judge and prompt version (and per run within it): quality against the truth and agreement with
    human labels, from `Store.judge_outcomes` rows."""
    judges: dict[tuple[str, str | None], dict[str, Any]] = {}
    for row in rows:
        key = (row["judge_id"], row["prompt_version"])
        entry = judges.setdefault(key, {"judge_id": key[0], "prompt_version": key[1], "runs": [],
                                        "_sum": {k: 0 for k in ("judged", "tp", "fn", "fp", "tn",
                                                                "human_pairs", "human_agree")}})
        for k in entry["_sum"]:
            entry["_sum"][k] += row[k]
        entry["runs"].append({"run_id": row["run_id"], "name": row["run_name"], "judged": row["judged"],
                              "vs_truth": confusion_scores(row["tp"], row["fn"], row["fp"], row["tn"])})
    out = []
    for entry in judges.values():
        total = entry.pop("_sum")
        pairs = total["human_pairs"]
        out.append({**entry, "judged": total["judged"],
                    "vs_truth": confusion_scores(total["tp"], total["fn"], total["fp"], total["tn"]),
                    "vs_humans": {"n": pairs,
                                  "agreement": _round(total["human_agree"] / pairs) if pairs else None}})
    return out


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
        "judges": judge_quality(store.judge_outcomes()),
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
    for judge in stats.get("judges", []):
        truth, humans = judge["vs_truth"], judge["vs_humans"]
        line = f"  judge {judge['judge_id']} [{judge['prompt_version'] or '—'}]: {judge['judged']} verdicts"
        if truth["n"]:
            line += (f", vs truth (n={truth['n']}): accuracy {pct(truth['accuracy'])}, balanced "
                     f"{pct(truth['balanced_accuracy'])}")
        if humans["n"]:
            line += f", agrees with humans {pct(humans['agreement'])} (n={humans['n']})"
        lines.append(line)
    return "\n".join(lines)
