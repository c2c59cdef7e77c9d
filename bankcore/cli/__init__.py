"""The `bankcore` command. Every subcommand takes `--db PATH` (default `$BANKCORE_DB` or data/bank.duckdb).

User errors print one line to stderr and exit 1; nothing prints a traceback unless BANKCORE_DEBUG is set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .. import __version__
from ..bank import Bank
from ..errors import BankcoreError
from ..importers import FORMATS, ImportOptions
from ..importers.base import DEFAULT_MAX_RECORD_BYTES
from ..metrics import format_stats
from ..models import to_dict

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def register(fn):
        COMMANDS[name] = fn
        return fn
    return register


# ---------------------------------------------------------------------- output helpers
def say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text)


def warn(text: str) -> None:
    print(text, file=sys.stderr)


@contextmanager
def progress(args: argparse.Namespace, desc: str, unit: str, total: int | None = None) -> Iterator[Callable]:
    """A tqdm bar on stderr (only on a terminal, never with --quiet); yields an `advance(n=1)` callable."""
    if args.quiet or not sys.stderr.isatty():
        yield lambda n=1: None
        return
    from tqdm import tqdm
    with tqdm(desc=desc, unit=unit, total=total, file=sys.stderr, leave=False, dynamic_ncols=True) as bar:
        yield lambda n=1: bar.update(n)


def open_bank(args: argparse.Namespace) -> Bank:
    return Bank(args.db, on_busy=None if args.quiet else _busy_notice())


def _busy_notice() -> Callable[[str], None]:
    shown = False

    def notice(message: str) -> None:
        nonlocal shown
        if not shown:
            warn(message)
            shown = True
    return notice


# ---------------------------------------------------------------------- commands
@command("init")
def cmd_init(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    version = bank.init()
    say(args, f"bank ready: {bank.path} (schema v{version})")
    return 0


@command("import")
def cmd_import(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    options = ImportOptions(max_record_bytes=int(args.max_record_mb * 1024 * 1024),
                            swebench_results=Path(args.swebench_results) if args.swebench_results else None,
                            domain=args.domain)
    with progress(args, "importing", "traj") as advance:
        report = bank.import_path(args.path, fmt=args.format, run_name=args.run, skip_bad=args.skip_bad,
                                  options=options, on_record=advance, on_bad=warn)
    say(args, report.summary())
    return 3 if report.bad else 0


@command("stats")
def cmd_stats(args: argparse.Namespace) -> int:
    stats = open_bank(args).stats()
    print(json.dumps(stats, indent=2, default=str) if args.json else format_stats(stats))
    return 0


@command("check")
def cmd_check(args: argparse.Namespace) -> int:
    report = open_bank(args).check()
    if args.json:
        _json_out(to_dict(report) | {"ok": report.ok})
    else:
        print(report.summary())
    return 0 if report.ok else 1


@command("export")
def cmd_export(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    with progress(args, "exporting", "rec") as advance:
        n = bank.export(args.out, on_line=advance)
    say(args, f"exported {n} records to {args.out}")
    return 0


@command("import-bank")
def cmd_import_bank(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    with progress(args, "restoring", "rec") as advance:
        counts = bank.import_bank(args.file, on_line=advance)
    say(args, f"restored into {bank.path}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


# ---- judging and extraction commands (issue 3)
def _judge_choice(args: argparse.Namespace, bank: Bank, what: str = "judge") -> str:
    """Say which judge/extractor runs, so an offline heuristic run is never mistaken for an LLM one."""
    from ..learning import resolve_kind
    chosen = getattr(args, what) or ("llm" if getattr(args, "model", None) else None)  # --model implies an LLM
    kind = resolve_kind(chosen, bank.settings)
    if kind == "heuristic" and getattr(args, what) is None:
        say(args, f"no LLM configured: using the heuristic {what} (set OPENAI_API_KEY or BANKCORE_LLM_BASE_URL "
                  f"and BANKCORE_MODEL for an LLM one)")
    return kind


def _selection(bank: Bank, args: argparse.Namespace) -> list[str] | None:
    if getattr(args, "run", None) is None and getattr(args, "task", None) is None:
        return None
    run_id = bank.resolve_run(args.run) if args.run is not None else None
    return bank.store.select_traj_ids(run_id=run_id, task_id=args.task)


def _report_errors(report) -> int:
    for line in report.errors[:5]:
        warn(f"  {line}")
    return 4 if (report.failed or report.stopped) else 0


@command("judge")
def cmd_judge(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    kind = _judge_choice(args, bank)
    with progress(args, "judging", "traj") as advance:
        report = bank.judge(_selection(bank, args), judge=kind, model=args.model, limit=args.limit,
                            on_progress=advance)
    say(args, report.summary())
    return _report_errors(report)


@command("extract")
def cmd_extract(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    kind = _judge_choice(args, bank, "extractor")
    with progress(args, "extracting", "traj") as advance:
        report = bank.extract(_selection(bank, args), extractor=kind, model=args.model, limit=args.limit,
                              on_progress=advance)
    say(args, report.summary())
    return _report_errors(report)


@command("learn")
def cmd_learn(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    kind = _judge_choice(args, bank)
    with progress(args, "learning", "step") as advance:
        report = bank.learn(args.path, fmt=args.format, run_name=args.run, judge=kind,
                            extractor=args.extractor or kind, model=args.model, on_progress=advance)
    say(args, report.summary())
    return _report_errors(report.judged) or _report_errors(report.extracted)


@command("rejudge")
def cmd_rejudge(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    kind = _judge_choice(args, bank)
    with progress(args, "rejudging", "traj") as advance:
        report = bank.rejudge(run=args.run, task=args.task, all=args.all, judge=kind, model=args.model,
                              on_progress=advance)
    say(args, report.summary())
    for flip in report.flips[:20]:
        say(args, f"  {flip.traj_id}: {flip.before} → {flip.after}"
                  + (f" (items {', '.join(map(str, flip.items))} flagged)" if flip.items else ""))
    if len(report.flips) > 20:
        say(args, f"  … and {len(report.flips) - 20} more")
    return _report_errors(report)


@command("label")
def cmd_label(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    verdict, flips = bank.label(args.traj_id, args.label, by=args.by, rationale=args.reason or "")
    text = f"labelled {verdict.traj_id} {verdict.label} as {verdict.judge_id}"
    for flip in flips:
        text += f"; label flipped {flip.before} → {flip.after}"
        if flip.items:
            text += f", items {', '.join(map(str, flip.items))} flagged for review"
    say(args, text)
    return 0


@command("verdicts")
def cmd_verdicts(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    history = bank.verdicts(args.traj_id)
    current = bank.current_label(args.traj_id)
    if args.json:
        print(json.dumps({"traj_id": args.traj_id, "current": None if current is None else current.label,
                          "verdicts": [to_dict(v) for v in history]}, indent=2, default=str))
        return 0
    print(f"{args.traj_id}: current label {current.label + ' (' + current.judge_id + ')' if current else '—'}")
    for v in history:
        confidence = f" p={v.confidence:.2f}" if v.confidence is not None else ""
        print(f"  #{v.verdict_id} {v.created_at:%Y-%m-%d %H:%M:%S} {v.judge_id} [{v.prompt_version or '—'}] "
              f"{v.label}{confidence}: {v.rationale}")
    return 0


# ---- retrieval commands (issue 4)
def _hit_json(hit) -> dict:
    item = hit.item
    return {"rank": hit.rank, "item_id": item.item_id, "score": round(hit.score, 6),
            "signals": {k: round(v, 6) for k, v in hit.signals.items()}, "title": item.title,
            "description": item.description, "content": item.content, "source": item.source,
            "status": item.status, "domain": item.domain, "confidence": item.confidence}


def add_retrieval_parsers(sub, common: argparse.ArgumentParser) -> None:
    from ..models import ITEM_SOURCES
    p = sub.add_parser("retrieve", parents=[common], help="the memory items most relevant to a query")
    p.add_argument("query", help="the task, as the agent would receive it")
    p.add_argument("-k", type=int, default=1, help="how many items (default: 1, the paper's best)")
    p.add_argument("--json", action="store_true", help="machine-readable output, with the prompt block")
    p.add_argument("--task-id", help="the query's task: never return a lesson learned from it; logs the retrieval")
    p.add_argument("--domain", help="only items of this domain")
    p.add_argument("--source", action="append", choices=ITEM_SOURCES,
                   help="only items from this source (repeatable)")
    p.add_argument("--include-pending", action="store_true", help="also items not yet approved (experiments)")
    p.add_argument("--ranking", default="cosine", choices=["cosine", "hybrid"],
                   help="cosine (default) or hybrid (also confidence and measured usefulness)")
    p.add_argument("--min-similarity", type=float, help="minimum cosine (default: $BANKCORE_MIN_SIMILARITY or "
                                                        "the built-in default)")
    p.add_argument("--explain", type=int, metavar="ITEM", help="say where ITEM ranks and why it is (not) retrieved")
    p.add_argument("--prompt", action="store_true", help="print the system-prompt block instead of a list")
    p.add_argument("--no-log", action="store_true", help="do not log this retrieval even with --task-id")

    p = sub.add_parser("reembed", parents=[common],
                       help="give every item a vector from the current embedding model (REEMBED events)")
    p.add_argument("--dry-run", action="store_true", help="only say how many items would be embedded")
    p.add_argument("--missing-only", action="store_true", help="only items with no vector at all")

    sub.add_parser("mcp", parents=[common], help="serve retrieval and recording to agents over MCP (stdio)")


@command("retrieve")
def cmd_retrieve(args: argparse.Namespace) -> int:
    import dataclasses

    from ..injection import memory_block
    bank = open_bank(args)
    options = dict(task_id=args.task_id, domain=args.domain, source=tuple(args.source) if args.source else None,
                   include_pending=args.include_pending, ranking=args.ranking, min_similarity=args.min_similarity)
    if args.explain is not None:
        explanation = bank.explain(args.query, args.explain, args.k, **options)
        print(json.dumps(dataclasses.asdict(explanation), indent=2) if args.json else explanation.summary())
        return 0
    hits = bank.retrieve(args.query, args.k, log=not args.no_log, **options)
    notes = bank.retriever.warnings()
    if args.json:
        print(json.dumps({"query": args.query, "k": args.k, "hits": [_hit_json(h) for h in hits],
                          "prompt": memory_block([h.item for h in hits]), "warnings": notes,
                          "empty_because": None if hits else bank.why_nothing_retrieved(
                              include_pending=args.include_pending)}, indent=2))
        return 0
    for note in notes:
        warn(f"warning: {note}")
    if args.prompt:
        print(memory_block([h.item for h in hits]))
        return 0
    if not hits:
        say(args, bank.why_nothing_retrieved(include_pending=args.include_pending))
    for hit in hits:
        item = hit.item
        print(f"{hit.rank}. #{item.item_id}  {hit.score:.3f}  {item.title}")
        print(f"   {item.description}  [{item.source}, {item.status}" + (f", {item.domain}]" if item.domain else "]"))
    return 0


@command("reembed")
def cmd_reembed(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    if args.dry_run:
        from ..reembed import pending_counts
        counts = pending_counts(bank.store, bank.retriever.embedder)
        say(args, "nothing to re-embed" if not counts else "would embed: " +
            ", ".join(f"{n} from {m}" for m, n in sorted(counts.items())))
        return 0
    with progress(args, "embedding", "item") as advance:
        report = bank.reembed(missing_only=args.missing_only, on_progress=advance)
    say(args, report.summary())
    return 0


@command("mcp")
def cmd_mcp(args: argparse.Namespace) -> int:
    from ..mcp_server import serve
    serve(open_bank(args))
    return 0

# ---- consolidation and review commands (issue 5)
def _inert(text) -> str:
    """Item text is untrusted (distilled from web pages and user text): drop control characters such as terminal
    escape sequences, so printing it can never recolour, move or rewrite the user's terminal."""
    return "".join(c for c in str(text) if c in "\n\t" or (c.isprintable() and c != "\x1b"))


