"""Bank statistics: rows per table, items per source and status, outcomes per run and trial, and per task."""

from __future__ import annotations

from typing import Any

from .rows import CURRENT_VERDICTS_SQL, _dicts


# One row per run and task (see `MetricQueries.agent_task_outcomes`): the tasks every agent-run figure rests on.
TASK_OUTCOMES_SQL = f"""
WITH cur AS ({CURRENT_VERDICTS_SQL}),
t AS (SELECT t.run_id, t.task_id, t.traj_id, t.seq, t.num_steps, tr.success AS truth,
             CASE cur.label WHEN 'success' THEN true WHEN 'failure' THEN false END AS judged
      FROM trajectories t LEFT JOIN truth tr USING (traj_id) LEFT JOIN cur USING (traj_id)),
pick AS (SELECT run_id, task_id, chosen_traj_id FROM (
             SELECT run_id, task_id, chosen_traj_id,
                    row_number() OVER (PARTITION BY run_id, task_id ORDER BY selection_id) AS rn
             FROM selections) WHERE rn = 1),
last AS (SELECT run_id, task_id, traj_id AS last_traj_id FROM (
             SELECT run_id, task_id, traj_id,
                    row_number() OVER (PARTITION BY run_id, task_id ORDER BY seq DESC) AS rn
             FROM t) WHERE rn = 1),
calls AS (SELECT t.run_id, t.task_id, count(*) AS n, sum(c.tokens_in) AS tin, sum(c.tokens_out) AS tout,
                 count(*) FILTER (WHERE c.purpose = 'agent') AS agent_n,
                 coalesce(sum(c.tokens_in + c.tokens_out) FILTER (WHERE c.purpose = 'agent'), 0)
                     AS agent_tokens
          FROM llm_calls c JOIN t ON c.traj_id = t.traj_id GROUP BY t.run_id, t.task_id),
group_call_ids AS (SELECT run_id, task_id, llm_call_id FROM selections WHERE llm_call_id IS NOT NULL
                   UNION ALL
                   SELECT run_id, task_id, llm_call_id FROM contrast_extractions
                   WHERE llm_call_id IS NOT NULL),
group_calls AS (SELECT g.run_id, g.task_id, count(*) AS n, sum(c.tokens_in) AS tin,
                       sum(c.tokens_out) AS tout
                FROM group_call_ids g JOIN llm_calls c ON c.call_id = g.llm_call_id
                GROUP BY g.run_id, g.task_id)
SELECT t.run_id, t.task_id, min(t.seq) AS first_seq, count(*) AS trajectories,
       avg(t.num_steps) AS mean_steps, count(t.truth) AS with_truth,
       avg(CASE WHEN t.truth THEN 1.0 WHEN NOT t.truth THEN 0.0 END) AS mean_truth,
       bool_or(t.truth) AS any_truth,
       any_value(p.chosen_traj_id) IS NOT NULL AS selected,
       any_value(t.truth) FILTER (WHERE t.traj_id = coalesce(p.chosen_traj_id, l.last_traj_id))
           AS final_truth,
       any_value(t.judged) FILTER (WHERE t.traj_id = coalesce(p.chosen_traj_id, l.last_traj_id))
           AS final_judged,
       any_value(t.num_steps) FILTER (WHERE t.traj_id = coalesce(p.chosen_traj_id, l.last_traj_id))
           AS final_steps,
       coalesce(any_value(c.n), 0) + coalesce(any_value(g.n), 0) AS llm_calls,
       coalesce(any_value(c.tin), 0) + coalesce(any_value(g.tin), 0) AS tokens_in,
       coalesce(any_value(c.tout), 0) + coalesce(any_value(g.tout), 0) AS tokens_out,
       coalesce(any_value(c.agent_n), 0) AS agent_calls,
       coalesce(any_value(c.agent_tokens), 0) AS agent_tokens
FROM t
LEFT JOIN pick p USING (run_id, task_id)
LEFT JOIN last l USING (run_id, task_id)
LEFT JOIN calls c USING (run_id, task_id)
LEFT JOIN group_calls g USING (run_id, task_id)
GROUP BY t.run_id, t.task_id
"""
# What a set of those tasks comes to, aggregated where they are (a 100k bank has ~50k of them: made into Python
# dicts first, they cost more than the query); `task_summary` in tests/test_agent_run_summaries.py defines the same
# figures in Python. A MaTTS group is a task tried more than once, every try with its truth.
MATTS_GROUP = "trajectories > 1 AND with_truth = trajectories"
TASK_SUMMARY_SQL = f"""count(*) AS tasks, sum(trajectories) AS trajectories,
    avg(CASE WHEN final_truth THEN 1.0 WHEN NOT final_truth THEN 0.0 END) AS success_rate,
    count(final_truth) AS with_truth,
    avg(CASE WHEN final_judged THEN 1.0 WHEN NOT final_judged THEN 0.0 END) AS judged_success_rate,
    avg(final_steps) AS mean_steps, avg(CASE WHEN final_truth THEN final_steps END) AS mean_steps_success,
    avg(CASE WHEN NOT final_truth THEN final_steps END) AS mean_steps_failure,
    avg(llm_calls) AS llm_calls_per_task, avg(tokens_in + tokens_out) AS tokens_per_task,
    avg(agent_tokens) AS agent_tokens_per_task,
    count(*) FILTER ({MATTS_GROUP}) AS matts_groups, avg(trajectories) FILTER ({MATTS_GROUP}) AS matts_mean_k,
    avg(CASE WHEN final_truth THEN 1.0 WHEN NOT final_truth THEN 0.0 END) FILTER ({MATTS_GROUP} AND selected)
        AS matts_best_of_n,
    count(*) FILTER ({MATTS_GROUP} AND selected) AS matts_picked,
    avg(mean_truth) FILTER ({MATTS_GROUP}) AS matts_pass_at_1,
    avg(CASE WHEN any_truth THEN 1.0 WHEN NOT any_truth THEN 0.0 END) FILTER ({MATTS_GROUP}) AS matts_pass_at_k"""


