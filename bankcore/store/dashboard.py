"""Reads for the dashboard's screens. Each is paginated or aggregated, uses one connection and does its grouping
in SQL, so a screen costs the same at 100k items as at 100. Rows come back as plain dicts (column → value).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from ..models import ItemSource, MemoryItem
from .rows import CURRENT_VERDICTS_SQL, _ITEM_COLS_NO_VECTOR, _dicts, _first, _item, _item_filter, current_verdicts_sql

_FLAGGED = "coalesce(json_array_length(flags), 0) > 0"
_RATE = "avg(CASE WHEN {col} THEN 1.0 WHEN NOT {col} THEN 0.0 END)"
_LABEL_RATE = "avg(CASE {col} WHEN 'success' THEN 1.0 WHEN 'failure' THEN 0.0 END)"
_ITEM_ORDER = {
    "newest": "created_at DESC, item_id DESC", "oldest": "created_at, item_id",
    "recently changed": "updated_at DESC, item_id DESC", "confidence": "confidence DESC NULLS LAST, item_id",
    "title": "title, item_id",
}
# Current label as of a verdict id: the newest human verdict up to then, else the newest verdict up to then.
_CURRENT_VERDICTS_UPTO = current_verdicts_sql("verdict_id <= ?")
# One row per trajectory with what the outcome charts need; the time is the trajectory's own, else its run's.
_OUTCOMES_CTE = f"""
    cur AS ({CURRENT_VERDICTS_SQL}),
    t AS (SELECT t.traj_id, t.run_id, t.trial, t.domain, t.num_steps, row_number() OVER (ORDER BY t.seq) AS n,
                 coalesce(t.started_at, r.started_at) AS moment, r.name AS run_name, r.memory_mode, r.env,
                 tr.success AS truth, cur.label AS label
          FROM trajectories t JOIN runs r USING (run_id) LEFT JOIN truth tr USING (traj_id)
          LEFT JOIN cur USING (traj_id))
