"""Curation: consolidate (merge near-duplicates, flag contradictions), review and its actions (list, show, approve,
edit, restore, history, diff, unmerge, contradictions …), and policy.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import BankcoreError
from ..models import ITEM_SOURCES, ITEM_STATUSES
from .output import _inert, _item_line, _json_out, at_least, progress, say, warn
from .registry import command, common_options, open_bank

if TYPE_CHECKING:
    from ..bank import Bank


def _by(args: argparse.Namespace) -> str | None:
    return f"human:{args.by}" if getattr(args, "by", None) else None


def _consolidate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threshold", type=float, help="cosine similarity to group items (default: the policy's)")
    p.add_argument("--dry-run", action="store_true",
                   help="show the plan and the proposed text (with --llm: the model's, cached for the real run); "
                        "write no item")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--llm", dest="llm", action="store_true", default=None, help="merge with the LLM")
    mode.add_argument("--heuristic", dest="llm", action="store_false", help="merge offline (heuristic-merge:1)")
    p.add_argument("--model", help="LLM model for merging (default: the configured one)")
    p.add_argument("--max-group", type=at_least(2), help="largest group merged at once (default: 6)")
    p.add_argument("--by", help="your name, recorded as who requested the consolidation")
    p.add_argument("--json", action="store_true", help="machine-readable output")


@command("consolidate", help="merge near-duplicate items; flag contradictions", arguments=_consolidate_arguments)
def cmd_consolidate(args: argparse.Namespace) -> int:
    bank = open_bank(args)
    llm = args.llm if args.llm is not None else bank.settings.llm_configured
    if args.model and not llm:
        raise BankcoreError("--model applies to LLM merging (--llm); the heuristic merge uses no model")
    mode = "LLM merge (one call per group)" if llm else "heuristic merge (heuristic-merge:1, offline)"
    if args.dry_run:
        return _dry_run(bank, args, llm, mode)
    with progress(args, "consolidating", "group") as advance:
        actions, report = bank.consolidate(threshold=args.threshold, llm=llm, model=args.model,
                                           max_group=args.max_group, actor=_by(args), on_group=lambda _: advance())
    if args.json:
        _json_out({"actions": actions, "report": report})
        return _failed_groups(args, len(report.failed))
    say(args, f"{mode}: {len(report.merged)} merged, {len(report.contradictions)} contradictions flagged, "
              f"{len(report.declined)} declined, {len(report.skipped)} skipped, {len(report.failed)} failed, "
              f"{_llm_calls(report)} (batch {report.batch_id})")
    for child, parents in report.merged:
        approved = " (approved by policy)" if child in report.approved_by_policy else " (pending review)"
        say(args, f"  #{child} ← {', '.join(f'#{p}' for p in parents)}{approved}")
    for a, b, reason in report.contradictions:
        say(args, f"  contradiction #{a} ↔ #{b}: {_inert(reason)}")
    for group, reason in report.declined + report.skipped + report.failed:
        say(args, f"  left {', '.join(f'#{p}' for p in group)}: {_inert(reason)}")
    return _failed_groups(args, len(report.failed))


def _llm_calls(report) -> str:
    """Calls the model answered, and apart those the record answered (a dry run's replies reused)."""
    made = report.llm_calls - report.llm_cached
    return f"{made} LLM calls" + (f", {report.llm_cached} answered from earlier replies" if report.llm_cached else "")


def _failed_groups(args: argparse.Namespace, failed: int) -> int:
    """Exit 4 (some work failed, as `learn` does) when a group got no usable LLM reply, saying how many."""
    if not failed:
        return 0
    warn(f"{failed} group(s) failed: no usable LLM reply, left as they were; run consolidate again to retry them")
    return 4


def _dry_run(bank: Bank, args: argparse.Namespace, llm: bool, mode: str) -> int:
    """The plan, and with an LLM each group's proposed text: the model is asked (temperature 0, so the real run is
    answered from the cache), and nothing but the LLM call log is written."""
    from ..llm.client import require_llm
    if llm:
        require_llm(bank.settings, "merge with --heuristic")
    actions = bank.plan_consolidation(threshold=args.threshold, llm=llm, max_group=args.max_group)
    proposals = []
    if llm and any(a.kind == "merge" for a in actions):
        from ..curate.consolidate import propose
        from ..llm.client import LLMClient
        from ..curate.llm_merge import client_completer
        complete = client_completer(LLMClient(bank.settings, bank.store, model=args.model))
        with progress(args, "asking the model", "group") as advance:
            proposals = propose(bank.store, actions, complete, on_group=lambda _: advance())
    failed = sum(1 for p in proposals if p.error)
    if args.json:
        _json_out({"mode": "llm" if llm else "heuristic", "actions": actions, "proposals": proposals})
        return _failed_groups(args, failed)
    cached = " (the model's replies are cached for the real run)" if llm else ""
    say(args, f"dry run — {mode}; no item is written{cached}")
    _print_plan(bank, actions, {id(p.merge): p for p in proposals})
    return _failed_groups(args, failed)


def _proposal_lines(proposal) -> list[str]:
    from ..curate.llm_merge import Contradictions, Decline
    reply = proposal.reply
    if reply is None:
        return [f"  ✗ no usable reply: {_inert(proposal.error)}"]
    if isinstance(reply, Decline):
        return [f"  ✗ the model declines: {_inert(reply.reason)}"]
    if isinstance(reply, Contradictions):
        pairs = ", ".join(f"#{a} ↔ #{b}" for a, b in reply.pairs)
        return [f"  ! the model reports contradictions {pairs}: {_inert(reply.reason)}"]
    return [f"  → absorbs {', '.join(f'#{i}' for i in reply.absorbs)}: {_inert(reply.title)} — "
            f"{_inert(reply.description)}", f"    {_inert(reply.content)}"]


def _print_plan(bank: Bank, actions, proposals: dict | None = None) -> None:
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
            print(f"  → {_inert(m.proposal.title)} — {_inert(m.proposal.description)}\n"
                  f"    {_inert(m.proposal.content)}")
        elif proposals and id(m) in proposals:
            print("\n".join(_proposal_lines(proposals[id(m)])))
    for c in contradictions:
        print(f"\ncontradiction (similarity {c.similarity:.3f}): {_item_line(titles[c.a])}\n"
              f"                       vs {_item_line(titles[c.b])}\n  {_inert(c.reason)}")


def _review_arguments(review: argparse.ArgumentParser) -> None:
    common = common_options()
    rsub = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    who = argparse.ArgumentParser(add_help=False)
    who.add_argument("--by", help="your name (recorded as human:NAME; default: $BANKCORE_ACTOR or cli)")
    who.add_argument("--reason", help="why (recorded in the history)")
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--source", choices=ITEM_SOURCES, help="only items from this source")
    filters.add_argument("--domain", help="only items of this domain")
    filters.add_argument("--text", help="only items whose text contains this")

    r = rsub.add_parser("list", parents=[common, filters], help="list items")
    r.add_argument("--status", choices=ITEM_STATUSES, help="only items in this status")
    r.add_argument("--disputed", action="store_true", default=None,
                   help="only items resting on a trajectory whose current label disagrees with its ground truth")
    flag = r.add_mutually_exclusive_group()
    flag.add_argument("--flagged", dest="flagged", action="store_true", default=None)
    flag.add_argument("--unflagged", dest="flagged", action="store_false")
    r.add_argument("--limit", type=at_least(1), default=200)
    r.add_argument("--json", action="store_true")
    r = rsub.add_parser("show", parents=[common], help="one item: text, provenance, lineage, last event")
    r.add_argument("id", type=int)
    r.add_argument("--json", action="store_true")
    for action in ("approve", "reject"):
        r = rsub.add_parser(action, parents=[common, who, filters], help=f"{action} items (by id, or --all matching)")
        r.add_argument("ids", type=int, nargs="*", metavar="ID")
        r.add_argument("--all", action="store_true", help=f"{action} every pending item matching the filters")
        r.add_argument("--unflagged", action="store_true", help="with --all: only items without flags")
        r.add_argument("--expect-event", type=at_least(0), help="refuse if the item changed since this event")
    r = rsub.add_parser("edit", parents=[common, who], help="change an item's text (re-embeds)")
    r.add_argument("id", type=int)
    r.add_argument("--title")
    r.add_argument("--description")
    r.add_argument("--content")
    r.add_argument("--expect-event", type=at_least(0), help="the item's last event when you read it (review show); "
                                                     "the edit is refused if it has changed since")
    r = rsub.add_parser("add", parents=[common, who], help="write a lesson yourself (source manual, approved)")
    r.add_argument("--title", required=True)
    r.add_argument("--description", required=True)
    r.add_argument("--content", required=True)
    r.add_argument("--domain")
    r = rsub.add_parser("restore", parents=[common, who], help="bring back the text of an earlier version")
    r.add_argument("id", type=int)
    r.add_argument("--version", type=at_least(1), required=True)
    r.add_argument("--expect-event", type=at_least(0))
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
    r = rsub.add_parser("useful", parents=[common, who], help="lessons that help and lessons that hurt, by the "
                        "success of tasks given them vs comparable tasks")
    r.add_argument("-n", type=at_least(1), default=10, help="how many of each (default 10)")
    r.add_argument("--flag-hurting", action="store_true",
                   help="send every hurting lesson not flagged for it before to the review queue (a FLAG event)")
    r.add_argument("--json", action="store_true")
    r = rsub.add_parser("resolve", parents=[common, who], help="decide a contradiction pair")
    r.add_argument("a", type=int)
    r.add_argument("b", type=int)
    r.add_argument("--keep", required=True, help="both, or the id of the item to keep (the other is rejected)")


@command("review", help="list, inspect and curate memory items", arguments=_review_arguments,
         reads_only=lambda args: args.review_command in REVIEW_READS
         and not getattr(args, "flag_hurting", False))
def cmd_review(args: argparse.Namespace) -> int:
    return REVIEW[args.review_command](open_bank(args), args)


def _review_list(bank: Bank, args) -> int:
    filters = dict(status=args.status, source=args.source, domain=args.domain, flagged=args.flagged, text=args.text,
                   disputed=args.disputed)
    items = bank.store.query_items(**filters, limit=args.limit)
    if args.json:
        _json_out(items)
        return 0
    for item in items:
        print(_item_line(item))
    total = bank.store.count_items(**filters) if args.limit and len(items) == args.limit else len(items)
    say(args, f"{len(items)} items" if total == len(items) else
        f"the first {len(items)} of {total} items (oldest first); --limit N shows more, filters narrow them")
    return 0


def _review_show(bank: Bank, args) -> int:
    item = bank.item(args.id)
    sources = bank.store.item_sources(item.item_id)
    lineage = bank.lineage(item.item_id)
    evidence = bank.views.evidence((item.item_id,))[item.item_id]
    if args.json:
        item.embedding = None
        _json_out({"item": item, "sources": sources, "lineage": lineage, "events": bank.history(item.item_id),
                   "evidence": evidence})
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
    print(f"  {evidence.summary()}")
    if lineage.ancestors or lineage.descendants:
        print("  lineage: ancestors " + (", ".join(f"#{n.item_id}[{n.status}]" for n in lineage.ancestors) or "-")
              + "; descendants " + (", ".join(f"#{n.item_id}[{n.status}]" for n in lineage.descendants) or "-"))
    print(f"  last event: {item.last_event_id} — to edit: bankcore review edit {item.item_id} "
          f"--expect-event {item.last_event_id} --content ...")
    return 0


def _review_decide(action: str):
    done_verb = {"approve": "approved", "reject": "rejected"}[action]

    def run(bank: Bank, args) -> int:
        if args.ids and (args.all or _filters(args)):
            raise BankcoreError("name item ids or use --all with filters, not both")
        if args.ids:
            if args.expect_event is not None and len(args.ids) != 1:
                raise BankcoreError("--expect-event applies to a single item")
            for item_id in args.ids:
                item = getattr(bank, action)(item_id, actor=_by(args), reason=args.reason,
                                             expected_event_id=args.expect_event)
                say(args, f"{done_verb} #{item.item_id} (event {item.last_event_id})")
            return 0
        if not args.all:
            raise BankcoreError(f"name the items to {action}, or pass --all (with --source/--domain/--text/"
                                f"--unflagged filters) to {action} every pending match (flagged items are never "
                                f"bulk-approved)")
        result = bank.bulk_review(action, actor=_by(args), reason=args.reason, **_filters(args))
        done = result.decided
        say(args, f"{done_verb} {len(done)} items" + (f": {', '.join(f'#{i}' for i in done)}" if done else ""))
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
    _say_held(args, item)
    return 0


def _say_held(args, item) -> None:
    """Tell the author when the injection gate held their text back, and why (it waits for an explicit approve)."""
    from ..guard import gate  # its rules take a while to load: only for the commands that write a lesson
    held = [f for f in item.flags if f in gate.HOLDING_FLAGS]
    if held:
        reasons = "; ".join(item.meta.get(gate.REASONS) or [])
        say(args, f"  held back ({', '.join(held)}, {item.status}): {_inert(reasons)} — "
                  f"`bankcore review approve {item.item_id}` if it is meant")


def _review_add(bank: Bank, args) -> int:
    item = bank.write_lesson(title=args.title, description=args.description, content=args.content,
                             domain=args.domain, actor=_by(args), reason=args.reason)
    say(args, f"wrote #{item.item_id} ({item.source}, {item.status}) as {item.extractor_id}")
    _say_held(args, item)
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
    from ..curate.lineage import render
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
    evidence = bank.views.evidence(tuple(sorted({i.item_id for p in pairs for i in (p.a, p.b)})))
    for p in pairs:
        state = "open" if p.open else f"resolved ({p.resolution or 'by other changes'})"
        print(f"#{p.a.item_id} ↔ #{p.b.item_id} [{state}] found by {p.detector}: {_inert(p.reason)}")
        for item in (p.a, p.b):
            print(f"  {_item_line(item)}\n    {evidence[item.item_id].summary()}")
    say(args, f"{len(pairs)} contradiction pairs" + ("" if args.all else " open") +
        (" — resolve with: bankcore review resolve A B --keep A|B|both" if pairs else ""))
    return 0


def _review_resolve(bank: Bank, args) -> int:
    bank.resolve_contradiction(args.a, args.b, args.keep, actor=_by(args), reason=args.reason)
    say(args, f"resolved #{args.a} ↔ #{args.b}: kept {args.keep}")
    return 0


def _review_useful(bank: Bank, args) -> int:
    flagged = bank.flag_hurting(actor=_by(args), reason=args.reason) if args.flag_hurting else []
    useful = bank.views.lesson_usefulness(args.n)
    if args.json:
        _json_out({**useful, "flagged_now": flagged})
        return 0
    say(args, f"{useful['measured']} active lessons were given to labelled tasks")
    for heading, rows in (("helps most", useful["helps"]), ("hurts", useful["hurts"])):
        print(f"{heading}:" if rows else f"{heading}: none")
        for r in rows:
            print(f"  #{r['item_id']} lift {_lift(r)}  given {r['used']}× ({r['helpful']} helpful, {r['harmful']} "
                  f"harmful): {_rate(r['success_with'])} succeeded vs {_rate(r['success_without'])} of "
                  f"{r['compared']} without  {_inert(r['title'])}" + ("  [flagged]" if r["flagged"] else ""))
    if args.flag_hurting:
        say(args, f"flagged {len(flagged)} for review" + (f": {', '.join(f'#{i}' for i in flagged)}" if flagged
                                                          else " (none new)"))
    elif useful["to_flag"]:
        say(args, f"{useful['to_flag']} hurting lesson(s) not yet reviewed for it: --flag-hurting sends them to "
                  "the review queue")
    return 0


def _lift(row: dict) -> str:
    """A lesson's lift with its 95% interval, e.g. `-0.46 [-0.75, -0.11]`."""
    if row["lift"] is None:
        return "-"
    return f"{row['lift']:+.2f} [{row['lift_low']:+.2f}, {row['lift_high']:+.2f}]"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


REVIEW = {"list": _review_list, "show": _review_show, "approve": _review_decide("approve"),
          "reject": _review_decide("reject"), "edit": _review_edit, "add": _review_add, "restore": _review_restore,
          "history": _review_history, "diff": _review_diff, "unmerge": _review_unmerge,
          "contradictions": _review_contradictions, "resolve": _review_resolve, "useful": _review_useful}
REVIEW_READS = {"list", "show", "history", "diff", "contradictions", "useful"}  # opened read-only (useful: unless
# --flag-hurting)


def _policy_arguments(policy: argparse.ArgumentParser) -> None:
    common = common_options()
    psub = policy.add_subparsers(dest="policy_command", metavar="ACTION")
    r = psub.add_parser("show", parents=[common], help="the policy and what each setting means")
    r.add_argument("--json", action="store_true")
    r = psub.add_parser("set", parents=[common], help="change one setting")
    r.add_argument("key")
    r.add_argument("value")
    psub.add_parser("apply", parents=[common], help="auto-approve pending items the policy allows")
    r = psub.add_parser("enforce", parents=[common], help="archive items beyond the cap / past the age limit")
    r.add_argument("--dry-run", action="store_true")


@command("policy", help="show or change the approval and growth policy", arguments=_policy_arguments,
         reads_only=lambda args: (args.policy_command or "show") == "show"
         or (args.policy_command == "enforce" and args.dry_run))
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
    from ..curate.policy import SETTING_KEY, describe
    rows = describe(bank.policy())
    if getattr(args, "json", False):
        _json_out({key: value for key, value, _ in rows})
        return 0
    stored = bank.store.get_setting(SETTING_KEY) is not None
    print(f"curation policy of {bank.store.location} (bank setting '{SETTING_KEY}'"
          + ("" if stored else "; the defaults, not stored yet — `policy set` stores them") + "):")
    for key, value, meaning in rows:
        print(f"  {key:<28} {value!s:<10} {meaning}")
    print("  flagged items (e.g. suspected_injection, open contradictions) are never auto-approved")
    return 0
