"""Nothing cut off at 1280 and 1440 px (issue 19): every screen in a real Chromium at both widths, each data grid
checked for a sideways scroll (a column past the grid's edge is a column nobody sees — the trajectory list's truth
column went that way), the columns a screen exists for checked visible, headers in words (no field_names), no cell
showing Python's True/False/None, and Settings' policy explanations wrapped in full, without literal backticks.

Column widths and pickers: dashboard/tables.py. The pure parts (which columns fit, their widths) are tested without a
browser at the end. Skipped cleanly without Chromium or the shared datasets.
"""

from __future__ import annotations

import pytest

from bankcore import Bank
from browser import open_page, settle
from dashboard import tables
from dashboard.tables import FIT_PX, Col

WIDTHS = (1280, 1440)
RAW = ("True", "False", "None", "nan", "NaN", "NaT")
GRIDS = """() => [...document.querySelectorAll('[data-testid="stDataFrame"]')]
    .filter(e => e.offsetParent && e.querySelector('.dvn-scroller')).map(e => {
    const scroller = e.querySelector('.dvn-scroller');
    return {key: e.closest('[class*="st-key-table_"]')?.className.match(/st-key-table_(\\S+)/)?.[1] ?? '?',
            scroll: scroller ? scroller.scrollWidth : 0, client: scroller ? scroller.clientWidth : 0,
            heads: [...e.querySelectorAll('[role="columnheader"]')].map(h => h.textContent.trim()),
            cells: [...e.querySelectorAll('[role="gridcell"]')].map(c => c.textContent.trim())};
})"""
# Our own words on the screen (Markdown, captions, metrics; code spans and untrusted text shown as plain text aside):
# no literal backtick, no Python True/False/None.
OUR_TEXT = ", ".join(f'[data-testid="stMain"] [data-testid="{t}"]'
                     for t in ("stMarkdownContainer", "stMetricValue", "stCaptionContainer"))
PYTHON_WORDS = r"""() => [...document.querySelectorAll('%s')].filter(e => e.offsetParent)
    .map(e => { const c = e.cloneNode(true); c.querySelectorAll('code').forEach(x => x.remove()); return c.innerText; })
    .filter(t => /`|\b(True|False|None)\b/.test(t))""" % OUR_TEXT
# Text that runs past its box (a code block without wrapping, a long link label) is cut just the same.
BOXES = ", ".join(f'[data-testid="stMain"] {t}' for t in (
    "pre", '[data-testid="stText"]', '[data-testid="stMarkdownContainer"]', '[data-testid="stCaptionContainer"]'))
OVERFLOWING_TEXT = """() => [...document.querySelectorAll('%s')]
    .filter(e => e.offsetParent && e.scrollWidth > e.clientWidth + 1).map(e => e.innerText.slice(0, 80))""" % BOXES
MARKDOWN_TABLES = """() => [...document.querySelectorAll('[data-testid="stMarkdownContainer"] table')]
    .filter(t => t.offsetParent).map(t => ({scroll: t.scrollWidth, client: t.parentElement.clientWidth,
                                          text: t.innerText}))"""


@pytest.fixture(scope="module")
def served(served_dashboard):
    """The session's one server over the small bank (tests/browser.py), as this module reads it."""
    return served_dashboard.url, served_dashboard.browser, served_dashboard.ids | {"db": served_dashboard.db}


def grids_fit(tab, where: str) -> list[dict]:
    assert tab.locator('[data-testid="stException"]').count() == 0, f"{where}: the screen failed"
    grids = tab.evaluate(GRIDS)
    for grid in grids:
        name = f"{where} · {grid['key']}"
        assert grid["scroll"] <= grid["client"] + 1, f"{name}: columns past the edge ({grid['scroll']} px in " \
                                                     f"{grid['client']} px): {grid['heads']}"
        assert grid["heads"], f"{name}: no column header drawn"
        assert not [h for h in grid["heads"] if "_" in h], f"{name}: a header is a field name: {grid['heads']}"
        assert not [c for c in grid["cells"] if c in RAW], f"{name}: Python's words in a cell"
    assert tab.evaluate(PYTHON_WORDS) == [], f"{where}: backticks or Python's words on the screen"
    assert tab.evaluate(OVERFLOWING_TEXT) == [], f"{where}: text cut at its box's edge"
    return grids


def headers(grids: list[dict], key: str) -> list[str]:
    return next(g["heads"] for g in grids if g["key"] == key)


