"""How rows cross the SQL boundary: JSON columns, column lists, the current-label query, the item filter, and
row → value mappers. Pure: nothing here opens a connection.
"""

from __future__ import annotations

import json
from typing import Any

from ..models import (
    ContrastExtraction, Event, LLMCall, MemoryItem, Retrieval, Run, Selection, Step, Trajectory, Truth, Verdict,
)


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _first(cursor) -> tuple | None:
    """The first row, fetching the rest: DuckDB 2 refuses some calls while a result is left unfinished."""
    rows = cursor.fetchall()
    return rows[0] if rows else None


def _loads(text: str | None, default: Any = None) -> Any:
    if text == "[]":  # most items' flags: no parser for it (100k items read, 100k calls)
        return []
    return default if text is None else json.loads(text)


def _dicts(cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def current_verdicts_sql(where: str = "") -> str:
    """The current label of each trajectory: its newest human verdict if there is one, else its newest verdict drawn
    from the ground truth (`truth:<source>`, asked for with `--labels truth`), else its newest verdict — among the
    verdicts matching `where` (an SQL condition on `verdicts`, e.g. "verdict_id <= ?"), or all of them."""
    scope = f"verdicts WHERE {where}" if where else "verdicts"
    return f"""
    SELECT traj_id, label, judge_id, verdict_id FROM (
        SELECT traj_id, label, judge_id, verdict_id,
               row_number() OVER (PARTITION BY traj_id
                                  ORDER BY (judge_id LIKE 'human:%') DESC, (judge_id LIKE 'truth:%') DESC,
                                           verdict_id DESC) AS rn
        FROM {scope}) WHERE rn = 1
"""


CURRENT_VERDICTS_SQL = current_verdicts_sql()
_RUN_COLS = ("run_id, name, source_format, source_path, agent_model, memory_mode, matts_mode, matts_k, env, "
             "started_at, finished_at, meta")
_TRAJ_COLS = ("traj_id, run_id, seq, task_id, domain, trial, query, final_answer, final_state, num_steps, "
              "started_at, source_format, meta")
_VERDICT_COLS = ("verdict_id, traj_id, label, rationale, judge_id, prompt_version, confidence, signals, "
                 "tokens_in, tokens_out, created_at")
_ITEM_COLS = ("item_id, title, description, content, source, status, confidence, domain, flags, extractor_id, "
              "prompt_version, embedding, embedding_model, superseded_by, version, last_event_id, created_at, "
              "updated_at, meta")
# The same columns with the vector read as NULL, for lists and screens that never use it.
_ITEM_COLS_NO_VECTOR = _ITEM_COLS.replace("embedding,", "NULL AS embedding,", 1)
_EVENT_COLS = "event_id, item_id, kind, actor, reason, before, after, related, batch_id, created_at"
_RETRIEVAL_COLS = ("retrieval_id, query, task_id, traj_id, run_id, item_id, rank, score, k, as_of_event, "
                   "created_at")
_SELECTION_COLS = ("selection_id, run_id, task_id, traj_ids, selector_id, prompt_version, chosen_traj_id, analysis, "
                   "scores, llm_call_id, tokens_in, tokens_out, created_at")
_CONTRAST_COLS = ("run_id, task_id, traj_ids, labels, verdict_ids, extractor_id, prompt_version, n_items, "
                  "llm_call_id, created_at")
_LLM_COLS = ("call_id, purpose, model, base_url, prompt_hash, temperature, request, response, tokens_in, "
             "tokens_out, latency_ms, error, traj_id, created_at")


# Items resting on a trajectory whose label that counts now (human over judge) disagrees with the ground truth: the
# lesson may have been learned backwards. The truth only measures; here it points a person at what to re-read.
_DISPUTED_ITEMS_SQL = f"""
    SELECT s.item_id FROM item_sources s JOIN truth t USING (traj_id) JOIN ({CURRENT_VERDICTS_SQL}) cur USING (traj_id)
    WHERE t.success IS NOT NULL AND cur.label IN ('success', 'failure') AND (cur.label = 'success') <> t.success"""


def _item_filter(status=None, source=None, domain=None, flagged=None, text=None, min_confidence=None,
                 item_ids=None, max_confidence=None, disputed=None) -> tuple[str, list]:
    """WHERE clause for item filters; status, source and domain each take one value or several; `disputed`: only
    items resting on a trajectory whose current label disagrees with its truth."""
    clauses, params = [], []
    if disputed:
        clauses.append(f"item_id IN ({_DISPUTED_ITEMS_SQL})")
    for column, values in (("status", status), ("source", source), ("domain", domain)):
        if values is not None:
            values = [values] if isinstance(values, str) else list(values)
            clauses.append(f"list_contains(?, {column})")
            params.append(values)
    if flagged is not None:
        clauses.append("coalesce(json_array_length(flags), 0) " + ("> 0" if flagged else "= 0"))
    if text:
        clauses.append("(title ILIKE ? OR description ILIKE ? OR content ILIKE ?)")
        params += [f"%{text}%"] * 3
    if min_confidence is not None:
        clauses.append("confidence >= ?")
        params.append(min_confidence)
    if max_confidence is not None:
        clauses.append("confidence <= ?")
        params.append(max_confidence)
    if item_ids is not None:
        clauses.append("list_contains(?, item_id)")
        params.append(list(item_ids))
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _run(r) -> Run:
    return Run(run_id=r[0], name=r[1], source_format=r[2], source_path=r[3], agent_model=r[4], memory_mode=r[5],
               matts_mode=r[6], matts_k=r[7], env=r[8], started_at=r[9], finished_at=r[10],
               meta=_loads(r[11], {}))


def _step(r) -> Step:
    return Step(index=r[1], thought=r[2], action=r[3], observation=r[4], meta=_loads(r[5], {}))


def _trajectory(r, steps: list[Step]) -> Trajectory:
    return Trajectory(traj_id=r[0], run_id=r[1], seq=r[2], task_id=r[3], domain=r[4], trial=r[5], query=r[6],
                      final_answer=r[7], final_state=r[8], started_at=r[10], source_format=r[11],
                      meta=_loads(r[12], {}), steps=steps)


def _truth(r) -> Truth:
    return Truth(success=r[0], reward=r[1], gold=r[2], source=r[3], details=_loads(r[4], {}))


def _verdict(r) -> Verdict:
    return Verdict(verdict_id=r[0], traj_id=r[1], label=r[2], rationale=r[3] or "", judge_id=r[4],
                   prompt_version=r[5], confidence=r[6], signals=_loads(r[7], {}), tokens_in=r[8],
                   tokens_out=r[9], created_at=r[10])


def _item(r) -> MemoryItem:
    return MemoryItem(item_id=r[0], title=r[1], description=r[2], content=r[3], source=r[4], status=r[5],
                      confidence=r[6], domain=r[7], flags=_loads(r[8], []), extractor_id=r[9],
                      prompt_version=r[10], embedding=None if r[11] is None else list(r[11]),
                      embedding_model=r[12], superseded_by=r[13], version=r[14], last_event_id=r[15],
                      created_at=r[16], updated_at=r[17], meta=_loads(r[18], {}))


def _event(r) -> Event:
    return Event(event_id=r[0], item_id=r[1], kind=r[2], actor=r[3], reason=r[4], before=_loads(r[5]),
                 after=_loads(r[6]), related=_loads(r[7], {}), batch_id=r[8], created_at=r[9])


def _retrieval(r) -> Retrieval:
    return Retrieval(retrieval_id=r[0], query=r[1], task_id=r[2], traj_id=r[3], run_id=r[4], item_id=r[5],
                     rank=r[6], score=r[7], k=r[8], as_of_event=r[9], created_at=r[10])


def _llm_call(r) -> LLMCall:
    return LLMCall(call_id=r[0], purpose=r[1], model=r[2], base_url=r[3], prompt_hash=r[4], temperature=r[5],
                   request=_loads(r[6], {}), response=r[7], tokens_in=r[8], tokens_out=r[9], latency_ms=r[10],
                   error=r[11], traj_id=r[12], created_at=r[13])


def _selection(r) -> Selection:
    return Selection(selection_id=r[0], run_id=r[1], task_id=r[2], traj_ids=list(r[3]), selector_id=r[4],
                     prompt_version=r[5], chosen_traj_id=r[6], analysis=r[7] or "", scores=_loads(r[8], {}),
                     llm_call_id=r[9], tokens_in=r[10], tokens_out=r[11], created_at=r[12])


def _contrast(r) -> ContrastExtraction:
    return ContrastExtraction(run_id=r[0], task_id=r[1], traj_ids=list(r[2]), labels=list(r[3]),
                              verdict_ids=list(r[4] or []), extractor_id=r[5], prompt_version=r[6], n_items=r[7],
                              llm_call_id=r[8], created_at=r[9])
