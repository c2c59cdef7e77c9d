"""Plotly figures for the dashboard: values in, a figure out, no I/O.

Plotly reads a little HTML in text (<b>, <br>, <a href>), so every piece of untrusted text put on a chart goes
through `label()`, which escapes it (Plotly turns the entities back into the characters, as text).
"""

from __future__ import annotations

import html
from collections import defaultdict
from datetime import timedelta
from typing import Any, Iterable

import plotly.graph_objects as go

from bankcore.read import MIN_N, JudgeQuality, memory_in_words
from .tables import event_in_words

STATUS_COLORS = {"approved": "#2e7d32", "pending": "#f9a825", "rejected": "#c62828", "superseded": "#6d4c41",
                 "archived": "#9e9e9e"}
# What a lesson was learned from: the lineage colours its nodes by this (a merge of failure lessons reads at a glance).
SOURCE_COLORS = {"success": "#2e7d32", "failure": "#c62828", "contrast": "#1565c0", "merged": "#6a1b9a",
                 "manual": "#ef6c00"}
ACTIVE = ("approved", "pending")
MARKER_COLORS = {"MERGE": "#6a1b9a", "APPROVE": "#2e7d32", "REJECT": "#c62828"}
# Run ticks carry the run's name up to this many runs; beyond, rotated names collide with the legend.
NAMED_RUN_TICKS = 4
# The legend sits at the bottom of the figure, not of the plot, so rotated or two-line tick labels never run into it.
LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10),
              legend=dict(orientation="h", yref="container", y=0, yanchor="bottom"))


def label(text: Any, limit: int = 80) -> str:
    value = " ".join(str(text if text is not None else "").split())
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return html.escape(value)


def counts_bar(counts: dict[str, int], title: str, colors: dict[str, str] | None = None) -> go.Figure:
    names = sorted(counts, key=lambda k: -counts[k])
    fig = go.Figure(go.Bar(x=[label(n) for n in names], y=[counts[n] for n in names],
                           marker_color=[(colors or {}).get(n, "#1565c0") for n in names]))
    fig.update_layout(title=title, height=260, **LAYOUT)
    return fig


def outcome_trend(rows: list[dict[str, Any]], *, bucket: str, metric: str = "success",
                  markers: Iterable[dict[str, Any]] = (), title: str = "") -> go.Figure:
    """Success rate (truth and verdict) or mean steps per bucket, one line per series, memory events marked.

    Runs and trials sit at evenly spaced positions labelled with their names (an imported file's runs all start
    within a second); days, weeks and windows sit on a time axis. Memory events are ticks along the top: on the
    run axis, between the last run that started before the event and the next.
    """
    fig = go.Figure()
    position, ticks = _positions(rows, bucket)
    by_series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["bucket"] is not None:
            by_series[r["series"]].append(r)
    many = len(by_series) > 1
    for series, points in by_series.items():
        xs = [position(p) for p in points]
        hover = [label(p.get("run_name")) if bucket == "run" else f"{p['trajectories']} trajectories"
                 for p in points]
        prefix = f"{label(series)} · " if many else ""
        if metric == "success":
            for key, n_key, name, dash in (("truth_success_rate", "with_truth", "truth", "solid"),
                                           ("verdict_success_rate", "judged", "judge", "dot")):
                ys = [p[key] for p in points]
                if any(y is not None for y in ys):
                    ns = [p.get(n_key) or 0 for p in points]
                    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=f"{prefix}success ({name})",
                                             line=dict(dash=dash), text=hover, customdata=ns,
                                             # a point resting on few outcomes is drawn hollow
                                             marker=dict(symbol=["circle" if n >= MIN_N else "circle-open"
                                                                 for n in ns]),
                                             hovertemplate="%{y:.1%} of n=%{customdata} · %{text}<extra></extra>"))
        else:
            fig.add_trace(go.Scatter(x=xs, y=[p["mean_steps"] for p in points], mode="lines+markers",
                                     name=f"{prefix}mean steps", text=hover,
                                     hovertemplate="%{y:.2f} steps · %{text}<extra></extra>"))
    if bucket != "trial":
        _mark_events(fig, markers, rows, bucket, top=1.04 if metric == "success" else None)
    fig.update_layout(title=title, height=330, **LAYOUT)
    if ticks:
        fig.update_xaxes(tickvals=list(range(len(ticks))), ticktext=ticks, title="trial" if bucket == "trial" else None)
    if metric == "success":
        fig.update_yaxes(tickformat=".0%", range=[0, 1.08])
    else:
        fig.update_yaxes(rangemode="tozero")  # from zero: a 12-vs-13 steps wobble must not look like a cliff
    return fig


