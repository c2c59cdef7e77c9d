"""What comparing runs and auditing a run for leakage read (issue 18): each run's counted trajectories with their
outcome, steps and tokens; and, for a run's retrievals, the lessons that rest on the retrieving task, the lessons
that did not exist yet, and what the agent's prompts and shown lessons said.
"""

from __future__ import annotations

from typing import Any

from .rows import _dicts, current_verdicts_sql

# The run's trajectories: each per-trajectory table below (current labels, tokens, prompts, items' creation) is built
# for these only, not for the whole bank and then joined down to one run.
_RUN_TRAJS = "traj_id IN (SELECT traj_id FROM trajectories WHERE run_id = $1)"

# Which event put each trajectory's evidence on an item: CREATE and REINFORCE events name it in `related`
# (`traj_id`, or `traj_ids` for a self-contrast group).
_EVIDENCE_EVENTS = """
    SELECT item_id, traj, min(event_id) AS first_event FROM (
        SELECT item_id, event_id, related->>'$.traj_id' AS traj FROM memory_events
        UNION ALL
        SELECT item_id, event_id, unnest(CAST(related->'$.traj_ids' AS TEXT[])) FROM memory_events
            WHERE json_type(related->'$.traj_ids') = 'ARRAY')
    WHERE traj IS NOT NULL GROUP BY item_id, traj
"""