def _by(args: argparse.Namespace) -> str | None:
    return f"human:{args.by}" if getattr(args, "by", None) else None


def _item_line(item) -> str:
    flags = f" flags={','.join(item.flags)}" if item.flags else ""
    return (f"#{item.item_id} [{item.status}] ({item.source}, {item.domain or '-'}) v{item.version} "
            f"{_inert(item.title)} — {_inert(item.description)}{flags}")


def _json_out(value) -> None:
    import dataclasses
    print(json.dumps(value, indent=2, default=lambda v: dataclasses.asdict(v) if dataclasses.is_dataclass(v)
                     else str(v), ensure_ascii=False))


@command("consolidate")
def cmd_consolidate(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    llm = args.llm if args.llm is not None else bank.settings.llm_configured
    if args.model and not llm:
        raise BankcoreError("--model applies to LLM merging (--llm); the heuristic merge uses no model")
    mode = "LLM merge (one call per group)" if llm else "heuristic merge (heuristic-merge:1, offline)"
    if args.dry_run:
        actions = bank.plan_consolidation(threshold=args.threshold, llm=llm, max_group=args.max_group)
        if args.json:
            _json_out({"mode": "llm" if llm else "heuristic", "actions": actions})
            return 0
        say(args, f"dry run — {mode}; nothing is written")
        _print_plan(bank, actions)
        return 0
    with progress(args, "consolidating", "group") as advance:
        actions, report = bank.consolidate(threshold=args.threshold, llm=llm, model=args.model,
                                           max_group=args.max_group, actor=_by(args), on_group=lambda _: advance())
    if args.json:
        _json_out({"actions": actions, "report": report})
        return 0
    say(args, f"{mode}: {len(report.merged)} merged, {len(report.contradictions)} contradictions flagged, "
              f"{len(report.declined)} declined, {len(report.skipped)} skipped, {len(report.failed)} failed, "
              f"{report.llm_calls} LLM calls (batch {report.batch_id})")
    for child, parents in report.merged:
        approved = " (approved by policy)" if child in report.approved_by_policy else " (pending review)"
        say(args, f"  #{child} ← {', '.join(f'#{p}' for p in parents)}{approved}")
    for a, b, reason in report.contradictions:
        say(args, f"  contradiction #{a} ↔ #{b}: {_inert(reason)}")
    for group, reason in report.declined + report.skipped + report.failed:
        say(args, f"  left {', '.join(f'#{p}' for p in group)}: {_inert(reason)}")
    return 0


def _print_plan(bank: Bank, actions) -> None:
    merges = [a for a in actions if a.kind == "merge"]
    contradictions = [a for a in actions if a.kind == "contradiction"]
    print(f"{len(merges)} groups to merge ({sum(len(m.parent_ids) for m in merges)} items), "
          f"{len(contradictions)} contradiction pairs to surface")
    titles = {i.item_id: i for i in bank.store.get_items({n for a in merges for n in a.parent_ids} |
                                                          {n for c in contradictions for n in (c.a, c.b)})}
    for m in merges:
        print(f"\nmerge {len(m.parent_ids)} items ({m.domain or 'no domain'}, {m.review_state}; "
              f"similarity {m.min_similarity:.3f}–{m.mean_similarity:.3f} min–mean):")
        for p in m.parent_ids:
            print(f"  {_item_line(titles[p])}")
        if m.proposal:
            print(f"  → {_inert(m.proposal.title)} — {_inert(m.proposal.description)}\n    {_inert(m.proposal.content)}")
    for c in contradictions:
        print(f"\ncontradiction (similarity {c.similarity:.3f}): {_item_line(titles[c.a])}\n"
              f"                       vs {_item_line(titles[c.b])}\n  {_inert(c.reason)}")


@command("review")
def cmd_review(args: argparse.Namespace) -> int:
    return REVIEW[args.review_command](open_bank(args), args)


def _review_list(bank: Bank, args) -> int:
    items = bank.store.query_items(status=args.status, source=args.source, domain=args.domain,
                                   flagged=args.flagged, text=args.text, limit=args.limit)
    if args.json:
        _json_out(items)
        return 0
    for item in items:
        print(_item_line(item))
    say(args, f"{len(items)} items" + (f" (limit {args.limit})" if args.limit and len(items) == args.limit else ""))
    return 0


def _review_show(bank: Bank, args) -> int:
    item = bank.item(args.id)
    sources = bank.store.item_sources(item.item_id)
    lineage = bank.lineage(item.item_id)
    if args.json:
        item.embedding = None
        _json_out({"item": item, "sources": sources, "lineage": lineage, "events": bank.history(item.item_id)})
        return 0
    print(_item_line(item))
    print(f"  content: {_inert(item.content)}")
    print(f"  extractor: {item.extractor_id or '-'}  prompt: {item.prompt_version or '-'}  "
          f"confidence: {item.confidence if item.confidence is not None else '-'}  "
          f"embedding: {item.embedding_model or 'none'}")
    if item.superseded_by:
        print(f"  superseded by #{item.superseded_by}")
    for s in sources:
        where = f"item #{s.parent_item_id}" if s.relation == "parent" else f"trajectory {s.traj_id} steps {s.step_idxs}"
        print(f"  {s.relation}: {where}")
    if lineage.ancestors or lineage.descendants:
        print("  lineage: ancestors " + (", ".join(f"#{n.item_id}[{n.status}]" for n in lineage.ancestors) or "-")
              + "; descendants " + (", ".join(f"#{n.item_id}[{n.status}]" for n in lineage.descendants) or "-"))
    print(f"  last event: {item.last_event_id} — to edit: bankcore review edit {item.item_id} "
          f"--expect-event {item.last_event_id} --content ...")
    return 0


def _review_decide(action: str):
    def run(bank: Bank, args) -> int:
        if args.ids and (args.all or _filters(args)):
            raise BankcoreError("name item ids or use --all with filters, not both")
        if args.ids:
            if args.expect_event is not None and len(args.ids) != 1:
                raise BankcoreError("--expect-event applies to a single item")
            for item_id in args.ids:
                item = getattr(bank, action)(item_id, actor=_by(args), reason=args.reason,
                                             expected_event_id=args.expect_event)
                say(args, f"{action}d #{item.item_id} (event {item.last_event_id})")
            return 0
        if not args.all:
            raise BankcoreError(f"name the items to {action}, or pass --all (with --source/--domain/--text/"
                                f"--unflagged filters) to {action} every pending match (flagged items are never "
                                f"bulk-approved)")
        result = bank.bulk_review(action, actor=_by(args), reason=args.reason, **_filters(args))
        done = result.decided
        say(args, f"{action}d {len(done)} items" + (f": {', '.join(f'#{i}' for i in done)}" if done else ""))
        if result.skipped_flagged:
            say(args, f"left {len(result.skipped_flagged)} flagged items for one-by-one review: "
                      + ", ".join(f"#{i}" for i in result.skipped_flagged))
        return 0
    return run


def _filters(args) -> dict:
    given = {"source": args.source, "domain": args.domain, "text": args.text,
             "flagged": False if args.unflagged else None}
    return {k: v for k, v in given.items() if v is not None}


def _review_edit(bank: Bank, args) -> int:
    if not any((args.title, args.description, args.content)):
        raise BankcoreError("give --title, --description and/or --content")
    item = bank.edit(args.id, actor=_by(args), reason=args.reason, expected_event_id=args.expect_event,
                     title=args.title, description=args.description, content=args.content)
    say(args, f"edited #{item.item_id}: now version {item.version} (event {item.last_event_id})")
    return 0


def _review_add(bank: Bank, args) -> int:
    item = bank.write_lesson(title=args.title, description=args.description, content=args.content,
                             domain=args.domain, actor=_by(args), reason=args.reason)
    say(args, f"wrote #{item.item_id} ({item.source}, {item.status}) as {item.extractor_id}")
    return 0


def _review_restore(bank: Bank, args) -> int:
    item = bank.restore(args.id, args.version, actor=_by(args), reason=args.reason,
                        expected_event_id=args.expect_event)
    say(args, f"restored #{item.item_id} to the text of version {args.version}: now version {item.version}")
    return 0


def _review_history(bank: Bank, args) -> int:
    events = bank.history(args.id)
    versions = bank.versions(args.id)
    if args.json:
        _json_out({"events": events, "versions": versions, "lineage": bank.lineage(args.id)})
        return 0
    for e in events:
        change = _event_change(e)
        print(f"{e.event_id:>6} {e.created_at:%Y-%m-%d %H:%M:%S} {e.kind:<13} {e.actor:<24} {change}"
              + (f" — {_inert(e.reason)}" if e.reason else ""))
    print("versions: " + ", ".join(f"v{v.version} (event {v.event_id}, {v.kind})" for v in versions))
    return 0


def _event_change(e) -> str:
    before, after = e.before or {}, e.after or {}
    changed = [k for k in after if before.get(k) != after.get(k)] if before else ["created"]
    parts = []
    for key in changed:
        if key in ("status", "superseded_by", "version"):
            parts.append(f"{key} {before.get(key)}→{after.get(key)}")
        else:
            parts.append(key)
    return ", ".join(parts) or "no change"


def _review_diff(bank: Bank, args) -> int:
    from ..lineage import render
    for name, ops in bank.diff(args.id, args.old, args.new, by="line" if args.lines else "word").items():
        text = render(ops)
        if any(o.op != "equal" for o in ops):
            print(f"{name}: {_inert(text)}")
        else:
            print(f"{name}: (unchanged)")
    return 0


def _review_unmerge(bank: Bank, args) -> int:
    parents = bank.unmerge(args.id, actor=_by(args), reason=args.reason)
    say(args, f"un-merged #{args.id}: restored {', '.join(f'#{p}' for p in parents)}; #{args.id} archived")
    return 0


def _review_contradictions(bank: Bank, args) -> int:
    pairs = bank.contradictions(open_only=not args.all)
    if args.json:
        _json_out(pairs)
        return 0
    for p in pairs:
        state = "open" if p.open else f"resolved ({p.resolution or 'by other changes'})"
        print(f"#{p.a.item_id} ↔ #{p.b.item_id} [{state}] found by {p.detector}: {_inert(p.reason)}\n"
              f"  {_item_line(p.a)}\n  {_item_line(p.b)}")
    say(args, f"{len(pairs)} contradiction pairs" + ("" if args.all else " open") +
        (" — resolve with: bankcore review resolve A B --keep A|B|both" if pairs else ""))
    return 0


def _review_resolve(bank: Bank, args) -> int:
    bank.resolve_contradiction(args.a, args.b, args.keep, actor=_by(args), reason=args.reason)
    say(args, f"resolved #{args.a} ↔ #{args.b}: kept {args.keep}")
    return 0


REVIEW = {"list": _review_list, "show": _review_show, "approve": _review_decide("approve"),
          "reject": _review_decide("reject"), "edit": _review_edit, "add": _review_add, "restore": _review_restore,
          "history": _review_history, "diff": _review_diff, "unmerge": _review_unmerge,
          "contradictions": _review_contradictions, "resolve": _review_resolve}


@command("policy")
def cmd_policy(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    action = args.policy_command or "show"
    if action == "set":
        policy = bank.set_policy(args.key, args.value)
        say(args, f"policy {args.key} = {getattr(policy, args.key)}")
        return 0
    if action == "apply":
        approved = bank.apply_policy()
        say(args, f"policy:{bank.policy().name} approved {len(approved)} pending items")
        return 0
    if action == "enforce":
        actions = bank.plan_growth() if args.dry_run else bank.enforce_growth()
        verb = "would archive" if args.dry_run else "archived"
        say(args, f"{verb} {len(actions)} items")
        for a in actions:
            say(args, f"  #{a.item_id}: {a.reason}")
        return 0
    from ..policy import SETTING_KEY, describe
    rows = describe(bank.policy())
    if getattr(args, "json", False):
        _json_out({key: value for key, value, _ in rows})
        return 0
    stored = bank.store.get_setting(SETTING_KEY) is not None
    print(f"curation policy of {bank.path} (bank setting '{SETTING_KEY}'"
          + ("" if stored else "; the defaults, not stored yet — `policy set` stores them") + "):")
    for key, value, meaning in rows:
        print(f"  {key:<28} {value!s:<10} {meaning}")
    print("  flagged items (e.g. suspected_injection, open contradictions) are never auto-approved")
    return 0


@command("as-of")
def cmd_as_of(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    view = bank.as_of_run(args.run) if args.run is not None else bank.as_of(_point(args.point))
    where = f"event {view.event_id}" + (f" ({view.moment:%Y-%m-%d %H:%M:%S})" if view.moment else " (empty bank)")
    if args.told:
        if args.run is None:
            raise BankcoreError("--told needs --run N")
        told = bank.told_at_run(args.run, k=args.k)
        if args.json:
            _json_out([{"traj_id": t, "query": q, "items": [h.item.item_id for h in hits]} for t, q, hits in told])
            return 0
        print(f"run {args.run} against the bank as of {where}: what retrieval would have told each task")
        for traj_id, query, hits in told:
            shown = "; ".join(f"#{h.item.item_id} {_inert(h.item.title)} ({h.score:.2f})" for h in hits) or "nothing"
            print(f"  {traj_id[:10]} {_inert(query)[:70]!r} → {shown}")
        return 0
    if args.query:
        hits = view.rank(args.query, k=args.k, exclude_task_id=args.task,
                         min_similarity=bank.settings.min_similarity)
        if args.json:
            _json_out({"event_id": view.event_id, "hits": [{"item_id": h.item.item_id, "rank": h.rank,
                                                              "score": h.score, "title": h.item.title,
                                                              "version": h.item.version} for h in hits]})
            return 0
        print(f"as of {where}, retrieval (top {args.k}, approved items) would have shown:")
        for h in hits:
            print(f"  {h.rank}. {h.score:.3f} {_item_line(h.item)}")
        if not hits:
            print("  nothing (no approved item then)")
        return 0
    items = sorted(view.items.values(), key=lambda i: i.item_id)
    if args.json:
        _json_out({"event_id": view.event_id, "items": items})
        return 0
    print(f"the bank as of {where}: {len(items)} items, {len(view.active())} active, "
          f"{len(view.retrievable())} approved")
    for item in items:
        print(f"  {_item_line(item)}")
    return 0


def _point(text: str | None):
    """An event id, or an ISO 8601 time (naive = UTC, as the bank stores times)."""
    from datetime import datetime, timezone
    if text is None:
        raise BankcoreError("give an event id, a time (ISO 8601) or --run N")
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BankcoreError(f"{text!r} is neither an event id nor an ISO 8601 time") from None
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def _add_curation_parsers(sub, common) -> None:
    p = sub.add_parser("consolidate", parents=[common], help="merge near-duplicate items; flag contradictions")
    p.add_argument("--threshold", type=float, help="cosine similarity to group items (default: the policy's)")
    p.add_argument("--dry-run", action="store_true", help="show the plan; write nothing")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--llm", dest="llm", action="store_true", default=None, help="merge with the LLM")
    mode.add_argument("--heuristic", dest="llm", action="store_false", help="merge offline (heuristic-merge:1)")
    p.add_argument("--model", help="LLM model for merging (default: the configured one)")
    p.add_argument("--max-group", type=int, help="largest group merged at once (default: 6)")
    p.add_argument("--by", help="your name, recorded as who requested the consolidation")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    review = sub.add_parser("review", parents=[common], help="list, inspect and curate memory items")
    rsub = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    who = argparse.ArgumentParser(add_help=False)
    who.add_argument("--by", help="your name (recorded as human:NAME; default: $BANKCORE_ACTOR or cli)")
    who.add_argument("--reason", help="why (recorded in the history)")
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--source", help="only items from this source (success, failure, merged, ...)")
    filters.add_argument("--domain", help="only items of this domain")
    filters.add_argument("--text", help="only items whose text contains this")

    r = rsub.add_parser("list", parents=[common, filters], help="list items")
    r.add_argument("--status", help="pending, approved, rejected, superseded or archived")
    flag = r.add_mutually_exclusive_group()
    flag.add_argument("--flagged", dest="flagged", action="store_true", default=None)
    flag.add_argument("--unflagged", dest="flagged", action="store_false")
    r.add_argument("--limit", type=int, default=200)
    r.add_argument("--json", action="store_true")
    r = rsub.add_parser("show", parents=[common], help="one item: text, provenance, lineage, last event")
    r.add_argument("id", type=int)
    r.add_argument("--json", action="store_true")
    for action in ("approve", "reject"):
        r = rsub.add_parser(action, parents=[common, who, filters], help=f"{action} items (by id, or --all matching)")
        r.add_argument("ids", type=int, nargs="*", metavar="ID")
        r.add_argument("--all", action="store_true", help=f"{action} every pending item matching the filters")
        r.add_argument("--unflagged", action="store_true", help="with --all: only items without flags")
        r.add_argument("--expect-event", type=int, help="refuse if the item changed since this event")
    r = rsub.add_parser("edit", parents=[common, who], help="change an item's text (re-embeds)")
    r.add_argument("id", type=int)
    r.add_argument("--title")
    r.add_argument("--description")
    r.add_argument("--content")
    r.add_argument("--expect-event", type=int, help="the item's last event when you read it (review show); "
                                                     "the edit is refused if it has changed since")
    r = rsub.add_parser("add", parents=[common, who], help="write a lesson yourself (source manual, approved)")
    r.add_argument("--title", required=True)
    r.add_argument("--description", required=True)
    r.add_argument("--content", required=True)
    r.add_argument("--domain")
    r = rsub.add_parser("restore", parents=[common, who], help="bring back the text of an earlier version")
    r.add_argument("id", type=int)
    r.add_argument("--version", type=int, required=True)
    r.add_argument("--expect-event", type=int)
    r = rsub.add_parser("history", parents=[common], help="every event of an item, and its versions")
    r.add_argument("id", type=int)
    r.add_argument("--json", action="store_true")
    r = rsub.add_parser("diff", parents=[common], help="word diff between two versions of an item")
    r.add_argument("id", type=int)
    r.add_argument("old", type=int, help="version number")
    r.add_argument("new", type=int, help="version number")
    r.add_argument("--lines", action="store_true", help="line-level instead of word-level")
    r = rsub.add_parser("unmerge", parents=[common, who], help="undo a merge: restore the parents")
    r.add_argument("id", type=int)
    r = rsub.add_parser("contradictions", parents=[common], help="pairs of items that contradict each other")
    r.add_argument("--all", action="store_true", help="include resolved pairs")
    r.add_argument("--json", action="store_true")
    r = rsub.add_parser("resolve", parents=[common, who], help="decide a contradiction pair")
    r.add_argument("a", type=int)
    r.add_argument("b", type=int)
    r.add_argument("--keep", required=True, help="both, or the id of the item to keep (the other is rejected)")

    policy = sub.add_parser("policy", parents=[common], help="show or change the approval and growth policy")
    psub = policy.add_subparsers(dest="policy_command", metavar="ACTION")
    r = psub.add_parser("show", parents=[common], help="the policy and what each setting means")
    r.add_argument("--json", action="store_true")
    r = psub.add_parser("set", parents=[common], help="change one setting")
    r.add_argument("key")
    r.add_argument("value")
    psub.add_parser("apply", parents=[common], help="auto-approve pending items the policy allows")
    r = psub.add_parser("enforce", parents=[common], help="archive items beyond the cap / past the age limit")
    r.add_argument("--dry-run", action="store_true")

    p = sub.add_parser("as-of", parents=[common], help="the bank as it was at an event, a time or a run")
    p.add_argument("point", nargs="?", help="event id or ISO 8601 time")
    p.add_argument("--run", type=int, help="the bank as run N's agent saw it")
    p.add_argument("--query", help="what retrieval would have shown for this task")
    p.add_argument("--told", action="store_true", help="with --run: what each of the run's tasks would have been told")
    p.add_argument("--task", help="with --query: the task id (its own lessons are excluded)")
    p.add_argument("-k", type=int, default=1, help="with --query: how many items (default 1)")
    p.add_argument("--json", action="store_true")

# ---- agent runner commands (issue 7)
@command("run")
def cmd_run(args: argparse.Namespace) -> int:
    from ..agent.env import get_environment
    from ..agent.runner import RunSettings
    from ..agent.tasks import select_tasks
    bank = open_bank(args)
    env = get_environment(args.env)
    tasks = select_tasks(args.tasks, env)
    name = args.run or _default_run_name(args, bank)
    settings = RunSettings(name=name, env=args.env, memory=args.memory, matts=args.matts,
                           k=args.k if args.k is not None else (3 if args.matts else 1), model=args.model,
                           memory_k=args.memory_k, judge=args.judge, extractor=args.extractor,
                           selector=args.selector, temperature=args.temperature, consolidate=not args.no_consolidate)
    if args.run is None:
        say(args, f"run {name!r}: to resume it after an interruption, run the same command with --run {name!r}")
    position = finished = 0
    with progress(args, "tasks", "task", total=len(tasks)) as advance:
        def on_task(result) -> None:
            nonlocal position, finished
            advance()
            position += 1
            if result is None:  # done by an earlier, interrupted invocation of this run
                return
            finished += 1
            outcome = {True: "success", False: "failure", None: "no check"}[result.success]
            shown = f", shown item(s) {', '.join(map(str, result.memory_item_ids))}" if result.memory_item_ids else ""
            learned = (f", learned {len(result.items_added)} new item(s)" if result.items_added else "") + \
                (f", reinforced {len(result.items_reinforced)}" if result.items_reinforced else "")
            say(args, f"  [{position}/{len(tasks)}] {result.task_id}: {outcome} in {result.steps} steps{shown}"
                      f"{learned}")
        try:
            report = bank.run_agent(tasks, settings, limit=args.limit, on_task=on_task)
        except KeyboardInterrupt:
            warn(f"interrupted after {finished} task(s) this time; run again with --run {name!r} to continue")
            return 130
    say(args, report.summary())
    return 4 if report.learning_failures else 0


def _default_run_name(args: argparse.Namespace, bank: Bank) -> str:
    scaling = f"-{args.matts}{args.k or 3}" if args.matts else ""
    return f"{args.env}-{args.memory}{scaling}-{bank.store.clock():%Y%m%d-%H%M%S}"


@command("matts-replay")
def cmd_matts_replay(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    kind = _judge_choice(args, bank, "selector")
    with progress(args, "replaying", "group") as advance:
        report = bank.matts_replay(args.run, k=args.k, selector=kind, extractor=args.extractor, judge=args.judge,
                                   model=args.model, on_progress=advance)
    if args.json:
        print(json.dumps({"groups": report.groups, "selector": report.selected.selector_id,
                          "extractor": report.contrasted.extractor_id, "items": report.contrasted.items,
                          "approved": len(report.approved), **report.outcomes.rates(),
                          "per_group": [to_dict(g) for g in report.outcomes.groups]}, indent=2))
    else:
        say(args, report.summary())
    return _report_errors(report.selected) or _report_errors(report.contrasted)


@command("tasks")
def cmd_tasks(args: argparse.Namespace) -> int:
    from ..agent.env import get_environment
    env = get_environment(args.env)
    tasks = env.tasks()
    if args.json:
        print(json.dumps([{"task_id": t.task_id, "kind": t.kind, "domain": t.domain, "query": t.query}
                          for t in tasks], indent=2))
    else:
        for t in tasks:
            print(f"{t.task_id}\t{t.kind}\t{t.query}")
    return 0


def add_agent_parsers(sub, common: argparse.ArgumentParser) -> None:
    """Subcommands of issue 7: run, matts-replay, tasks."""
    learners = argparse.ArgumentParser(add_help=False)
    learners.add_argument("--model", help="LLM model (default: $BANKCORE_MODEL)")
    learners.add_argument("--judge", choices=["heuristic", "llm"],
                          help="who judges (default: llm when an endpoint or key is configured, else heuristic)")
    learners.add_argument("--extractor", choices=["heuristic", "llm"], help="who extracts lessons (default: as --judge)")

    p = sub.add_parser("run", parents=[common, learners],
                       help="run an LLM agent over tasks, learning after each (resumable with --run NAME)")
    p.add_argument("tasks", help="all, task ids (a,b,c), or a .jsonl file of tasks")
    p.add_argument("--env", default="shop", help="environment (default: shop; see `bankcore tasks`)")
    p.add_argument("--memory", default="reasoningbank", choices=["none", "reasoningbank"],
                   help="inject retrieved memory into the agent's system prompt (default: reasoningbank)")
    p.add_argument("--matts", choices=["parallel", "sequential"], help="memory-aware test-time scaling")
    p.add_argument("--k", type=int, help="MaTTS scaling factor: parallel attempts or refinement passes (default 3)")
    p.add_argument("--memory-k", type=int, default=1, help="memory items retrieved per task (default: 1, as the paper)")
    p.add_argument("--selector", choices=["heuristic", "llm"], help="best-of-N selector (default: as --judge)")
    p.add_argument("--temperature", type=float, default=0.7, help="agent sampling temperature (default: 0.7)")
    p.add_argument("--no-consolidate", action="store_true", help="do not consolidate the bank after each task")
    p.add_argument("--limit", type=int, help="do at most this many (new) tasks")
    p.add_argument("--run", help="run name; an existing live run of that name is resumed")

    p = sub.add_parser("matts-replay", parents=[common, learners],
                       help="best-of-N and self-contrast extraction over tasks that already have several trajectories")
    p.add_argument("--run", help="only this run (id or name)")
    p.add_argument("--selector", choices=["heuristic", "llm"],
                   help="best-of-N selector (default: llm when configured, else heuristic)")
    p.add_argument("--k", type=int, help="use the first K trajectories of each task (default: all)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("tasks", parents=[common], help="list an environment's built-in tasks")
    p.add_argument("--env", default="shop", help="environment (default: shop)")
    p.add_argument("--json", action="store_true", help="machine-readable output")



@command("demo")
def cmd_demo(args: argparse.Namespace) -> int:
    from .. import demo
    db = Path(args.db or Bank().path)
    bank = demo.build(db, force=args.force, say=lambda text: say(args, text))
    say(args, f"demo bank ready: {bank.path}")
    return 0


# ---------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    # The same options before or after the subcommand. Subcommands default to SUPPRESS so that
    # `bankcore --db X stats` is not overwritten by the subcommand's own default.
    top = argparse.ArgumentParser(add_help=False)
    top.add_argument("--db", help="bank file (default: $BANKCORE_DB or data/bank.duckdb)")
    top.add_argument("-q", "--quiet", action="store_true", help="print only errors and requested output")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, help="bank file (default: $BANKCORE_DB or data/bank.duckdb)")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="print only errors and requested output")

    parser = argparse.ArgumentParser(prog="bankcore", description="A ReasoningBank memory bank for agents.",
                                     parents=[top])
    parser.add_argument("--version", action="version", version=f"bankcore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("init", parents=[common], help="create or upgrade the bank file")

    p = sub.add_parser("check", parents=[common], help="audit the bank: every item is the last state of its "
                                                       "history; merges and provenance are linked (read-only)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("import", parents=[common], help="import trajectories (file or folder)")
    p.add_argument("path", help="file or folder to import")
    p.add_argument("--format", default="auto", choices=["auto", *FORMATS], help="input format (default: auto)")
    p.add_argument("--run", help="name of the run these trajectories form (default: file name)")
    p.add_argument("--skip-bad", action="store_true", help="import the good records and report each bad one")
    p.add_argument("--domain", help="domain for records that do not name one")
    p.add_argument("--swebench-results", help="SWE-bench results summary (resolved ids) for mini-swe-agent")
    p.add_argument("--max-record-mb", type=float, default=DEFAULT_MAX_RECORD_BYTES / 1024 / 1024,
                   help="largest single record accepted (default: %(default).0f)")

    p = sub.add_parser("stats", parents=[common], help="counts, success rates and mean steps per run")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("export", parents=[common], help="write the whole bank to a .jsonl.gz file")
    p.add_argument("--out", required=True, help="output file (.jsonl.gz)")

    add_learning_parsers(sub, common)
    add_agent_parsers(sub, common)

    p = sub.add_parser("demo", parents=[common], help="build the synthetic demo bank from data/demo (offline)")
    p.add_argument("--force", action="store_true", help="rebuild even if the bank file exists")

    p = sub.add_parser("import-bank", parents=[common], help="restore an export into an empty bank")
    p.add_argument("file", help="a file written by `bankcore export`")

    add_retrieval_parsers(sub, common)
    _add_curation_parsers(sub, common)  # issue 5
    return parser


def add_learning_parsers(sub, common: argparse.ArgumentParser) -> None:
    """Subcommands of issue 3: judge, extract, learn, rejudge, label, verdicts."""
    choose = argparse.ArgumentParser(add_help=False)
    choose.add_argument("--model", help="LLM model (default: $BANKCORE_MODEL)")
    choose.add_argument("--limit", type=int, help="process at most this many queued trajectories")
    judge = argparse.ArgumentParser(add_help=False)
    judge.add_argument("--judge", choices=["heuristic", "llm"],
                       help="who judges (default: llm when an endpoint or key is configured, else heuristic)")
    extractor = argparse.ArgumentParser(add_help=False)
    extractor.add_argument("--extractor", choices=["heuristic", "llm"],
                           help="who extracts lessons (default: as --judge)")
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--run", help="only this run (id or name)")
    where.add_argument("--task", help="only this task id")

    p = sub.add_parser("judge", parents=[common, judge, choose, where],
                       help="label trajectories without a verdict from this judge")
    p = sub.add_parser("extract", parents=[common, extractor, choose, where],
                       help="distil lessons from labelled trajectories not yet distilled")
    p.add_argument("--judge", dest="extractor", choices=["heuristic", "llm"], help=argparse.SUPPRESS)
    p = sub.add_parser("learn", parents=[common, judge, extractor, choose],
                       help="import a file, then judge and extract from its trajectories")
    p.add_argument("path", help="file or folder to import")
    p.add_argument("--format", default="auto", choices=["auto", *FORMATS], help="input format (default: auto)")
    p.add_argument("--run", help="name of the run these trajectories form (default: file name)")
    p = sub.add_parser("rejudge", parents=[common, judge, choose],
                       help="judge again, report label flips and flag the items they affect")
    scope = p.add_mutually_exclusive_group(required=True)
    scope.add_argument("--run", help="a run (id or name)")
    scope.add_argument("--task", help="a task id")
    scope.add_argument("--all", action="store_true", help="every trajectory")
    p = sub.add_parser("label", parents=[common], help="record a person's success/failure label")
    p.add_argument("traj_id")
    p.add_argument("label", choices=["success", "failure"])
    p.add_argument("--by", required=True, help="who is labelling (stored as human:NAME)")
    p.add_argument("--reason", help="why")
    p = sub.add_parser("verdicts", parents=[common], help="a trajectory's verdict history and current label")
    p.add_argument("traj_id")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # a bare `bankcore`: the list of commands, not an argparse complaint
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except BankcoreError as exc:
        if os.environ.get("BANKCORE_DEBUG"):
            raise
        warn(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        warn("interrupted")
        return 130
    except BrokenPipeError:
        return 0