def run_key(rows: list[dict[str, Any]]) -> str:
    """'#1 name; #2 name …' for a run axis whose ticks show ids only (more than NAMED_RUN_TICKS runs); else ''."""
    names = {r["bucket"]: r.get("run_name") for r in rows if r["bucket"] is not None}
    if len(names) <= NAMED_RUN_TICKS:
        return ""
    # Plain text (the caller escapes it for Markdown), whole names: the key exists to name the runs.
    return "; ".join(f"#{b} {' '.join(str(names[b] or '').split())}" for b in sorted(names))


def _positions(rows: list[dict[str, Any]], bucket: str):
    """Where each bucket goes on the x axis, and tick labels when the axis is not time."""
    if bucket not in ("run", "trial"):
        return (lambda r: r["start"]), None
    order = sorted({r["bucket"] for r in rows if r["bucket"] is not None})
    index = {b: n for n, b in enumerate(order)}
    names = {r["bucket"]: r.get("run_name") for r in rows}
    named = len(order) <= NAMED_RUN_TICKS  # more names than fit under half a page: ids only, names on hover
    ticks = [(f"#{b} {label(names.get(b), 24)}" if named else f"#{b}") if bucket == "run" else f"trial {b}"
             for b in order]
    return (lambda r: index[r["bucket"]]), ticks


def _mark_events(fig: go.Figure, markers: Iterable[dict[str, Any]], rows: list[dict[str, Any]], bucket: str,
                 top: float | None) -> None:
    """Memory events (consolidations, approvals) as vertical ticks along the top of the chart."""
    starts = sorted({(r["start"], r["bucket"]) for r in rows if r["start"] is not None and r["bucket"] is not None},
                    key=lambda sb: sb[1])
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in markers:
        grouped[m["kind"]].append(m)
    if not grouped:
        return
    ys = [r[k] for r in rows for k in ("mean_steps",) if r.get(k) is not None]
    y = top if top is not None else (max(ys) * 1.08 if ys else 1)
    for kind, points in grouped.items():
        if bucket == "run":
            xs = [sum(1 for start, _ in starts if start <= p["moment"]) - 0.5 for p in points]
        else:
            xs = [p["moment"] for p in points]
        fig.add_trace(go.Scatter(
            x=xs, y=[y] * len(points), mode="markers",
            marker=dict(symbol="line-ns-open", size=16, line=dict(width=2),
                        color=MARKER_COLORS.get(kind, "#455a64")),
            name=event_in_words(kind),
            text=[f"{p['moment']:%Y-%m-%d %H:%M} · {p['events']} × {event_in_words(kind)} by {label(p['actor'])}"
                  for p in points],
            hovertemplate="%{text}<extra></extra>"))


def bar_text(rate: float | None, n: int) -> str:
    """What a rate bar says on itself: the rate and its n, or below MIN_N only the n (no percentage to quote; the
    bar is faint and the hover says why). Short, so two neighbouring bars' labels fit side by side."""
    if rate is None or not n:
        return ""
    return f"{rate:.0%}<br>n={n:,}" if n >= MIN_N else f"n={n}"


