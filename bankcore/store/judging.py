"""Verdicts and what is derived from them: current labels, the judging and extraction queues, judges against
the truth, and the marks MaTTS leaves (best-of-N selections, contrast extractions).
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator


from ..lazy import lazy_module
from ..models import ContrastExtraction, Selection, Verdict
from .rows import (
    CURRENT_VERDICTS_SQL, _CONTRAST_COLS, _SELECTION_COLS, _VERDICT_COLS, _contrast, _dicts, _dumps, _selection,
    _verdict,
)

pa = lazy_module("pyarrow", globals())


class JudgingQueries:
    """Verdicts, the judging and extraction queues, judge outcomes, and MaTTS marks."""

    def add_verdict(self, verdict: Verdict) -> Verdict:
        with self.transaction(), self._con() as con:
            verdict.verdict_id = verdict.verdict_id or self._next_id(con, "verdicts", "verdict_id")
            verdict.created_at = verdict.created_at or self.clock()
            con.execute("INSERT INTO verdicts (verdict_id, traj_id, label, rationale, judge_id, prompt_version, "
                        "confidence, signals, tokens_in, tokens_out, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                verdict.verdict_id, verdict.traj_id, verdict.label, verdict.rationale, verdict.judge_id,
                verdict.prompt_version, verdict.confidence, _dumps(verdict.signals), verdict.tokens_in,
                verdict.tokens_out, verdict.created_at])
        return verdict

    def add_verdicts(self, verdicts: list[Verdict]) -> list[Verdict]:
        """Append verdicts in one Arrow batch (ids and times assigned here)."""
        if not verdicts:
            return verdicts
        with self.transaction(), self._con() as con:
            first = self._next_id(con, "verdicts", "verdict_id")
            now = self.clock()
            for offset, v in enumerate(verdicts):
                v.verdict_id = first + offset
                v.created_at = v.created_at or now
            self._insert_arrow(con, "verdicts", {
                "verdict_id": pa.array([v.verdict_id for v in verdicts], pa.int32()),
                "traj_id": [v.traj_id for v in verdicts],
                "label": [v.label for v in verdicts],
                "rationale": [v.rationale for v in verdicts],
                "judge_id": [v.judge_id for v in verdicts],
                "prompt_version": pa.array([v.prompt_version for v in verdicts], pa.string()),
                "confidence": pa.array([v.confidence for v in verdicts], pa.float64()),
                "signals": pa.array([_dumps(v.signals) for v in verdicts], pa.string()),
                "tokens_in": pa.array([v.tokens_in for v in verdicts], pa.int32()),
                "tokens_out": pa.array([v.tokens_out for v in verdicts], pa.int32()),
                "created_at": pa.array([v.created_at for v in verdicts], pa.timestamp("us")),
            })
        return verdicts

    def iter_verdicts(self) -> Iterator[Verdict]:
        with self._con() as con:
            rows = con.execute(f"SELECT {_VERDICT_COLS} FROM verdicts ORDER BY verdict_id").fetchall()
        return (_verdict(r) for r in rows)

    def verdict_history(self, traj_id: str) -> list[Verdict]:
        """Every verdict on a trajectory, oldest first."""
        with self._con() as con:
            rows = con.execute(f"SELECT {_VERDICT_COLS} FROM verdicts WHERE traj_id = ? ORDER BY verdict_id",
                               [traj_id]).fetchall()
        return [_verdict(r) for r in rows]

    def current_verdicts(self, traj_ids: Iterable[str] | None = None) -> dict[str, Verdict]:
        """The verdict that gives each trajectory its current label (a human's beats a judge's; newest wins)."""
        with self._con() as con, self._id_table(con, traj_ids) as selected:
            rows = con.execute(
                f"WITH cur AS ({CURRENT_VERDICTS_SQL}) SELECT {self._cols('v', _VERDICT_COLS)} FROM verdicts v "
                f"JOIN cur USING (verdict_id) JOIN trajectories t ON t.traj_id = v.traj_id WHERE {selected}"
            ).fetchall()
        return {r[1]: _verdict(r) for r in rows}

    def unjudged(self, judge_id: str, prompt_version: str | None,
                 traj_ids: Iterable[str] | None = None) -> list[str]:
        """The judging queue: trajectories with no verdict from this judge at this prompt version."""
        with self._con() as con, self._id_table(con, traj_ids) as selected:
            return [r[0] for r in con.execute(
                f"SELECT t.traj_id FROM trajectories t WHERE {selected} AND NOT EXISTS ("
                "  SELECT 1 FROM verdicts v WHERE v.traj_id = t.traj_id AND v.judge_id = ? "
                "  AND v.prompt_version IS NOT DISTINCT FROM ?) ORDER BY t.seq",
                [judge_id, prompt_version]).fetchall()]

    def unextracted(self, extractor_id: str, prompt_version: str | None,
                    traj_ids: Iterable[str] | None = None, *, include_uncertain: bool = False) -> list[Verdict]:
        """The extraction queue: the current verdict of each labelled trajectory this extractor has not yet
        distilled under that label. A trajectory whose label flipped is queued again for the new label. An
        uncertain verdict is no label: queued only when `include_uncertain`."""
        labelled = "" if include_uncertain else "AND v.label <> 'uncertain' "
        with self._con() as con, self._id_table(con, traj_ids) as selected:
            rows = con.execute(
                f"WITH cur AS ({CURRENT_VERDICTS_SQL}) SELECT {self._cols('v', _VERDICT_COLS)} FROM verdicts v "
                "JOIN cur USING (verdict_id) JOIN trajectories t ON t.traj_id = v.traj_id "
                f"WHERE {selected} {labelled}AND NOT EXISTS (SELECT 1 FROM extractions e WHERE e.traj_id = v.traj_id "
                "  AND e.extractor_id = ? AND e.prompt_version IS NOT DISTINCT FROM ? AND e.label = v.label) "
                "ORDER BY t.seq", [extractor_id, prompt_version]).fetchall()
        return [_verdict(r) for r in rows]

    def judge_outcomes(self) -> list[dict[str, Any]]:
        """Per judge, prompt version and run: the judge's newest label on each trajectory against the truth
        (confusion counts; `uncertain` counts the abstentions, which are in `judged` but in no cell), and against
        the newest label of each human other than that judge (agreement)."""
        sql = """
            WITH latest AS (
                SELECT traj_id, judge_id, prompt_version, label FROM (
                    SELECT traj_id, judge_id, prompt_version, label,
                           row_number() OVER (PARTITION BY traj_id, judge_id, prompt_version
                                              ORDER BY verdict_id DESC) AS rn
                    FROM verdicts) WHERE rn = 1),
            human AS (
                SELECT traj_id, judge_id, label FROM (
                    SELECT traj_id, judge_id, label,
                           row_number() OVER (PARTITION BY traj_id, judge_id ORDER BY verdict_id DESC) AS rn
                    FROM verdicts WHERE judge_id LIKE 'human:%') WHERE rn = 1),
            pairs AS (
                SELECT l.traj_id, l.judge_id, l.prompt_version,
                       count(*) FILTER (WHERE l.label <> 'uncertain') AS n,  -- agreement on what it labelled
                       count(*) FILTER (WHERE h.label = l.label) AS agree
                FROM latest l JOIN human h ON h.traj_id = l.traj_id AND h.judge_id <> l.judge_id
                GROUP BY l.traj_id, l.judge_id, l.prompt_version)
            SELECT l.judge_id, l.prompt_version, t.run_id, r.name AS run_name,
                   count(*) AS judged,
                   count(*) FILTER (WHERE l.label = 'success' AND tr.success) AS tp,
                   count(*) FILTER (WHERE l.label = 'failure' AND tr.success) AS fn,
                   count(*) FILTER (WHERE l.label = 'success' AND NOT tr.success) AS fp,
                   count(*) FILTER (WHERE l.label = 'failure' AND NOT tr.success) AS tn,
                   count(*) FILTER (WHERE l.label = 'uncertain') AS uncertain,
                   count(*) FILTER (WHERE l.label = 'uncertain' AND tr.success IS NOT NULL) AS uncertain_with_truth,
                   coalesce(sum(p.n), 0) AS human_pairs,
                   coalesce(sum(p.agree), 0) AS human_agree
            FROM latest l
            JOIN trajectories t ON t.traj_id = l.traj_id
            JOIN runs r ON r.run_id = t.run_id
            LEFT JOIN truth tr ON tr.traj_id = l.traj_id
            LEFT JOIN pairs p ON p.traj_id = l.traj_id AND p.judge_id = l.judge_id
                             AND p.prompt_version IS NOT DISTINCT FROM l.prompt_version
            GROUP BY l.judge_id, l.prompt_version, t.run_id, r.name ORDER BY 1, 2, 3, 4
        """
        with self._con() as con:
            return _dicts(con.execute(sql))

    def add_selection(self, selection: Selection) -> Selection:
        with self.transaction(), self._con() as con:
            selection.selection_id = selection.selection_id or self._next_id(con, "selections", "selection_id")
            selection.created_at = selection.created_at or self.clock()
            con.execute(f"INSERT INTO selections ({_SELECTION_COLS}) VALUES ({', '.join('?' * 13)})", [
                selection.selection_id, selection.run_id, selection.task_id, selection.traj_ids,
                selection.selector_id, selection.prompt_version, selection.chosen_traj_id, selection.analysis,
                _dumps(selection.scores), selection.llm_call_id, selection.tokens_in, selection.tokens_out,
                selection.created_at])
        return selection

    def selections(self, *, run_id: int | None = None, selector_id: str | None = None) -> list[Selection]:
        """Best-of-N picks, oldest first (the newest per group and selector is the one that counts)."""
        clauses, params = [], []
        for column, value in (("run_id", run_id), ("selector_id", selector_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._con() as con:
            rows = con.execute(f"SELECT {_SELECTION_COLS} FROM selections {where} ORDER BY selection_id",
                               params).fetchall()
        return [_selection(r) for r in rows]

    def add_contrast_extraction(self, mark: ContrastExtraction) -> None:
        with self._con() as con:
            con.execute(f"INSERT INTO contrast_extractions ({_CONTRAST_COLS}) VALUES ({', '.join('?' * 10)})", [
                mark.run_id, mark.task_id, mark.traj_ids, mark.labels, mark.verdict_ids, mark.extractor_id,
                mark.prompt_version, mark.n_items, mark.llm_call_id, mark.created_at or self.clock()])

    def contrast_extractions(self, extractor_id: str | None = None) -> list[ContrastExtraction]:
        where, params = ("WHERE extractor_id = ?", [extractor_id]) if extractor_id else ("", [])
        with self._con() as con:
            rows = con.execute(f"SELECT {_CONTRAST_COLS} FROM contrast_extractions {where} ORDER BY created_at",
                               params).fetchall()
        return [_contrast(r) for r in rows]