# (screen, query, what it must show at both widths: grid key -> headers)
SCREENS = [
    ("overview", "", {}),
    ("memory", "", {"items_table": ["#", "title", "status", "learned from"]}),
    ("memory", "item={merged}", {"items_table": ["title", "status"]}),
    ("review", "", {}),
    ("evolution", "", {"asof_table": ["#", "title", "status"], "log_table": ["when", "change", "who", "why"]}),
    ("trajectories", "", {"traj_table": ["task", "judged", "truth", "query"]}),
    ("trajectories", "traj={judged_traj}", {"traj_verdicts": ["label", "who", "rationale (in full below)"]}),
    ("metrics", "", {"m_agent_runs": ["run", "success", "calls/task", "tokens/task", "best-of-N", "pass@1",
                                      "pass@k"]}),
    ("playground", "", {}),
    ("settings", "", {}),
]


@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
def test_no_screen_cuts_a_column_off(served, width):
    url, browser, ids = served
    tab = browser.new_page(viewport={"width": width, "height": 1000})
    try:
        for name, query, wanted in SCREENS:
            where = f"{width} px /{name}?{query}"
            open_page(tab, url, name, query.format(**ids))
            grids = grids_fit(tab, where)
            for key, heads in wanted.items():
                shown = headers(grids, key)
                assert [h for h in heads if h not in shown] == [], f"{where} · {key}: {shown}"
            if name == "settings":
                policy = tab.evaluate(MARKDOWN_TABLES)
                assert policy, "the approval policy table is missing"
                for table in policy:
                    assert table["scroll"] <= table["client"] + 1, f"{where}: the policy table is cut off"
                    assert "`" not in table["text"], f"{where}: literal backticks in the policy explanations"
                    assert "policy enforce" in table["text"] and "until a person approves it again" in table["text"]
                    assert not [w for w in RAW if f" {w} " in f" {table['text']} "], table["text"]
    finally:
        tab.close()


@pytest.mark.browser
def test_bulk_review_and_the_column_picker(served):
    """The bulk review grid fits with why each lesson waits and what it rests on; a column picked from "Columns" is
    added to the grid."""
    url, browser, _ = served
    tab = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        open_page(tab, url, "review")
        tab.get_by_text("In bulk", exact=True).click()
        settle(tab)
        shown = headers(grids_fit(tab, "1280 px /review in bulk"), "bulk_table")
        assert {"title", "why it waits", "rests on"} <= set(shown), shown

        open_page(tab, url, "trajectories")
        before = headers(grids_fit(tab, "1280 px /trajectories"), "traj_table")
        assert "domain" not in before
        tab.get_by_text("Columns: 6 of 10 shown").click()
        tab.locator('[data-testid="stPopoverBody"] [data-testid="stMultiSelect"] input').click()
        tab.get_by_role("option", name="domain", exact=True).click()
        settle(tab)
        tab.keyboard.press("Escape")
        settle(tab)
        after = next(g for g in tab.evaluate(GRIDS) if g["key"] == "traj_table")
        assert "domain" in after["heads"] or after["scroll"] > after["client"], after  # added; it may scroll now
        assert tab.get_by_text("Columns: 7 of 10 shown").count() == 1
    finally:
        tab.close()


# ---------------------------------------------------------------------- the pure parts, no browser
def test_the_leading_columns_that_fit_are_shown_and_the_rest_wait_in_the_picker():
    columns = [Col("a", "a", 300), Col("b", "b", 300, fill=True), Col("c", "c", 200), Col("d", "d", 50)]
    assert [c.name for c in tables.default_columns(columns)] == ["a", "b"]  # c does not fit; d is less important
    assert [c.name for c in tables.default_columns([Col("x", "x", 2000), *columns])] == ["x"]  # the first always


def test_text_columns_take_what_the_others_leave():
    shown = [Col("id", "#", 60), Col("title", "title", 200, fill=True), Col("why", "why", 100, fill=True)]
    sized = tables.widths(shown)
    assert sized["id"] == 60 and sized["title"] > 200 and sized["why"] > 100
    assert sum(sized.values()) <= FIT_PX and FIT_PX - sum(sized.values()) < len(shown)


@pytest.mark.parametrize("columns", [tables.ITEM_COLUMNS, tables.HISTORY_COLUMNS, tables.VERDICT_COLUMNS],
                         ids=["items", "history", "verdicts"])
def test_shared_column_lists_fit_and_speak_words(columns):
    default = tables.default_columns(columns)
    assert sum(c.width for c in default) <= FIT_PX
    assert all("_" not in c.label for c in columns)
    assert len({c.name for c in columns}) == len(columns)