def breakdown_bar(rows: list[dict[str, Any]], title: str) -> go.Figure:
    """Success rate (truth and judge) per value of one dimension, each bar labelled with its rate and n (the
    outcomes it rests on); bars on fewer than MIN_N outcomes are faint and say so instead of a percentage."""
    names = [label(r["value"]) for r in rows]
    fig = go.Figure()
    for key, n_key, name in (("truth_success_rate", "with_truth", "truth"),
                             ("verdict_success_rate", "judged", "judge")):
        ys = [r[key] for r in rows]
        if any(y is not None for y in ys):
            ns = [r.get(n_key) or 0 for r in rows]
            fig.add_trace(go.Bar(x=names, y=ys, name=f"success ({name})",
                                 customdata=[[n, "" if n >= MIN_N else f" — too few for a rate (under {MIN_N})"]
                                             for n in ns],
                                 text=[bar_text(y, n) for y, n in zip(ys, ns)], textposition="outside",
                                 marker=dict(opacity=[1.0 if n >= MIN_N else 0.35 for n in ns]),
                                 hovertemplate="%{y:.1%} of n=%{customdata[0]}%{customdata[1]}<extra></extra>"))
    # A label is never wider than its bar (`constraintext`): one that would need a font under 8 px is hidden, not
    # drawn over its neighbour's (the hover still says it). Bars a little wider than Plotly's default gaps give.
    fig.update_layout(title=title, height=320, barmode="group", bargap=0.12, bargroupgap=0.04,
                      uniformtext=dict(minsize=8, mode="hide"), **LAYOUT)
    # room above a 100% bar for its label, but no tick past 100%
    fig.update_yaxes(tickformat=".0%", range=[0, 1.25], tickvals=[0, 0.25, 0.5, 0.75, 1])
    return fig


def confusion(quality: JudgeQuality) -> go.Figure:
    labels = ["success", "failure"]
    z = [[quality.cell(judge, ref) for ref in labels] for judge in labels]
    fig = go.Figure(go.Heatmap(z=z, x=[f"{quality.reference}: {r}" for r in labels],
                               y=[f"judge: {j}" for j in labels], colorscale="Blues", showscale=False,
                               text=z, texttemplate="%{text}"))
    version = f" ({label(quality.prompt_version)})" if quality.prompt_version else ""
    fig.update_layout(title=f"{label(quality.judge_id)}{version} vs {quality.reference}", height=240,
                      margin=dict(l=10, r=10, t=40, b=10))
    fig.update_yaxes(autorange="reversed")
    return fig


def lineage(nodes: list[dict[str, Any]], edges: list[dict[str, Any]], focus: int | None = None,
            cursor: Any = None) -> go.Figure:
    """Merges as a DAG: each item a dot at the time it was written, one lane per merge family; lines run from the
    items a merge absorbed (fanned out around the lane) to the item it wrote (on the lane); a dashed line at the
    moment `cursor` (the Evolution screen's time cursor), when given."""
    pos = {n["item_id"]: (n["created_at"], y) for n, y in zip(nodes, _heights(nodes, edges))}
    merged = {e["child"] for e in edges}
    fig = go.Figure()
    xs, ys = [], []
    for e in edges:
        if e["parent"] in pos and e["child"] in pos:
            (x0, y0), (x1, y1) = pos[e["parent"]], pos[e["child"]]
            xs += [x0, x1, None]
            ys += [y0, y1, None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="#90a4ae", width=1), hoverinfo="skip",
                             showlegend=False))
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for n in nodes:
        by_source[n["source"] or "unknown"].append(n)
    for source, members in sorted(by_source.items()):
        color = SOURCE_COLORS.get(source, "#455a64")
        fig.add_trace(go.Scatter(
            x=[pos[n["item_id"]][0] for n in members], y=[pos[n["item_id"]][1] for n in members],
            mode="markers+text", name=f"from {source}", textposition="top center",
            # titled, not bare ids: the merged items always, every item while the graph is small enough to read
            text=[node_title(n) if n["item_id"] in merged or len(nodes) <= 30 else "" for n in members],
            textfont=dict(size=10),
            customdata=[[n["item_id"], label(n["title"]), n["source"], n["version"], n["status"]] for n in members],
            hovertemplate="#%{customdata[0]} v%{customdata[3]} · from %{customdata[2]} · %{customdata[4]}"
                          "<br>%{customdata[1]}<extra></extra>",
            # filled while it can be retrieved or approved; hollow once superseded, archived or rejected
            marker=dict(size=[16 if n["item_id"] == focus else 10 for n in members],
                        symbol=["circle" if n["status"] in ACTIVE else "circle-open" for n in members],
                        color=color, line=dict(width=1.5, color=color))))
    lanes = max((y for _, y in pos.values()), default=0)
    fig.update_layout(height=max(280, int(60 * (lanes + 2))), **LAYOUT)
    fig.update_traces(cliponaxis=False)
    heights = [y for _, y in pos.values()] or [0]
    fig.update_yaxes(visible=False, range=[min(heights) - 0.5, max(heights) + 0.9])  # room for the top labels
    times = [n["created_at"] for n in nodes]
    if times:  # room either side for a label centred on the first and the last dot (about 150 px of title)
        pad = max((max(times) - min(times)) * 0.12, timedelta(hours=12))
        fig.update_xaxes(range=[min(times) - pad, max(times) + pad])
    if cursor is not None and times and min(times) <= cursor <= max(times):  # else it would squeeze the merges
        mark_cursor(fig, cursor)
    return fig