class MetricQueries:
    """Table and item counts, run outcomes, and agent task outcomes."""

    def table_counts(self) -> dict[str, int]:
        tables = ("runs", "trajectories", "steps", "truth", "verdicts", "memory_items", "item_sources",
                  "memory_events", "retrievals", "llm_calls")
        with self._con() as con:
            sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in tables)
            return dict(con.execute(sql).fetchall())

    def item_counts(self) -> list[tuple[str, str, int]]:
        """(source, status, count) for every combination present."""
        with self._con() as con:
            return con.execute("SELECT source, status, count(*) FROM memory_items GROUP BY source, status "
                               "ORDER BY source, status").fetchall()

    def run_outcomes(self) -> list[dict[str, Any]]:
        """Per run and trial: trajectories, mean steps, success rate by truth and by current verdict."""
        sql = f"""
            WITH cur AS ({CURRENT_VERDICTS_SQL})
            SELECT r.run_id, r.name, r.source_format, r.memory_mode, t.trial,
                   count(*) AS trajectories,
                   avg(t.num_steps) AS mean_steps,
                   count(tr.success) AS with_truth,
                   avg(CASE WHEN tr.success THEN 1.0 WHEN NOT tr.success THEN 0.0 END) AS truth_success_rate,
                   avg(CASE WHEN tr.success THEN t.num_steps END) AS truth_mean_steps_success,
                   avg(CASE WHEN NOT tr.success THEN t.num_steps END) AS truth_mean_steps_failure,
                   count(cur.label) AS judged,
                   avg(CASE WHEN cur.label = 'success' THEN 1.0 WHEN cur.label = 'failure' THEN 0.0 END)
                       AS verdict_success_rate,
                   avg(CASE WHEN cur.label = 'success' THEN t.num_steps END) AS verdict_mean_steps_success,
                   avg(CASE WHEN cur.label = 'failure' THEN t.num_steps END) AS verdict_mean_steps_failure
            FROM trajectories t
            JOIN runs r USING (run_id)
            LEFT JOIN truth tr USING (traj_id)
            LEFT JOIN cur USING (traj_id)
            GROUP BY GROUPING SETS ((r.run_id, r.name, r.source_format, r.memory_mode),
                                    (r.run_id, r.name, r.source_format, r.memory_mode, t.trial))
            ORDER BY r.run_id, t.trial NULLS FIRST
        """
        with self._con() as con:
            return _dicts(con.execute(sql))

    def agent_task_outcomes(self) -> list[dict[str, Any]]:
        """Per run and task, in the order the run did them: trajectories, steps, truth (mean and any), the
        outcome of the trajectory that counts for the task (its first best-of-N pick — for a live run, the one the
        run made; a later replay with another selector does not rewrite it — else the last attempt)
        by truth and by current verdict, and the LLM calls and tokens spent on it (agent, judge, extractor,
        selector and contrast calls; and the agent's own share)."""
        with self._con() as con:
            return _dicts(con.execute(TASK_OUTCOMES_SQL + " ORDER BY t.run_id, first_seq"))

    def agent_run_summaries(self, curve_points: int) -> dict[str, list[dict[str, Any]]]:
        """`agent_task_outcomes` summed up where it lies, in one pass over the tasks: the `TASK_SUMMARY_SQL` columns
        per run and per (env, memory mode, MaTTS mode, k) of runs (the read side drops modes not recorded); and per
        run its success curve in `curve_points` consecutive blocks of tasks (in the order it did them), each block's
        tasks, tasks with truth (`with_truth`), successes and mean steps (the read side adds the running rate)."""
        sql = f"""
            WITH task AS ({TASK_OUTCOMES_SQL}),
            ranked AS (SELECT task.*, r.env, r.memory_mode, r.matts_mode, r.matts_k,
                              row_number() OVER (PARTITION BY run_id ORDER BY first_seq) - 1 AS i,
                              count(*) OVER (PARTITION BY run_id) AS n
                       FROM task JOIN runs r USING (run_id)),
            blocked AS (SELECT *, i // ((n + ? - 1) // ?) AS block FROM ranked)
            SELECT run_id, env, memory_mode, matts_mode, matts_k, block, GROUPING(run_id) AS across_runs,
                   GROUPING(block) AS whole_run, min(i) + 1 AS first_task, max(i) + 1 AS last_task,
                   count(*) FILTER (final_truth) AS successes, {TASK_SUMMARY_SQL}
            FROM blocked
            GROUP BY GROUPING SETS ((run_id), (env, memory_mode, matts_mode, matts_k), (run_id, block))
            ORDER BY run_id, block"""
        with self._con() as con:
            rows = _dicts(con.execute(sql, [curve_points, curve_points]))
        return {"runs": [r for r in rows if not r["across_runs"] and r["whole_run"]],
                "by_memory": [r for r in rows if r["across_runs"]],
                "curves": [r for r in rows if not r["across_runs"] and not r["whole_run"]]}