@pytest.mark.browser
def test_lessons_trajectories_and_runs_link_both_ways(served):
    """A lesson → the trajectory it rests on → every trajectory of its run, and back to the lesson: a click each."""
    url, browser, ids = served
    tab = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        open_page(tab, url, "memory", f"item={ids['approved']}")
        tab.get_by_text("Open this trajectory", exact=False).first.click()
        settle(tab)
        assert "/trajectories" in tab.url and "traj=" in tab.url
        assert tab.get_by_text("Every verdict, side by side").count() == 1
        traj_id = tab.url.split("traj=")[1].split("&")[0]
        tab.get_by_text("Every trajectory of this run").click()
        settle(tab)
        bank = Bank(ids["db"])
        run_id = bank.store.get_trajectory(traj_id).run_id
        _, in_run = bank.store.browse_trajectories(run_id=run_id, limit=1)
        assert tab.get_by_text(f"{in_run:,} trajectories match").count() == 1
        open_page(tab, url, "trajectories", f"traj={traj_id}")
        tab.get_by_role("link", name=f"#{ids['approved']}", exact=False).first.click()
        settle(tab)
        assert "/memory" in tab.url and f"item={ids['approved']}" in tab.url
    finally:
        tab.close()


@pytest.mark.browser
def test_mass_actions_ask_first_in_the_browser(served):
    """Approving a whole page of lessons with one click does nothing until the confirmation is ticked; rerunning the
    judge with no Browse filters selects nothing."""
    url, browser, ids = served
    bank = Bank(ids["db"])
    before = {i.item_id: i.status for i in bank.store.review_queue(which="pending", limit=100)[0]}
    tab = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        open_page(tab, url, "review")
        tab.get_by_text("In bulk", exact=True).click()
        settle(tab)
        tab.locator('[data-testid="stRadio"]').get_by_text("pending", exact=True).click()
        settle(tab)
        tab.get_by_text("Select all", exact=False).click()
        settle(tab)
        assert tab.get_by_text("in full: read them before deciding", exact=False).count() == 1
        tab.get_by_role("button", name="Approve selected").click()
        settle(tab)
        assert tab.get_by_text("Tick the box", exact=False).count() == 1
        assert {i: bank.store.get_item(i).status for i in before} == before  # nothing decided

        open_page(tab, url, "trajectories")
        tab.get_by_text("Rerun judging", exact=True).first.click()
        settle(tab)
        assert tab.get_by_text("Rerun judging", exact=True).count() >= 1  # the mode is open
        go = tab.locator(".st-key-rj_go button")
        assert go.count() == 1 and go.is_disabled()  # nothing selected, nothing confirmed
    finally:
        tab.close()


@pytest.mark.browser
def test_a_row_naming_a_lesson_opens_it(served):
    """Picking a row of the bank as of the time cursor opens that lesson's page, where its text is whole."""
    url, browser, ids = served
    tab = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        open_page(tab, url, "evolution")
        grid = tab.locator('.st-key-table_asof_table [data-testid="stDataFrame"]')
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        tab.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row's selection box
        tab.wait_for_url("**/memory?item=*", timeout=30_000)
        settle(tab)
        assert tab.locator('[data-testid="stException"]').count() == 0
        assert "Memory bank" in tab.locator('[data-testid="stMain"] h1').first.inner_text()
    finally:
        tab.close()


def test_flags_are_said_in_words():
    from dashboard import parts
    assert parts.flag_words("contradicts:6") == "contradicts #6"
    assert parts.flag_words("source_rejudged") == "source re-judged"
    assert parts.flag_words("suspected_injection") == "suspected injection"
    assert parts.flag_words("some_new_flag") == "some new flag"