def node_title(node: dict[str, Any], limit: int = 28) -> str:
    """A lineage node's label: its id and the start of its title (escaped: titles are model output)."""
    return f"#{node['item_id']} {label(node['title'], limit)}"


def _heights(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> list[float]:
    """A y for each node: one lane per connected family (newest on top); a merged item sits on its lane and the
    items it absorbed fan out around it, so no two lines of one merge lie on top of each other."""
    ids = [n["item_id"] for n in nodes]
    parent = {i: i for i in ids}

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    children: dict[int, list[int]] = defaultdict(list)
    for e in edges:
        if e["parent"] in parent and e["child"] in parent:
            parent[root(e["parent"])] = root(e["child"])
            children[e["child"]].append(e["parent"])
    lane = {f: n for n, f in enumerate(sorted({root(i) for i in ids}))}
    y: dict[int, float] = {}
    for child in sorted(children, reverse=True):  # newest merge first: it owns its lane's centre
        y.setdefault(child, float(lane[root(child)]))
        absorbed = sorted(children[child])
        for k, p in enumerate(absorbed):
            y.setdefault(p, y[child] + 0.6 * (k - (len(absorbed) - 1) / 2) / max(1, len(absorbed) - 1))
    return [y.get(i, float(lane[root(i)])) for i in ids]


REPLAY_BUTTONS = ("▶ Replay", "Pause")  # words: a pause glyph (U+23F8) draws as a missing-glyph box in many fonts


def replay(rows: list[dict[str, Any]], moments: dict[int, Any]) -> go.Figure:
    """An animated bar chart: items per status (stacked by source) at each checkpoint of the event log, standing at
    the last one. It has no slider of its own: the Evolution screen's time cursor says which moment it stands at
    (its checkpoints end there), so replay and the bank as of a moment never disagree."""
    points = sorted({r["event_id"] for r in rows})
    statuses = ["approved", "pending", "rejected", "superseded", "archived"]
    sources = sorted({r["source"] for r in rows if r["source"]})
    counts = {(r["event_id"], r["status"], r["source"]): r["items"] for r in rows}
    top = max([sum(counts.get((p, s, src), 0) for src in sources) for p in points for s in statuses] or [1])

    def bars(point: int) -> list[go.Bar]:
        return [go.Bar(x=statuses, y=[counts.get((point, s, src), 0) for s in statuses], name=src)
                for src in sources]

    fig = go.Figure(data=bars(points[-1]) if points else [],
                    frames=[go.Frame(data=bars(p), name=str(p)) for p in points])
    for frame, p in zip(fig.frames, points):
        frame.layout = go.Layout(title=dict(text=f"as of {moments.get(p) or f'event {p:,}'}", x=0.98,
                                            xanchor="right"))
    fig.update_layout(
        title=dict(text=f"as of {moments.get(points[-1]) or f'event {points[-1]:,}'}" if points else "",
                   x=0.98, xanchor="right"),  # the buttons sit at the left
        barmode="stack", height=380, yaxis=dict(range=[0, top * 1.1], title="items"),
        margin=dict(l=10, r=10, t=50, b=10),
        updatemenus=[dict(type="buttons", direction="left", showactive=False, x=0, y=1.18, xanchor="left",
                          yanchor="top", buttons=[
            dict(label=REPLAY_BUTTONS[0], method="animate", args=[None, dict(
                frame=dict(duration=400, redraw=True), fromcurrent=False, transition=dict(duration=200))]),
            dict(label=REPLAY_BUTTONS[1], method="animate", args=[[None], dict(mode="immediate",
                                                                             frame=dict(duration=0))])])])
    return fig


def confidence_drift(rows: list[dict[str, Any]], moments: dict[int, Any], cursor: Any = None) -> go.Figure:
    """Active items per confidence band over the event log (stacked), and reinforcements so far (a line); a
    dashed line at the moment `cursor` (the Evolution screen's time cursor), when given."""
    points = [r for r in rows if r["event_id"] in moments]
    x = [moments[r["event_id"]] for r in points]
    bands = sorted({b for r in points for b in r["bands"]})
    fig = go.Figure()
    for band in bands:
        name = "no confidence" if band < 0 else f"{band / 10:.1f}–{(band + 1) / 10:.1f}"
        shade = 0.25 + 0.75 * max(band, 0) / 9
        fig.add_trace(go.Scatter(x=x, y=[r["bands"].get(band, 0) for r in points], name=name, stackgroup="bands",
                                 mode="lines", line=dict(width=0.5, color="rgb(21, 101, 192)"),
                                 fillcolor=f"rgba(21, 101, 192, {shade:.2f})"))
    fig.add_trace(go.Scatter(x=x, y=[r["reinforcements"] for r in points], name="reinforcements so far",
                             mode="lines", line=dict(color="#6a1b9a", dash="dot"), yaxis="y2"))
    fig.update_layout(title="Active lessons by confidence", height=300, yaxis=dict(title="items"),
                      yaxis2=dict(title="reinforcements", overlaying="y", side="right", rangemode="tozero",
                                  tickformat=",d"),
                      **LAYOUT)
    mark_cursor(fig, cursor)
    return fig


def mark_cursor(fig: go.Figure, moment: Any) -> None:
    """A dashed vertical line at `moment` on a time axis, labelled 'time cursor' (nothing when None)."""
    if moment is None:
        return
    fig.add_shape(type="line", x0=moment, x1=moment, y0=0, y1=1, yref="paper",
                  line=dict(dash="dash", color="#424242"))
    fig.add_annotation(x=moment, y=1, yref="paper", text="time cursor", showarrow=False, yanchor="bottom")


def _run_and_memory(run: dict[str, Any]) -> str:
    """A run's legend entry: its name and its memory setting in words, unless the name already says it ('week 1 ·
    web · memory off (memory off)' said it twice)."""
    memory = memory_in_words(run["memory_mode"], run["matts_mode"], run["matts_k"])
    return run["name"] if memory.lower() in run["name"].lower() else f"{run['name']} · {memory}"


def task_curves(runs: list[dict[str, Any]]) -> go.Figure:
    """Cumulative success over the tasks of each run, in the order the run did them (the online setting's
    learning curve), one line per run; hover gives the block's own rate and mean steps."""
    fig = go.Figure()
    for run in runs:
        points = [p for p in run["curve"] if p["cumulative_success_rate"] is not None]
        if not points:
            continue
        fig.add_trace(go.Scatter(
            x=[p["last_task"] for p in points], y=[p["cumulative_success_rate"] for p in points], mode="lines+markers",
            name=label(_run_and_memory(run), 100),
            text=[f"tasks {p['first_task']}–{p['last_task']}: {p['success_rate']:.0%} this block, "
                  f"{p['mean_steps']} steps" if p["success_rate"] is not None else "" for p in points],
            hovertemplate="%{y:.1%} so far · %{text}<extra></extra>"))
    # Whole run names in the legend: a row of legend per two runs, below a plot that keeps its own height.
    fig.update_layout(title="Success so far, task by task", height=260 + 22 * min(len(fig.data), 20),
                      xaxis_title="tasks done", **LAYOUT)
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    return fig
