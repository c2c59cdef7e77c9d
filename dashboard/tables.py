"""Tables that fit the screen: each names its columns most important first, with a header in words and a width, and
shows by default only the leading columns that fit the main column at 1280 px; a column picker adds the rest.

A Streamlit data grid wider than its column scrolls sideways, and the columns past the edge are simply not seen —
that is how the truth column of the trajectory list went missing beside the judge's label. So widths are set here,
never left to the grid's guess from the longest cell, and long text columns take what the others leave.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import pandas as pd
import streamlit as st


# The main column is 818 px wide at a 1280 px window with the sidebar open (978 px at 1440); the row-selection
# boxes take 36 px and the borders 2. The default columns fit in this, whatever the window.
FIT_PX = 770
SELECT_PX = 36


TRUTH_WORDS = {True: "success", False: "failure"}
NOTHING = "—"
# What each stored event kind (`bankcore.models.EVENT_KINDS`) did, as a reader says it: the one wording of the item
# history, the event log, its kind filter and the versions caption (a person reads "merged", not MERGE).
EVENT_WORDS = {
    "ADD": "added", "EDIT": "edited", "APPROVE": "approved", "REJECT": "rejected", "MERGE": "merged",
    "SUPERSEDE": "superseded", "RESTORE": "restored", "UNMERGE": "un-merged", "SOURCE_REJUDGED": "source re-judged",
    "FLAG": "flagged", "ARCHIVE": "archived", "CONTRADICTION": "contradiction flagged", "REEMBED": "re-embedded",
    "REINFORCE": "reinforced",
}


def event_in_words(kind: str | None) -> str:
    """An event kind in words ('MERGE' -> 'merged'); a kind this dashboard does not know is shown as stored."""
    return EVENT_WORDS.get(kind, kind) if kind else NOTHING


def in_words(rows: Any, *, truth: Iterable[str] = ("truth",)) -> pd.DataFrame:
    """A table fit for a reader: the `truth` columns (True/False) as success / failure, other yes-no columns as
    yes / no, and missing text as a dash — never Python's True, False or None on the screen (missing numbers and
    times stay empty cells, so they still sort and format as numbers and times)."""
    table = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    truth = set(truth)
    for column in table.columns:
        values = list(table[column])
        missing = [not isinstance(v, (list, tuple, dict)) and bool(pd.isna(v)) for v in values]
        if column in truth:
            table[column] = [NOTHING if gone else TRUTH_WORDS.get(bool(v), NOTHING) for v, gone in zip(values, missing)]
        elif any(isinstance(v, bool) for v in values) and all(isinstance(v, bool) or gone
                                                              for v, gone in zip(values, missing)):
            table[column] = [NOTHING if gone else ("yes" if v else "no") for v, gone in zip(values, missing)]
        elif any(missing) and all(isinstance(v, str) or gone for v, gone in zip(values, missing)):
            table[column] = [NOTHING if gone else v for v, gone in zip(values, missing)]
    return table


@dataclass(frozen=True)
class Col:
    """One column: the row's field, its header in words, its width in px; `fill` columns (long text) share what the
    fixed ones leave of `FIT_PX`, at least `width`. `kind`: "text", "number", "time" or "date"."""
    name: str
    label: str
    width: int = 100
    fill: bool = False
    kind: str = "text"
    format: str | None = None
    help: str | None = None


def default_columns(columns: list[Col], budget: int = FIT_PX) -> list[Col]:
    """The leading columns that fit in `budget` px (fill columns counted at their least width), always the first."""
    shown, used = [], 0
    for col in columns:
        if shown and used + col.width > budget:
            break
        shown.append(col)
        used += col.width
    return shown


def widths(shown: list[Col], budget: int = FIT_PX) -> dict[str, int]:
    """Each shown column's width: fixed ones as given, fill ones sharing what is left of `budget` (at least their
    own width)."""
    fixed = sum(c.width for c in shown if not c.fill)
    fills = [c for c in shown if c.fill]
    spare = max(0, budget - fixed - sum(c.width for c in fills)) // max(1, len(fills))
    return {c.name: c.width + (spare if c.fill else 0) for c in shown}


def _config(col: Col, width: int) -> Any:
    cc = st.column_config
    if col.kind == "number":
        return cc.NumberColumn(col.label, width=width, help=col.help, format=col.format)
    if col.kind == "time":
        return cc.DatetimeColumn(col.label, width=width, help=col.help, format=col.format or "D MMM YYYY, HH:mm")
    if col.kind == "date":
        return cc.DatetimeColumn(col.label, width=width, help=col.help, format=col.format or "D MMM YYYY")
    return cc.Column(col.label, width=width, help=col.help)


# Streamlit wraps a text cell only in rows taller than 4 rem (64 px); a wrapped line of its 14 px font takes ~21 px.
WRAP_MIN_PX, LINE_PX, CELL_PAD_PX, CHAR_PX = 65, 21, 18, 7.2
WRAPPED_LINES_MAX = 8  # beyond, a row would fill the screen: the text is cut there (the screen shows it elsewhere)
WRAPPED_ROWS_SHOWN = 12  # a wrapped table shows this many rows before it scrolls


def wrapped_row_height(texts: Iterable[Any], width: int) -> int | None:
    """A row height at which the longest of `texts` shows whole, wrapped in a column `width` px wide (CHAR_PX is a
    generous average letter: the slack covers breaks at word ends); None when every text fits on one line."""
    longest = max((len(" ".join(str(t).split())) for t in texts if t is not None and not pd.isna(t)), default=0)
    per_line = max(1, int((width - CELL_PAD_PX) / CHAR_PX))
    lines = min(-(-longest // per_line), WRAPPED_LINES_MAX)
    if lines <= 1:
        return None
    return max(WRAP_MIN_PX, 12 + LINE_PX * lines)


def picked_columns(columns: list[Col], key: str, budget: int = FIT_PX) -> list[Col]:
    """The columns to show: the default ones, or with a picker (a "Columns" popover) when some do not fit."""
    default = default_columns(columns, budget)
    if len(default) == len(columns):
        return columns
    labels = [c.label for c in columns]
    shown = len(st.session_state.get(f"{key}_columns") or default)  # none picked shows the default ones
    with st.popover(f"Columns: {shown} of {len(columns)} shown"):
        chosen = st.multiselect("Show these columns (the first ones fit a 1280 px window; more scroll sideways)",
                                labels, default=[c.label for c in default], key=f"{key}_columns")
    return [c for c in columns if c.label in chosen] or default


MEMORY_PAGE = "screens/1_Memory_bank.py"  # a lesson's own page: `?item=ID`


def table(rows: Any, columns: Iterable[Col], *, key: str, truth: Iterable[str] = ("truth",),
          opens_item: str | None = None, wrap: str | None = None, **dataframe: Any) -> Any:
    """`rows` (dicts or a DataFrame) as a data grid in words (`in_words`): the columns `columns` names, picked and
    sized to fit. With `opens_item` (the column holding an item id), picking a row opens that lesson's page, where
    its text is shown whole. With `wrap` (a text column short tables name their rows by, such as a run's name), rows
    are made tall enough that its longest cell shows whole, wrapped, rather than cut at the column's edge. Other
    keyword arguments go to `st.dataframe` (selection, callbacks)."""
    columns = list(columns)
    if opens_item:
        dataframe.update(on_select="rerun", selection_mode="single-row")
    frame = in_words(rows if isinstance(rows, pd.DataFrame) or rows else
                     pd.DataFrame(columns=[c.name for c in columns]), truth=truth)
    present = [c for c in columns if c.name in frame.columns]
    budget = FIT_PX - (SELECT_PX if dataframe.get("on_select") not in (None, "ignore") else 0)
    shown = picked_columns(present, key, budget)
    sized = widths(shown, budget)
    if wrap and wrap in sized and (row := wrapped_row_height(frame[wrap], sized[wrap])):
        dataframe.setdefault("row_height", row)  # and tall enough for the rows, not the grid's 10 short ones
        dataframe.setdefault("height", 38 + row * min(len(frame), WRAPPED_ROWS_SHOWN))
    with st.container(key=f"table_{key}"):  # a class the browser tests find each grid by (st-key-table_<key>)
        event = st.dataframe(frame, hide_index=True, key=key, column_order=[c.name for c in shown],
                             column_config={c.name: _config(c, sized[c.name]) for c in shown}, **dataframe)
    if opens_item:  # then `event` is the selection state (a plain grid returns no state)
        picked = list(event.selection.rows)
        if picked and picked[0] < len(frame) and not pd.isna(frame[opens_item].iloc[picked[0]]):
            st.switch_page(MEMORY_PAGE, query_params={"item": int(frame[opens_item].iloc[picked[0]])})
    return event


# ---------------------------------------------------------------------- columns several screens share
# The domain right after the title: one lesson is often learned in several domains under the same title, and the
# pair (title, domain) is what tells those rows apart at a glance.
ITEM_COLUMNS = [
    Col("id", "#", 55, kind="number", help="the item's id: open it with a click on the row"),
    Col("title", "title", 220, fill=True),
    Col("domain", "domain", 120),
    Col("status", "status", 85),
    Col("source", "learned from", 95, help="success, failure, contrast, merged or manual"),
    Col("flags", "flags", 110, help="why it is waiting for a reviewer, if it is"),
    Col("confidence", "confidence", 85, kind="number", format="%.2f"),
    Col("retrieved", "retrieved", 80, kind="number", help="times given to an agent"),
    Col("v", "version", 65, kind="number"),
    Col("updated", "changed", 140, kind="time"),
]
ITEM_BY_NAME = {c.name: c for c in ITEM_COLUMNS}
HISTORY_COLUMNS = [
    Col("when", "when", 130, kind="time"), Col("kind", "change", 95), Col("who", "who", 105),
    Col("change", "what changed", 150, fill=True), Col("reason", "why", 150, fill=True),
    Col("status", "status", 80), Col("version", "version", 60, kind="number"),
    Col("event", "event", 65, kind="number"), Col("batch", "batch", 100),
]
VERDICT_COLUMNS = [
    Col("label", "label", 80), Col("who", "who", 150), Col("kind", "kind", 125),
    Col("rationale", "rationale (in full below)", 200, fill=True), Col("when", "when", 130),
    Col("tokens", "tokens", 70), Col("prompt", "prompt", 90),
]