"""
_OUTCOME_AGG = (f"count(*) AS trajectories, avg(t.num_steps) AS mean_steps, count(t.truth) AS with_truth, "
                f"{_RATE.format(col='t.truth')} AS truth_success_rate, count(t.label) AS judged, "
                f"{_LABEL_RATE.format(col='t.label')} AS verdict_success_rate")
_TRAJ_BROWSE = f"""WITH cur AS ({CURRENT_VERDICTS_SQL})
    SELECT {{cols}} FROM trajectories t LEFT JOIN truth tr USING (traj_id) LEFT JOIN cur USING (traj_id) {{where}}"""


def _traj_filter(run_id: int | None = None, task_id: str | None = None, label: str | None = None,
                 truth: bool | None = None, disagreement: bool = False, text: str | None = None) -> tuple[str, list]:
    """WHERE clause over trajectories `t`, current verdicts `cur` and truth `tr`. label: success | failure |
    unjudged; disagreement: the current label contradicts the truth."""
    clauses, params = [], []
    if label == "unjudged":
        clauses.append("cur.label IS NULL")
        label = None
    for column, value in (("t.run_id", run_id), ("t.task_id", task_id), ("cur.label", label), ("tr.success", truth)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if disagreement:
        clauses.append("cur.label IN ('success', 'failure') AND (cur.label = 'success') <> tr.success")
    if text:
        clauses.append("(t.query ILIKE ? OR t.task_id ILIKE ?)")
        params += [f"%{text}%"] * 2
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


class DashboardQueries:
    """Review queue, browsers, outcome series, event markers, the bank over time, merge graph."""

    def review_counts(self) -> dict[str, int]:
        """What needs a human: pending items, and active items per flag kind (the part of a flag before ':')."""
        sql = f"""
            SELECT 'pending' AS what, count(*) AS n FROM memory_items WHERE status = 'pending'
            UNION ALL
            SELECT 'flag:' || split_part(flag, ':', 1), count(DISTINCT item_id)
            FROM (SELECT item_id, unnest(CAST(flags AS VARCHAR[])) AS flag FROM memory_items
                  WHERE status IN ('pending', 'approved') AND {_FLAGGED})
            GROUP BY 1"""
        with self._con() as con:
            return dict(con.execute(sql).fetchall())

    def latest_batches(self, kinds: Iterable[str], limit: int = 1) -> list[dict[str, Any]]:
        """The most recent batches of events of these kinds: a consolidation is one batch of MERGE/SUPERSEDE."""
        sql = """SELECT coalesce(batch_id, 'event-' || event_id) AS batch, min(actor) AS actor,
                        min(created_at) AS started, max(created_at) AS finished, count(*) AS events,
                        count(DISTINCT item_id) AS items, max(event_id) AS last_event
                 FROM memory_events WHERE list_contains(?, kind) GROUP BY 1 ORDER BY last_event DESC LIMIT ?"""
        with self._con() as con:
            return _dicts(con.execute(sql, [list(kinds), limit]))

    def count_batches(self, kinds: Iterable[str]) -> int:
        """How many batches of events of these kinds there are (e.g. consolidations: MERGE batches)."""
        with self._con() as con:
            return con.execute("SELECT count(DISTINCT coalesce(batch_id, 'event-' || event_id)) FROM memory_events "
                               "WHERE list_contains(?, kind)", [list(kinds)]).fetchone()[0]

    def judge_usage(self) -> list[dict[str, Any]]:
        """Every judge that has labelled trajectories here, newest first (humans included)."""
        sql = """SELECT judge_id, count(*) AS verdicts, count(DISTINCT traj_id) AS trajectories,
                        max(created_at) AS last_at, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out
                 FROM verdicts GROUP BY judge_id ORDER BY max(verdict_id) DESC"""
        with self._con() as con:
            return _dicts(con.execute(sql))

    def extractor_usage(self) -> list[dict[str, Any]]:
        """Every extractor that has distilled trajectories here, newest first: the trajectories it read (one re-read
        after its label flipped counts once — the demo said "201 trajectories" of 200) and its extractions."""
        sql = """SELECT extractor_id, count(DISTINCT traj_id) AS trajectories, count(*) AS extractions,
                        sum(n_items) AS items, max(created_at) AS last_at
                 FROM extractions GROUP BY extractor_id ORDER BY max(created_at) DESC"""
        with self._con() as con:
            return _dicts(con.execute(sql))

    # items
    def item_facets(self) -> dict[str, list[tuple[Any, int]]]:
        """Distinct values and counts of the filterable item columns (domain, source, status)."""
        with self._con() as con:
            return {column: con.execute(f"SELECT {column}, count(*) FROM memory_items GROUP BY 1 "
                                        "ORDER BY 2 DESC, 1 NULLS LAST").fetchall()
                    for column in ("domain", "source", "status")}

    def browse_items(self, *, filters: dict[str, Any], order: str = "newest", limit: int = 50,
                     offset: int = 0) -> tuple[list[MemoryItem], int]:
        """One page of items matching `filters` (see `_item_filter`), and how many match in all."""
        where, params = _item_filter(**filters)
        order_by = _ITEM_ORDER[order]
        with self._con() as con:
            total = _first(con.execute(f"SELECT count(*) FROM memory_items {where}", params))[0]
            rows = con.execute(f"SELECT {_ITEM_COLS_NO_VECTOR} FROM memory_items {where} ORDER BY {order_by} "
                               f"LIMIT {int(limit)} OFFSET {int(offset)}", params).fetchall()
        return [_item(r) for r in rows], total

    def retrieval_stats(self, item_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Per item: times retrieved, distinct tasks, and the outcome of the trajectories that retrieved it (rates,
        and the counts under them: a rate is shown with its n)."""
        ids = list(item_ids)
        if not ids:
            return {}
        sql = f"""
            WITH cur AS ({CURRENT_VERDICTS_SQL})
            SELECT r.item_id, count(*) AS retrieved, count(DISTINCT r.task_id) AS tasks,
                   min(r.rank) AS best_rank, avg(r.score) AS mean_score, max(r.created_at) AS last_at,
                   {_RATE.format(col='tr.success')} AS truth_success_rate,
                   {_LABEL_RATE.format(col='cur.label')} AS verdict_success_rate,
                   count(tr.success) AS with_truth, count(*) FILTER (WHERE tr.success) AS truth_successes,
                   count(*) FILTER (WHERE cur.label IN ('success', 'failure')) AS judged,
                   count(*) FILTER (WHERE cur.label = 'success') AS judged_successes
            FROM retrievals r LEFT JOIN truth tr USING (traj_id) LEFT JOIN cur USING (traj_id)
            WHERE list_contains(?, r.item_id) GROUP BY r.item_id"""
        with self._con() as con:
            return {row["item_id"]: row for row in _dicts(con.execute(sql, [ids]))}

    def item_retrievals(self, item_id: int, limit: int = 50) -> list[dict[str, Any]]:
        """The latest times this item was shown to a task, with how that task went."""
        sql = f"""
            WITH cur AS ({CURRENT_VERDICTS_SQL})
            SELECT r.created_at, r.query, r.task_id, r.traj_id, r.rank, r.score, r.k, tr.success AS truth,
                   cur.label AS verdict
            FROM retrievals r LEFT JOIN truth tr USING (traj_id) LEFT JOIN cur USING (traj_id)
            WHERE r.item_id = ? ORDER BY r.retrieval_id DESC LIMIT ?"""
        with self._con() as con:
            return _dicts(con.execute(sql, [item_id, limit]))

    def item_evidence(self, item_id: int, *, limit: int = 5, offset: int = 0) -> tuple[list[ItemSource], int]:
        """One page of the trajectories an item rests on (evidence and contrast rows; parents are `item_parent_ids`),
        and how many there are in all: a merged lesson may rest on dozens, and the item page shows a few at a time."""
        where = "item_id = ? AND traj_id IS NOT NULL"
        with self._con() as con:
            total = _first(con.execute(f"SELECT count(*) FROM item_sources WHERE {where}", [item_id]))[0]
            rows = con.execute(f"SELECT item_id, relation, traj_id, step_idxs, parent_item_id FROM item_sources "
                               f"WHERE {where} ORDER BY relation, traj_id LIMIT {int(limit)} OFFSET {int(offset)}",
                               [item_id]).fetchall()
        return [ItemSource(r[0], r[1], r[2], list(r[3] or []), r[4]) for r in rows], total

    def item_parent_ids(self, item_id: int) -> list[int]:
        """The items this one was merged from."""
        with self._con() as con:
            rows = con.execute("SELECT DISTINCT parent_item_id FROM item_sources WHERE item_id = ? "
                               "AND parent_item_id IS NOT NULL ORDER BY 1", [item_id]).fetchall()
        return [r[0] for r in rows]

    def items_with_versions(self, *, limit: int = 500) -> list[dict[str, Any]]:
        """Items whose text or state changed at least once (version > 1), most recently changed first: the list a
        reviewer picks an item from to compare its versions."""
        with self._con() as con:
            return _dicts(con.execute("SELECT item_id, title, version, status FROM memory_items WHERE version > 1 "
                                      "ORDER BY updated_at DESC, item_id DESC LIMIT ?", [limit]))

    def merged_items(self, *, limit: int = 500) -> list[dict[str, Any]]:
        """Items written by a merge (they have parent items), newest first: the list a lineage is centred from."""
        with self._con() as con:
            return _dicts(con.execute(
                "SELECT item_id, title, version, status FROM memory_items WHERE item_id IN "
                "(SELECT item_id FROM item_sources WHERE parent_item_id IS NOT NULL) "
                "ORDER BY created_at DESC, item_id DESC LIMIT ?", [limit]))

    def review_queue(self, *, which: str = "all", limit: int = 20, offset: int = 0
                     ) -> tuple[list[MemoryItem], int]:
        """Items waiting for a human: pending ones and active flagged ones; flagged first, then oldest first."""
        where = {"all": "status = 'pending' OR (status = 'approved' AND " + _FLAGGED + ")",
                 "pending": "status = 'pending'",
                 "flagged": "status IN ('pending', 'approved') AND " + _FLAGGED}[which]
        with self._con() as con:
            total = _first(con.execute(f"SELECT count(*) FROM memory_items WHERE {where}"))[0]
            rows = con.execute(f"SELECT {_ITEM_COLS_NO_VECTOR} FROM memory_items WHERE {where} "
                               f"ORDER BY ({_FLAGGED}) DESC, created_at, item_id "
                               f"LIMIT {int(limit)} OFFSET {int(offset)}").fetchall()
        return [_item(r) for r in rows], total

    # trajectories and verdicts
    def browse_trajectories(self, *, limit: int = 50, offset: int = 0, **filters: Any
                            ) -> tuple[list[dict[str, Any]], int]:
        """One page of trajectories (newest first) with their current label and truth, and the total matching.
        Filters: see `_traj_filter`."""
        where, params = _traj_filter(**filters)
        cols = ("t.traj_id, t.run_id, t.seq, t.task_id, t.trial, t.domain, left(t.query, 240) AS query, "
                "t.num_steps, t.started_at, cur.label AS verdict, cur.judge_id AS judge, tr.success AS truth, "
                "tr.reward")
        with self._con() as con:
            total = _first(con.execute(_TRAJ_BROWSE.format(cols="count(*)", where=where), params))[0]
            rows = _dicts(con.execute(_TRAJ_BROWSE.format(cols=cols, where=where)
                                      + f" ORDER BY t.seq DESC LIMIT {int(limit)} OFFSET {int(offset)}", params))
        return rows, total

    def matching_traj_ids(self, **filters: Any) -> list[str]:
        """Every trajectory the browser's filters match, in arrival order: a selection to judge again."""
        where, params = _traj_filter(**filters)
        with self._con() as con:
            return [r[0] for r in con.execute(_TRAJ_BROWSE.format(cols="t.traj_id", where=where)
                                              + " ORDER BY t.seq", params).fetchall()]

    def judge_vs_humans(self) -> list[dict[str, Any]]:
        """Per judge and prompt version: its newest label on each trajectory a human labelled, against the newest
        human label there — one row per (label, human label) cell with its count. (Against the truth:
        `judge_outcomes`.)"""
        sql = """
            WITH latest AS (
                SELECT traj_id, judge_id, prompt_version, label FROM (
                    SELECT traj_id, judge_id, prompt_version, label, row_number() OVER (
                        PARTITION BY traj_id, judge_id, prompt_version ORDER BY verdict_id DESC) AS rn
                    FROM verdicts WHERE judge_id NOT LIKE 'human:%') WHERE rn = 1),
            human AS (
                SELECT traj_id, label FROM (
                    SELECT traj_id, label, row_number() OVER (PARTITION BY traj_id ORDER BY verdict_id DESC) AS rn
                    FROM verdicts WHERE judge_id LIKE 'human:%') WHERE rn = 1)
            SELECT l.judge_id, l.prompt_version, l.label, h.label AS human_label, count(*) AS n
            FROM latest l JOIN human h USING (traj_id)
            GROUP BY l.judge_id, l.prompt_version, l.label, h.label ORDER BY 1, 2, 3, 4"""
        with self._con() as con:
            return _dicts(con.execute(sql))

    def verdict_flips(self, since_verdict_id: int, limit: int = 200) -> list[dict[str, Any]]:
        """Trajectories whose current label changed with verdicts written after `since_verdict_id`."""
        sql = f"""
            WITH old AS ({_CURRENT_VERDICTS_UPTO}), now AS ({CURRENT_VERDICTS_SQL})
            SELECT now.traj_id, t.task_id, left(t.query, 240) AS query, old.label AS old_label,
                   old.judge_id AS old_judge, now.label AS new_label, now.judge_id AS new_judge,
                   tr.success AS truth
            FROM now JOIN old USING (traj_id) JOIN trajectories t USING (traj_id) LEFT JOIN truth tr USING (traj_id)
            WHERE now.verdict_id > ? AND now.label <> old.label ORDER BY t.seq LIMIT ?"""
        with self._con() as con:
            return _dicts(con.execute(sql, [since_verdict_id, since_verdict_id, limit]))

    def max_verdict_id(self) -> int:
        with self._con() as con:
            return _first(con.execute("SELECT coalesce(max(verdict_id), 0) FROM verdicts"))[0]

    # outcomes over time
    def outcome_series(self, *, bucket: str = "run", split: str | None = None,
                       window: int = 50) -> list[dict[str, Any]]:
        """Success rate (by truth and by current verdict) and mean steps per bucket, optionally split in series.

        bucket: run | trial | day | week | window (every `window` trajectories in arrival order);
        split: None | memory_mode | domain | env. Every row has `start`, the earliest moment in its bucket, so a time
        axis can carry memory events next to it.
        """
        buckets = {"run": "t.run_id", "trial": "t.trial", "day": "date_trunc('day', t.moment)",
                   "week": "date_trunc('week', t.moment)", "window": f"(t.n - 1) // {max(1, int(window))}"}
        splits = {None: "'all'", "memory_mode": "coalesce(t.memory_mode, 'unknown')",
                  "domain": "coalesce(t.domain, 'unknown')", "env": "coalesce(t.env, 'unknown')"}
        sql = f"""
            WITH {_OUTCOMES_CTE}
            SELECT {buckets[bucket]} AS bucket, {splits[split]} AS series, min(t.moment) AS start,
                   min(t.run_name) AS run_name, {_OUTCOME_AGG}
            FROM t GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2"""
        with self._con() as con:
            return _dicts(con.execute(sql))

    def outcome_breakdown(self, by: str) -> list[dict[str, Any]]:
        """Outcomes per memory mode, per domain, or per source of the memories the trajectory was given."""
        if by == "memory_source":
            sql = f"""
                WITH {_OUTCOMES_CTE},
                used AS (SELECT DISTINCT r.traj_id, i.source FROM retrievals r JOIN memory_items i USING (item_id)
                         WHERE r.traj_id IS NOT NULL),
                tagged AS (SELECT t.*, coalesce(u.source, 'no memory retrieved') AS value
                           FROM t LEFT JOIN used u USING (traj_id))
                SELECT value, {_OUTCOME_AGG} FROM tagged t GROUP BY value ORDER BY value"""
        else:
            column = {"memory_mode": "t.memory_mode", "domain": "t.domain"}[by]
            sql = f"""WITH {_OUTCOMES_CTE}
                      SELECT coalesce({column}, 'unknown') AS value, {_OUTCOME_AGG} FROM t GROUP BY 1 ORDER BY 1"""
        with self._con() as con:
            return _dicts(con.execute(sql))

    def event_markers(self, kinds: Iterable[str], limit: int = 500) -> list[dict[str, Any]]:
        """Batches of memory events (consolidations, approvals, imports of items) to mark on a time axis."""
        sql = """SELECT kind, coalesce(batch_id, strftime(date_trunc('hour', created_at), '%Y-%m-%d %H:00')) AS batch,
                        min(created_at) AS moment, count(*) AS events, min(actor) AS actor
                 FROM memory_events WHERE list_contains(?, kind) GROUP BY 1, 2 ORDER BY moment DESC LIMIT ?"""
        with self._con() as con:
            return _dicts(con.execute(sql, [list(kinds), limit]))

    # evolution
    def event_bounds(self) -> dict[str, Any]:
        sql = """SELECT coalesce(max(event_id), 0) AS last_event, min(created_at) AS first_at,
                        max(created_at) AS last_at, count(*) AS events FROM memory_events"""
        with self._con() as con:
            return _dicts(con.execute(sql))[0]

    def event_times(self, event_ids: Iterable[int]) -> dict[int, datetime]:
        ids = [int(e) for e in event_ids]
        if not ids:
            return {}
        with self._con() as con:
            return dict(con.execute("SELECT event_id, created_at FROM memory_events WHERE list_contains(?, event_id)",
                                    [ids]).fetchall())

    def status_counts_as_of(self, event_ids: Iterable[int]) -> list[dict[str, Any]]:
        """Items per (status, source) as of each given event id — from the event log, not the current table.

        Each event moves one item out of its before-state and into its after-state; `_running_as_of` turns the
        moves into counts at every point in one pass over the log.
        """
        moves = """
            SELECT event_id, json_extract_string(after, '$.status') AS status,
                   json_extract_string(after, '$.source') AS source, 1 AS delta
            FROM memory_events WHERE after IS NOT NULL
            UNION ALL
            SELECT event_id, json_extract_string(before, '$.status'), json_extract_string(before, '$.source'), -1
            FROM memory_events WHERE before IS NOT NULL"""
        return [{"event_id": point, "status": status, "source": source, "items": n}
                for point, status, source, n in self._running_as_of(moves, ("status", "source"), event_ids)]

    def confidence_as_of(self, event_ids: Iterable[int]) -> list[dict[str, Any]]:
        """Active (pending + approved) items per confidence band as of each event id, and how many REINFORCE
        events (the same lesson learned again) had happened by then — how confidence drifts as evidence builds.

        As in `status_counts_as_of`, an event moves its item out of the band of its before-state and into the band
        of its after-state, counted only while the state is active. Bands are tenths of [0, 1] (`band` 0–9, 9
        holding 1.0 too; -1 for no confidence); reinforcements are counted as band -2.
        """
        # least() skips NULLs, so a missing confidence is caught before it (else it would land in the top band)
        band = """CASE WHEN coalesce({s}_status, '') NOT IN ('pending', 'approved') THEN NULL
                       WHEN {s}_conf IS NULL THEN -1 ELSE least(floor({s}_conf * 10), 9)::INT END"""
        moves = f"""
            WITH states AS (
                SELECT event_id, kind,
                       json_extract_string(after, '$.status') AS after_status,
                       TRY_CAST(json_extract_string(after, '$.confidence') AS DOUBLE) AS after_conf,
                       json_extract_string(before, '$.status') AS before_status,
                       TRY_CAST(json_extract_string(before, '$.confidence') AS DOUBLE) AS before_conf
                FROM memory_events),
            banded AS (
                SELECT event_id, {band.format(s="after")} AS band, 1 AS delta FROM states
                UNION ALL
                SELECT event_id, {band.format(s="before")}, -1 FROM states
                UNION ALL
                SELECT event_id, -2, 1 FROM states WHERE kind = 'REINFORCE')
            SELECT * FROM banded WHERE band IS NOT NULL"""
        points = sorted(set(int(e) for e in event_ids))
        out: dict[int, dict[str, Any]] = {p: {"event_id": p, "bands": {}, "reinforcements": 0} for p in points}
        for point, band_, n in self._running_as_of(moves, ("band",), points):
            if band_ == -2:
                out[point]["reinforcements"] = n
            else:
                out[point]["bands"][band_] = n
        return list(out.values())

    def _running_as_of(self, moves: str, keys: tuple[str, ...], event_ids: Iterable[int]) -> list[tuple]:
        """(point, *keys, total) at each point, from `moves` (rows of event_id, *keys, delta), totals ≠ 0 only.

        The moves are bucketed to the first requested point at or after them (an ASOF join) and summed; a running
        sum over the points then gives the totals at each, so many points cost one pass over the log.
        """
        points = sorted(set(int(e) for e in event_ids))
        if not points:
            return []
        cols = ", ".join(keys)
        sql = f"""
            WITH moves AS ({moves}),
            points AS (SELECT unnest(?::BIGINT[]) AS point),
            per_point AS (SELECT p.point, {", ".join(f"m.{k}" for k in keys)}, sum(m.delta) AS delta
                          FROM moves m ASOF JOIN points p ON m.event_id <= p.point GROUP BY ALL),
            grid AS (SELECT p.point, c.* FROM points p CROSS JOIN (SELECT DISTINCT {cols} FROM per_point) c),
            running AS (SELECT g.point, {", ".join(f"g.{k}" for k in keys)},
                               sum(coalesce(pp.delta, 0)) OVER (PARTITION BY {", ".join(f"g.{k}" for k in keys)}
                                                                ORDER BY g.point) AS n
                        FROM grid g LEFT JOIN per_point pp USING (point, {cols}))
            SELECT point, {cols}, n::BIGINT FROM running WHERE n <> 0 ORDER BY point, {cols}"""
        with self._con() as con:
            return con.execute(sql, [points]).fetchall()

    def items_as_of(self, event_id: int, *, status: Iterable[str] | None = None, text: str | None = None,
                    limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """One page of the bank as it was at `event_id`: each item's state after its last event up to then.

        Only the status is read out of every state's JSON (to filter and count); the other fields only for the
        page shown. At the latest event the state is the current table (curation writes both together).
        """
        if event_id >= self.last_event_id():
            return self._items_now(status=status, text=text, limit=limit, offset=offset)
        clauses, params = [], [event_id]
        if status is not None:
            clauses.append("list_contains(?, status)")
            params.append(list(status))
        if text:
            clauses.append("(json_extract_string(after, '$.title') ILIKE ? "
                           "OR json_extract_string(after, '$.description') ILIKE ? "
                           "OR json_extract_string(after, '$.content') ILIKE ?)")
            params += [f"%{text}%"] * 3
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        state = """
            WITH last AS (SELECT item_id, max(event_id) AS event_id FROM memory_events WHERE event_id <= ?
                          GROUP BY item_id),
            state AS (SELECT l.item_id, l.event_id, e.after, json_extract_string(e.after, '$.status') AS status
                      FROM last l JOIN memory_events e USING (item_id, event_id))"""
        page = f"""{state}
            SELECT item_id, event_id, json_extract_string(after, '$.title') AS title,
                   json_extract_string(after, '$.content') AS content, status,
                   json_extract_string(after, '$.source') AS source, json_extract_string(after, '$.domain') AS domain,
                   CAST(json_extract(after, '$.version') AS INTEGER) AS version
            FROM state {where} ORDER BY item_id DESC LIMIT {int(limit)} OFFSET {int(offset)}"""
        with self._con() as con:
            total = _first(con.execute(f"{state} SELECT count(*) FROM state {where}", params))[0]
            rows = _dicts(con.execute(page, params))
        return rows, total

    def _items_now(self, *, status, text, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        where, params = _item_filter(status=status, text=text)
        cols = "item_id, last_event_id AS event_id, title, content, status, source, domain, version"
        with self._con() as con:
            total = _first(con.execute(f"SELECT count(*) FROM memory_items {where}", params))[0]
            rows = _dicts(con.execute(f"SELECT {cols} FROM memory_items {where} ORDER BY item_id DESC "
                                      f"LIMIT {int(limit)} OFFSET {int(offset)}", params))
        return rows, total

    def merge_graph(self, *, limit: int = 60, item_id: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """The latest `limit` merges (or those around one item) as a graph: nodes (items) and parent → child edges."""
        focus = ""
        params: list[Any] = []
        if item_id is not None:
            focus = "AND (s.item_id = ? OR s.parent_item_id = ?)"
            params = [item_id, item_id]
        edges_sql = f"""
            WITH merges AS (SELECT DISTINCT s.item_id FROM item_sources s WHERE s.relation = 'parent' {focus}
                            ORDER BY s.item_id DESC LIMIT {int(limit)})
            SELECT s.parent_item_id AS parent, s.item_id AS child FROM item_sources s
            SEMI JOIN merges m ON s.item_id = m.item_id WHERE s.relation = 'parent' ORDER BY child, parent"""
        with self._con() as con:
            edges = _dicts(con.execute(edges_sql, params))
            ids = sorted({e["parent"] for e in edges} | {e["child"] for e in edges})
            nodes = _dicts(con.execute(
                "SELECT i.item_id, i.title, i.status, i.source, i.domain, i.version, i.created_at, "
                "(SELECT min(e.created_at) FROM memory_events e WHERE e.item_id = i.item_id AND e.kind = 'MERGE') "
                "AS merged_at FROM memory_items i WHERE list_contains(?, i.item_id) ORDER BY i.item_id", [ids])
            ) if ids else []
        return {"nodes": nodes, "edges": edges}

    def recent_events(self, *, kinds: Iterable[str] | None = None, item_id: int | None = None,
                      limit: int = 50, offset: int = 0, upto: int | None = None) -> tuple[list[dict[str, Any]], int]:
        """One page of the event log, newest first (from event `upto` back, when given), with each item's current
        title; and how many events match."""
        clauses, params = [], []
        if upto is not None:
            clauses.append("e.event_id <= ?")
            params.append(int(upto))
        if kinds is not None:
            clauses.append("list_contains(?, e.kind)")
            params.append(list(kinds))
        if item_id is not None:
            clauses.append("e.item_id = ?")
            params.append(item_id)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        sql = f"""SELECT e.event_id, e.created_at, e.kind, e.item_id, i.title, e.actor, e.reason, e.batch_id
                  FROM memory_events e LEFT JOIN memory_items i USING (item_id) {where}
                  ORDER BY e.event_id DESC LIMIT {int(limit)} OFFSET {int(offset)}"""
        with self._con() as con:
            total = _first(con.execute(f"SELECT count(*) FROM memory_events e {where}", params))[0]
            return _dicts(con.execute(sql, params)), total