class ExperimentQueries:
    """Per-run outcomes for `compare`, and the evidence `leakage.audit_run` weighs."""

    def run_attempts(self, run_id: int) -> list[dict[str, Any]]:
        """A run's counted trajectories in order: task, trial, steps, truth, current label and the tokens of the
        LLM calls attached to it (None when none were recorded). A live run with parallel MaTTS counts only its
        best-of-N pick for a task (that pick is the run's answer); every other run counts every trajectory, so an
        imported file's trials stay trials."""
        sql = f"""
            WITH cur AS ({current_verdicts_sql(_RUN_TRAJS)}),
            pick AS (SELECT task_id, chosen_traj_id FROM (
                         SELECT task_id, chosen_traj_id,
                                row_number() OVER (PARTITION BY task_id ORDER BY selection_id) AS rn
                         FROM selections WHERE run_id = $1) WHERE rn = 1),
            tokens AS (SELECT traj_id, sum(coalesce(tokens_in, 0) + coalesce(tokens_out, 0)) AS tokens
                       FROM llm_calls WHERE {_RUN_TRAJS}
                             AND (tokens_in IS NOT NULL OR tokens_out IS NOT NULL) GROUP BY traj_id)
            SELECT t.task_id, t.traj_id, t.trial, t.num_steps AS steps, tr.success AS truth,
                   CASE cur.label WHEN 'success' THEN true WHEN 'failure' THEN false END AS verdict,
                   tk.tokens
            FROM trajectories t JOIN runs r USING (run_id)
            LEFT JOIN truth tr USING (traj_id) LEFT JOIN cur USING (traj_id) LEFT JOIN tokens tk USING (traj_id)
            LEFT JOIN pick p ON p.task_id = t.task_id
            WHERE t.run_id = $1
              AND (p.chosen_traj_id IS NULL OR r.source_format <> 'live' OR r.matts_mode IS DISTINCT FROM 'parallel'
                   OR p.chosen_traj_id = t.traj_id)
            ORDER BY t.seq
        """
        with self._con() as con:
            return _dicts(con.execute(sql, [run_id]))

    def same_task_retrievals(self, run_id: int) -> list[dict[str, Any]]:
        """Lessons shown to a trajectory of the run that rest on that trajectory's own task — directly, or through
        an item it was merged from. Evidence the event log proves was attached after the retrieval (its first
        naming event is newer than the retrieval's `as_of_event`: the task's own lesson learned again afterwards)
        does not count, nor does the retrieving trajectory itself; evidence the log never names counts."""
        sql = f"""
            WITH RECURSIVE shown AS (
                SELECT r.retrieval_id, r.traj_id, r.item_id, r.as_of_event, t.task_id
                FROM retrievals r JOIN trajectories t USING (traj_id) WHERE t.run_id = $1),
            lineage(retrieval_id, item_id, via) AS (
                SELECT retrieval_id, item_id, item_id FROM shown
                UNION
                SELECT l.retrieval_id, l.item_id, s.parent_item_id FROM lineage l JOIN item_sources s
                    ON s.item_id = l.via AND s.relation = 'parent' AND s.parent_item_id IS NOT NULL),
            named AS ({_EVIDENCE_EVENTS})
            SELECT DISTINCT sh.traj_id, sh.task_id, sh.item_id, l.via AS learned_by, s.traj_id AS source_traj_id,
                   sh.as_of_event, n.first_event
            FROM shown sh JOIN lineage l USING (retrieval_id, item_id)
            JOIN item_sources s ON s.item_id = l.via AND s.traj_id IS NOT NULL
            JOIN trajectories src ON src.traj_id = s.traj_id
            LEFT JOIN named n ON n.item_id = s.item_id AND n.traj = s.traj_id
            WHERE src.task_id = sh.task_id AND s.traj_id <> sh.traj_id
              AND NOT (sh.as_of_event IS NOT NULL AND n.first_event IS NOT NULL AND n.first_event > sh.as_of_event)
            ORDER BY sh.traj_id, sh.item_id, learned_by, source_traj_id
        """
        with self._con() as con:
            return _dicts(con.execute(sql, [run_id]))

    def future_retrievals(self, run_id: int) -> list[dict[str, Any]]:
        """Lessons shown to a trajectory of the run that did not exist yet: created by an event newer than the
        bank state the retrieval says it read (`as_of_event`), or created after the trajectory started."""
        sql = f"""
            WITH created AS (SELECT item_id, min(event_id) AS event_id, min(created_at) AS created_at
                             FROM memory_events
                             WHERE item_id IN (SELECT item_id FROM retrievals WHERE {_RUN_TRAJS}) GROUP BY item_id)
            SELECT DISTINCT r.traj_id, t.task_id, r.item_id, r.as_of_event, c.event_id AS created_event,
                   c.created_at AS item_created_at, t.started_at AS task_started_at
            FROM retrievals r JOIN trajectories t USING (traj_id) JOIN created c USING (item_id)
            WHERE t.run_id = $1
              AND ((r.as_of_event IS NOT NULL AND c.event_id > r.as_of_event)
                   OR (t.started_at IS NOT NULL AND c.created_at > t.started_at))
            ORDER BY r.traj_id, r.item_id
        """
        with self._con() as con:
            return _dicts(con.execute(sql, [run_id]))

    def run_prompt_texts(self, run_id: int) -> list[dict[str, Any]]:
        """Per trajectory of the run: its task, its ground truth's gold answer, the system prompts of its agent
        calls (where the memory block goes) and the text of every lesson it was shown."""
        sql = f"""
            WITH prompts AS (
                SELECT traj_id, list(request ORDER BY call_id) AS requests FROM llm_calls
                WHERE purpose = 'agent' AND {_RUN_TRAJS} AND request IS NOT NULL GROUP BY traj_id),
            lessons AS (
                SELECT r.traj_id, list(DISTINCT i.item_id) AS item_ids,
                       list(i.title || '\n' || i.description || '\n' || i.content ORDER BY i.item_id) AS texts
                FROM retrievals r JOIN memory_items i USING (item_id)
                WHERE r.traj_id IN (SELECT traj_id FROM trajectories WHERE run_id = $1) GROUP BY r.traj_id)
            SELECT t.traj_id, t.task_id, tr.gold, p.requests, l.item_ids, l.texts
            FROM trajectories t LEFT JOIN truth tr USING (traj_id) LEFT JOIN prompts p USING (traj_id)
            LEFT JOIN lessons l USING (traj_id)
            WHERE t.run_id = $1 ORDER BY t.seq
        """
        with self._con() as con:
            return _dicts(con.execute(sql, [run_id]))

    def bank_snapshot(self) -> dict[str, int]:
        """What a run starts from: the last memory event and the items then retrievable, so a repeat can say how
        far the bank has moved since."""
        with self._con() as con:
            row = con.execute(
                "SELECT (SELECT coalesce(max(event_id), 0) FROM memory_events), "
                "(SELECT count(*) FROM memory_items WHERE status = 'approved'), "
                "(SELECT count(*) FROM memory_items)").fetchall()[0]
        return {"last_event_id": int(row[0]), "approved_items": int(row[1]), "items": int(row[2])}