# Every drawn bar label of every chart on the screen, as [chart, text, left, right, top, bottom].
BAR_LABELS = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].flatMap((chart, n) =>
    [...chart.querySelectorAll('text.bartext')].filter(t => t.textContent.trim()).map(t => {
        const r = t.getBoundingClientRect(); return [n, t.textContent, r.left, r.right, r.top, r.bottom]; }))"""
# One column of a grid (`key`, the header `header`): its cells' text, how many lines each takes wrapped greedily at
# word ends (a word longer than a line broken, as the grid does) in a column `width` px wide, in the grid's 14 px
# font, and the grid's rows: how many, and how tall (the scrolled height less the 35 px header, over the rows).
WRAPPED_COLUMN = """([key, header, width]) => {
    const grid = document.querySelector(`.st-key-table_${key} [data-testid="stDataFrame"]`);
    const scroller = grid.querySelector('.dvn-scroller');
    const head = [...grid.querySelectorAll('[role="columnheader"]')].find(h => h.textContent.trim() === header);
    const names = [...grid.querySelectorAll(`[role="gridcell"][aria-colindex="${head.getAttribute('aria-colindex')}"]`)]
        .map(c => c.textContent.trim());
    const rows = Number(grid.querySelector('[role="grid"]').getAttribute('aria-rowcount')) - 1;
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = '14px "Source Sans", sans-serif';
    const lines = names.map(name => { let n = 1, line = '';
        for (const word of name.split(' ')) {
            const next = line ? line + ' ' + word : word;
            if (ctx.measureText(next).width <= width) { line = next; continue; }
            if (line) n += 1;
            line = word;
            while (ctx.measureText(line).width > width) { n += 1; line = line.slice(Math.floor(line.length / 2)); }
        }
        return n; });
    return {names, lines, rows, row: (scroller.scrollHeight - 35) / rows, height: grid.getBoundingClientRect().height,
            scroll: scroller.scrollHeight, client: scroller.clientHeight}; }"""


def overlapping(labels: list[list]) -> list[tuple[str, str]]:
    """Pairs of bar labels of one chart whose boxes cross by more than a pixel each way."""
    return [(a[1], b[1]) for i, a in enumerate(labels) for b in labels[i + 1:]
            if a[0] == b[0] and min(a[3], b[3]) - max(a[2], b[2]) > 1 and min(a[5], b[5]) - max(a[4], b[4]) > 1]


@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
def test_metrics_bar_labels_apart_and_run_names_whole(served, width):
    """Metrics at 1280 and 1440 px: no two bar labels drawn over each other (small samples' "n=…" on neighbouring
    faint bars used to), and every run's name whole — wrapped in the agent-runs grid, rows tall enough for its
    lines and the grid tall enough for its rows — and whole in the link to its trajectories."""
    from dashboard import parts

    url, browser, ids = served
    tab = browser.new_page(viewport={"width": width, "height": 1000})
    try:
        open_page(tab, url, "metrics")
        labels = tab.evaluate(BAR_LABELS)
        assert labels, "no bar labels drawn"
        assert overlapping(labels) == [], f"{width} px: bar labels drawn over each other"

        run_width = tables.widths(tables.default_columns(parts.AGENT_RUN_COLUMNS))["run"]
        grid = tab.evaluate(WRAPPED_COLUMN, ["m_agent_runs", "run", run_width - tables.CELL_PAD_PX])
        names = [run["name"] for run in Bank(ids["db"]).views.agent_runs()["runs"]]
        assert sorted(grid["names"]) == sorted(names)
        row_px = (grid["height"] - 38) / grid["rows"]
        assert row_px >= 20 * max(grid["lines"]) + 8, f"{width} px: a run name needs {max(grid['lines'])} lines " \
                                                      f"in rows {row_px:.0f} px tall: {grid}"
        assert grid["scroll"] <= grid["client"] + 1, f"{width} px: the runs grid scrolls: {grid}"
        for name in names[:8]:
            link = tab.get_by_role("link", name=f"Trajectories of {name}", exact=True)
            assert link.count() == 1, f"{width} px: no link naming the whole run {name!r}"
    finally:
        tab.close()


def test_a_long_text_column_gets_rows_tall_enough_to_wrap():
    assert tables.wrapped_row_height(["short", None], 200) is None  # one line: the grid's own rows
    height = tables.wrapped_row_height(["week 5 · web · ReasoningBank + MaTTS (parallel, k=3)"], 170)
    assert height > 64  # Streamlit wraps only in rows taller than 4 rem
    assert height >= 12 + 21 * 3


@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
def test_memory_bank_titles_are_whole_and_told_apart_by_domain(served, width):
    """The Memory bank's item grid at 1280 and 1440 px: every title on the page whole — wrapped in rows tall enough
    for its lines, never cut at the column's edge — and the domain right beside it, since one lesson is often
    learned in several domains under the same title."""
    url, browser, ids = served
    tab = browser.new_page(viewport={"width": width, "height": 1000})
    try:
        open_page(tab, url, "memory")
        budget = FIT_PX - tables.SELECT_PX  # the grid opens a row on a click: its selection boxes take a column
        title_px = tables.widths(tables.default_columns(tables.ITEM_COLUMNS, budget), budget)["title"]
        grid = tab.evaluate(WRAPPED_COLUMN, ["items_table", "title", title_px - tables.CELL_PAD_PX])
        shown, _ = Bank(ids["db"]).views.browse_items(filters={}, order="newest", limit=len(grid["names"]))
        assert grid["names"] == [i.title for i in shown]
        assert max(grid["lines"]) > 1, "no title long enough to need wrapping: the check would prove nothing"
        assert grid["row"] >= 20 * max(grid["lines"]) + 8, f"{width} px: a title needs {max(grid['lines'])} lines " \
                                                           f"in rows {grid['row']:.0f} px tall: {grid}"
        heads = headers(grids_fit(tab, f"{width} px /memory"), "items_table")
        assert heads[heads.index("title") + 1] == "domain", heads
    finally:
        tab.close()
