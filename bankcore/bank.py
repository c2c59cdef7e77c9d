"""`Bank`: the public API. Wires the store to importers, judges, extractors, embeddings and retrieval."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

# What opening a bank needs is imported here; retrieval, re-embedding and the stages above search/ (the LLM client,
# curate/, learn/, read/) are imported by the methods that use them, so `bankcore stats` does not load the judge,
# the gate, the agent or the retriever.
from .errors import BankcoreError, NotFoundError
from .models import Hit, ImportReport, Recorded, Trajectory, Truth, Usefulness, Verdict
from .search.embed import Embedder, TextEmbedder
from .settings import Settings
from .store import Clock, open_store, utc_now

if TYPE_CHECKING:
    from .search.reembed import ReembedReport
    from .search.retrieve import Explanation, Retriever
    from .store.protocols import BankStore
    from .curate import asof, exchange, review
    from .learn import labels as truth_labels, queues
    from .learn.importers import ImportOptions
    from .llm.client import LLMClient


def _keeps_similarity_vectors(write):
    """For a write that adds items or changes their text: afterwards, the items it wrote get their similarity
    vectors (what consolidation compares; the retrieval vector is the item's own, written with it)."""
    @functools.wraps(write)
    def wrapper(self: "Bank", *args, **kwargs):
        from .search.reembed import keep_similarity_vectors
        since = self.store.last_event_id()
        result = write(self, *args, **kwargs)
        keep_similarity_vectors(self.store, self.embedder, changed_since=since)
        return result
    return wrapper


class Bank:
    """One bank and the parts that work on it: its store, embedder and (optionally) LLM client, and the settings.

    `Bank(path)` opens the bank file at `path` (None: the settings' `db_path`) and builds its parts; each part can be
    handed in instead, so a test or a bench passes a stand-in (a subclass of `Embedder`, an `LLMClient` at its own
    endpoint) rather than reaching into the bank: `Bank(store, embedder=..., llm=...)`. `clock`, `on_busy` and
    `read_only` configure a store the bank opens itself; a `Store` handed in comes configured."""

    def __init__(self, store_or_path: BankStore | str | Path | None = None, *, embedder: TextEmbedder | None = None,
                 llm: LLMClient | None = None, settings: Settings | None = None, clock: Clock = utc_now,
                 on_busy: Callable[[str], None] | None = None, read_only: bool = False):
        self.settings = settings or Settings.load()
        self.store: BankStore
        if store_or_path is None or isinstance(store_or_path, (str, Path)):
            if store_or_path is not None:
                self.settings = replace(self.settings, db_path=Path(store_or_path))
            self.store = open_store(self.settings.db_path, clock=clock, lock_timeout_s=self.settings.lock_timeout_s,
                                    on_busy=on_busy, read_only=read_only)
        else:  # a store handed in: `Store`, or another backend with the same Protocol
            if clock is not utc_now or on_busy is not None or read_only:
                raise TypeError("clock, on_busy and read_only configure a store the bank opens: set them on the "
                                "Store you pass instead")
            self.store = store_or_path
            self.settings = replace(self.settings, db_path=store_or_path.path)
        self.embedder: TextEmbedder = embedder if embedder is not None else Embedder()  # loads on first use
        self.llm = llm  # None: clients are built from the settings when an LLM step needs one
        self._retriever: Retriever | None = None
        self._vector_cache: asof.AsOfVectors | None = None
        self._opinion_client: tuple[Settings, Any] | None = None
        self.store.second_opinion = self._second_opinion_client  # the gate's second opinion (gate.check_stored)

    @property
    def path(self) -> Path:
        return self.store.path

    def init(self) -> int:
        """Create (or upgrade) the bank file. Returns the schema version."""
        return self.store.schema_version()

    # ------------------------------------------------------------------ importing trajectories
    def import_path(self, path: str | Path, *, fmt: str = "auto", run_name: str | None = None,
                    skip_bad: bool = False, options: ImportOptions | None = None,
                    on_record: Callable[[int], None] | None = None,
                    on_bad: Callable[[str], None] | None = None) -> ImportReport:
        from .learn import ingest
        return ingest.import_path(self.store, Path(path), fmt=fmt, run_name=run_name, skip_bad=skip_bad,
                                  options=options, on_record=on_record, on_bad=on_bad)

    def trajectory(self, traj_id: str) -> Trajectory:
        return self.store.get_trajectory(traj_id)

    def truth(self, traj_id: str) -> Truth | None:
        return self.store.get_truth(traj_id)

    # ------------------------------------------------------------------ judging and extraction
    def judge(self, traj_ids: list[str] | None = None, *, judge: str | None = None, model: str | None = None,
              limit: int | None = None, on_progress: Callable[[int], None] | None = None,
              strict: bool = False) -> queues.JudgeReport:
        """Judge the queue: trajectories (of `traj_ids`, or all) without a verdict from this judge.

        `judge` is "heuristic" or "llm" (by default the LLM when one is configured, else the heuristic), or a ready
        judge object. `strict`: the LLM judge's strict mode (when in doubt, failure)."""
        from .learn import queues
        judge_ = queues.make_judge(judge, self.settings, self.store, model, strict=strict,
                                   client=self._injected_llm(model))
        return queues.judge_queue(self.store, judge_, traj_ids, limit=limit, on_progress=on_progress)

    @_keeps_similarity_vectors
    def extract(self, traj_ids: list[str] | None = None, *, extractor: str | None = None, model: str | None = None,
                limit: int | None = None, on_progress: Callable[[int], None] | None = None,
                include_uncertain: bool = False) -> queues.ExtractReport:
        """Distil lessons from labelled trajectories this extractor has not yet distilled. Items land pending; the
        curation policy then approves those it allows (see `policy.py`). `extractor`: "heuristic", "llm" or a ready
        extractor object."""
        from .curate import policy as policy_rules
        from .learn import queues
        extractor_ = queues.make_extractor(extractor, self.settings, self.store, model,
                                           client=self._injected_llm(model))
        report = queues.extract_queue(self.store, extractor_, traj_ids, limit=limit, on_progress=on_progress,
                                      include_uncertain=include_uncertain, embedder=self.embedder)
        # the bank's curation policy admits what it allows (by default clean LLM items, never flagged ones)
        report.approved_by_policy, report.policy_actor = self.apply_policy(), policy_rules.actor(self.policy())
        return report

    def learn_trajectories(self, traj_ids: list[str], *, judge: str | None = None, extractor: str | None = None,
                           model: str | None = None, on_progress: Callable[[int], None] | None = None,
                           strict: bool = False, include_uncertain: bool = False,
                           limit: int | None = None) -> queues.LearnReport:
        """Judge, then extract from, these trajectories (what `record` calls after each agent task); `limit`: at
        most this many from each queue."""
        from .learn import queues
        judged = self.judge(traj_ids, judge=judge, model=model, on_progress=on_progress, strict=strict, limit=limit)
        extracted = self.extract(traj_ids, extractor=extractor or judge, model=model, on_progress=on_progress,
                                 include_uncertain=include_uncertain, limit=limit)
        return queues.LearnReport(judged=judged, extracted=extracted)

    def learn(self, path: str | Path, *, fmt: str = "auto", run_name: str | None = None, judge: str | None = None,
              extractor: str | None = None, model: str | None = None, options: ImportOptions | None = None,
              labels: str = "judge", on_progress: Callable[[int], None] | None = None, strict: bool = False,
              include_uncertain: bool = False, limit: int | None = None) -> queues.LearnReport:
        """Import a file or folder, then judge and extract from its trajectories (also those imported earlier), at
        most `limit` from each queue. `labels="truth"`: each trajectory's ground truth is its label instead of a
        judge's (see `labels.py`)."""
        from .learn import queues
        imported = self.import_path(path, fmt=fmt, run_name=run_name, options=options)
        traj_ids = self.imported_trajectories(imported)
        if labels == "truth":
            labelled = self.label_from_truth(traj_ids)
            extracted = self.extract(traj_ids, extractor=extractor or judge, model=model, on_progress=on_progress,
                                     limit=limit)
            return queues.LearnReport(judged=None, extracted=extracted, imported=imported, truth_labels=labelled)
        report = self.learn_trajectories(traj_ids, judge=judge, extractor=extractor, model=model,
                                         on_progress=on_progress, strict=strict,
                                         include_uncertain=include_uncertain, limit=limit)
        report.imported = imported
        return report

    def imported_trajectories(self, imported: ImportReport) -> list[str]:
        """The trajectories of the files an import read (those added now and those it found in the bank)."""
        return [traj_id for source in imported.sources() for traj_id in self.store.traj_ids_from_source(source)]

    def label_from_truth(self, traj_ids: list[str] | None = None) -> truth_labels.TruthLabelReport:
        """Each trajectory's ground truth becomes its label (`truth:<source>`); those without truth stay
        unlabelled. A person's label still outranks it."""
        from .learn import labels as truth_labels
        return truth_labels.truth_labels(self.store, traj_ids)

    def attach_truth(self, path: str | Path, *, runs: list[str | int] | None = None,
                     replace: bool = False) -> truth_labels.TruthReport:
        """Give the trajectories of a run (by default the one run whose task ids the file names) the ground truth
        of a SWE-bench results file; a different truth already stored is kept unless `replace`."""
        from .learn import labels as truth_labels
        run_ids = [self.resolve_run(run) for run in runs] if runs else None
        return truth_labels.attach_results(self.store, path, run_ids, replace=replace)

    def rejudge(self, run: str | int | None = None, task: str | None = None, all: bool = False, *,
                judge: str | None = None, model: str | None = None,
                on_progress: Callable[[int], None] | None = None, strict: bool = False,
                limit: int | None = None) -> queues.JudgeReport:
        """Judge a run, a task or the whole bank again (the first `limit` of them); flipped labels flag the items
        drawn from them."""
        if [run is not None, task is not None, bool(all)].count(True) != 1:
            raise BankcoreError("rejudge needs exactly one of a run, a task, or all")
        traj_ids = self.select_trajectories(run, task) if not all else self.store.select_traj_ids()
        traj_ids = traj_ids[:limit] if limit else traj_ids
        return self.rejudge_selected(traj_ids, judge=judge, model=model, on_progress=on_progress, strict=strict)

    def rejudge_selected(self, traj_ids: list[str], *, judge: str | None = None, model: str | None = None,
                         on_progress: Callable[[int], None] | None = None, strict: bool = False
                         ) -> queues.JudgeReport:
        """Judge these trajectories again (the dashboard's selection), like `rejudge` for a run or task."""
        from .learn import queues
        if not traj_ids:
            raise BankcoreError("nothing selected to judge again")
        judge_ = queues.make_judge(judge, self.settings, self.store, model, strict=strict,
                                   client=self._injected_llm(model))
        return queues.rejudge(self.store, judge_, list(traj_ids), on_progress=on_progress)

    # ------------------------------------------------------------------ labels, and finding trajectories and runs
    def select_trajectories(self, run: str | int | None = None, task: str | None = None) -> list[str] | None:
        """The trajectory ids of a run and/or a task; None when neither is named (everything). A run or task with
        no trajectories is an error, so a typo does not pass for "nothing to do"."""
        if run is None and task is None:
            return None
        run_id = self.resolve_run(run) if run is not None else None
        traj_ids = self.store.select_traj_ids(run_id=run_id, task_id=task)
        if not traj_ids:
            named = " and ".join(part for part in (f"run {run}" if run is not None else "",
                                                   f"task {task}" if task is not None else "") if part)
            raise BankcoreError(f"no trajectories for {named}")
        return traj_ids

    def label(self, traj_id: str, label: str, *, by: str, rationale: str = "") -> tuple[Verdict, list[queues.Flip]]:
        """A person's label (`human:<by>`), which outranks every judge."""
        from .learn import queues
        return queues.human_label(self.store, traj_id, label, by=by, rationale=rationale)

    def verdicts(self, traj_id: str) -> list[Verdict]:
        """Every verdict on a trajectory, oldest first."""
        self.store.get_trajectory(traj_id)
        return self.store.verdict_history(traj_id)

    def current_label(self, traj_id: str) -> Verdict | None:
        """The verdict that gives a trajectory its label now (a human's beats a judge's; newest wins)."""
        return self.store.current_verdicts([traj_id]).get(traj_id)

    def resolve_trajectory(self, ref: str) -> str:
        """A full trajectory id from the id or a unique prefix of 6+ characters (listings show the first 10)."""
        return self.store.resolve_traj_id(ref)

    def resolve_run(self, run: str | int) -> int:
        """A run id from an id or a name."""
        if isinstance(run, int) or str(run).isdigit():
            return self.store.get_run(int(run)).run_id
        found = self.store.find_run(str(run))
        if found is None:
            raise NotFoundError(f"no run named {run!r}")
        return found.run_id

    # ------------------------------------------------------------------ comparing runs
    def compare_runs(self, run_a: str | int, run_b: str | int, *, outcome: str = "truth") -> tuple:
        """Run B against run A paired by task (a `compare.Comparison`), and both runs' leakage audits (a list of
        two `leakage.RunAudit`): what the CLI's `compare` and the Metrics screen show."""
        from .read import compare, leakage
        a, b = self.resolve_run(run_a), self.resolve_run(run_b)
        return (compare.compare_runs(self.store, a, b, outcome=outcome),
                [leakage.audit_run(self.store, a), leakage.audit_run(self.store, b)])

    # ------------------------------------------------------------------ retrieval
    def keep_open(self, idle_s: float = 2.0) -> None:
        """For a process that retrieves and records in bursts (a server, an agent loop): keep the bank file open
        between calls that come less than `idle_s` apart, and let other processes in the moment they wait for it
        (a DuckDB bank; a PostgreSQL pool keeps its connections anyway). 0 turns it off."""
        self.store.keep_open(idle_s)

    @property
    def retriever(self) -> Retriever:
        """The search structure for this bank: built on first use, refreshed on every query."""
        if self._retriever is None:  # sentence-transformers loads on first embed, not here
            from .search.retrieve import Retriever
            self._retriever = Retriever(self.store, self.embedder, min_similarity=self.settings.min_similarity,
                                        vector_search=self.settings.vector_search)
        return self._retriever

    def retrieve(self, query: str, k: int = 1, *, task_id: str | None = None, domain: str | None = None,
                 source: str | tuple[str, ...] | None = None, include_pending: bool = False,
                 ranking: str = "cosine", min_similarity: float | None = None, log: bool = True,
                 for_trajectory: str | None = None) -> list[Hit]:
        """The k items most relevant to `query` (approved only unless `include_pending`), never one learned from
        `task_id`. Retrievals made for a task (`task_id`, or `for_trajectory` when the trajectory exists) are logged
        unless `log=False`; `Bank.record` later attaches them to the trajectory that followed."""
        run_id = None
        if for_trajectory is not None:
            traj = self.store.get_trajectory(for_trajectory)
            task_id, run_id = task_id or traj.task_id, traj.run_id
        from .search.retrieve import Query
        q = Query(query, k, task_id, domain, source, include_pending, ranking, min_similarity)
        return self.retriever.retrieve(q, log=log, traj_id=for_trajectory, run_id=run_id)

    def explain(self, query: str, item_id: int, k: int = 1, *, task_id: str | None = None,
                domain: str | None = None, source: str | tuple[str, ...] | None = None,
                include_pending: bool = False, ranking: str = "cosine",
                min_similarity: float | None = None) -> Explanation:
        """Where `item_id` ranks for `query` and why it was or was not retrieved — the same scoring as retrieve."""
        from .search.retrieve import Query
        q = Query(query, k, task_id, domain, source, include_pending, ranking, min_similarity)
        return self.retriever.explain(q, item_id)

    def memory_prompt(self, query: str, k: int = 1, **options: Any) -> str:
        """The system-prompt block of the paper for `query` ("" when nothing clears the minimum similarity)."""
        from .search.memory_block import memory_block
        return memory_block([hit.item for hit in self.retrieve(query, k, **options)])

    def why_nothing_retrieved(self, *, include_pending: bool = False, min_similarity: float | None = None,
                              domain: str | None = None, source: str | tuple[str, ...] | None = None) -> str:
        """One sentence for an empty retrieval: no approved lesson yet is a different problem (curation) from a
        filter nothing matches, and from lessons that exist but are not close enough to the task (the minimum
        similarity the query used). Pass the query's own options."""
        approved = self.store.count_items(status=["approved"])
        pending = self.store.count_items(status=["pending"])
        if not approved and not (include_pending and pending):
            if pending:
                return (f"no approved lessons yet ({pending} pending review): approve some (`bankcore review list`) "
                        "or include pending ones")
            return "the bank holds no lessons yet: `bankcore learn` some trajectories first"
        from .search.vectors import source_tuple
        sources = source_tuple(source)
        statuses = ["approved", "pending"] if include_pending else ["approved"]
        if (domain or sources) and not self.store.count_items(status=statuses, domain=domain, source=sources):
            wanted = " and ".join(part for part in (domain and f"domain {domain!r}",
                                                    sources and f"source {'/'.join(sources)}") if part)
            return f"no {' or '.join(statuses)} lesson has {wanted}: widen or drop the filter"
        threshold = self.settings.min_similarity if min_similarity is None else min_similarity
        return (f"no lesson clears the minimum similarity ({threshold:.2f}) for this task: "
                "the agent would get no memory")

    def retrieval_warnings(self) -> list[str]:
        """Why some approved/pending items cannot be retrieved now (embedded by another model, no vector)."""
        self.retriever.refresh()
        return self.retriever.warnings()

    # ------------------------------------------------------------------ usefulness of what was retrieved
    def usefulness(self, item_id: int) -> Usefulness:
        """Success rate of trajectories that retrieved the item vs comparable ones that did not, with counts."""
        self.store.get_item(item_id)  # NotFoundError for an unknown id
        found = self.store.usefulness_counts([item_id])
        return found[0] if found else Usefulness(item_id, 0, 0, 0, 0)

    def usefulness_all(self) -> dict[int, Usefulness]:
        """Usefulness of every item that was ever retrieved for a recorded trajectory, in one query."""
        return {u.item_id: u for u in self.store.usefulness_counts()}

    def flag_hurting(self, *, actor: str | None = None, reason: str | None = None) -> list[int]:
        """Send every active lesson whose measured usefulness says it hurts to the review queue (a FLAG event)."""
        from .curate import review
        return review.flag_hurting(self.store, self.store.usefulness_counts(), actor=self._actor(actor),
                                   reason=reason)

    # ------------------------------------------------------------------ vectors
    def reembed(self, *, missing_only: bool = False, on_progress: Callable[[int], None] | None = None
                ) -> ReembedReport:
        """Give every item its two vectors from the current embedding model: for retrieval (one REEMBED event
        each) and for consolidation (see `reembed.py`)."""
        from .search.reembed import reembed
        return reembed(self.store, self.retriever.embedder, actor=self.settings.actor, missing_only=missing_only,
                       on_progress=on_progress)

    # ------------------------------------------------------------------ recording a live agent's attempts
    def add_trajectory(self, trajectory: Trajectory, truth: Truth | None = None, *, run: str = "live",
                       agent_model: str | None = None) -> tuple[str, bool]:
        """Store one finished trajectory in the live run `run`; returns (id, whether it was new)."""
        from .learn import ingest
        return ingest.add_trajectory(self.store, trajectory, truth, run_name=run, agent_model=agent_model,
                                     memory_mode="reasoningbank")

    def record(self, trajectory: Trajectory, truth: Truth | None = None, *, run: str = "live",
               agent_model: str | None = None, judge: str | None = None, model: str | None = None,
               learn: bool = True) -> Recorded:
        """Store a finished trajectory from a live run, attach the retrievals made for its task, then judge it
        and extract its lessons (pending until approved; `judge` as in `learn_trajectories`: the LLM when one is
        configured, else the heuristic). Recording the same attempt twice stores it once."""
        traj_id, added = self.add_trajectory(trajectory, truth, run=run, agent_model=agent_model)
        linked = self.store.link_retrievals(traj_id, trajectory.task_id, trajectory.query)
        if learn:
            self.learn_trajectories([traj_id], judge=judge, model=model)
        item_ids = self.store.items_from_trajectories([traj_id]).get(traj_id, [])
        return Recorded(traj_id=traj_id, added=added, linked_retrievals=linked,
                        items=self.store.query_items(item_ids=item_ids) if item_ids else [])

    # ------------------------------------------------------------------ MaTTS over stored attempts
    # (an agent run is `agent.runner.Runner(bank, settings).run(tasks)`: the runner drives the bank, not the reverse)
    @_keeps_similarity_vectors
    def matts_replay(self, run: str | int | None = None, *, k: int | None = None, selector: str | None = None,
                     extractor: str | None = None, judge: str | None = None, model: str | None = None,
                     on_progress: Callable[[int], None] | None = None):
        """Best-of-N and self-contrast extraction over tasks that already have several trajectories (no agent);
        the curation policy then approves what it may."""
        from .matts import parallel
        run_id = self.resolve_run(run) if run is not None else None
        report = parallel.replay(self.store, self.settings, run_id=run_id, k=k, selector=selector,
                                 extractor=extractor, judge=judge, model=model, embedder=self.embedder,
                                 client=self._injected_llm(model), on_progress=on_progress)
        if report.contrasted.item_ids:
            report.approved = list(self.apply_policy(item_ids=report.contrasted.item_ids))
        return report

    # ------------------------------------------------------------------ whole bank
    def stats(self) -> dict[str, Any]:
        from .read import metrics
        return metrics.bank_stats(self.store)

    def check(self):
        """Audit the bank's promises (history ↔ items, merges, provenance); see `audit.py`. Read-only."""
        from .curate.check import audit
        return audit(self.store)

    def export(self, out: str | Path, on_line: Callable[[], None] | None = None, *,
               key: exchange.ExportKey | exchange.KeyRing | None = None) -> int:
        from .curate import exchange
        return exchange.export_bank(self.store, Path(out), on_line, key=key)

    @_keeps_similarity_vectors
    def import_bank(self, path: str | Path, on_line: Callable[[], None] | None = None, *,
                    strict: bool = False, key: exchange.ExportKey | exchange.KeyRing | None = None) -> dict[str, int]:
        from .curate import exchange
        return exchange.import_bank(self.store, Path(path), on_line, strict=strict, key=key)

    # ------------------------------------------------------------------ consolidation
    # This section and the curation ones below are thin wiring over curate/: consolidate, review, lineage, policy,
    # growth and asof. `actor` defaults to human:<settings.actor>; machine actors (heuristic-merge:1,
    # policy:<name>) are set by those modules.
    def _actor(self, actor: str | None) -> str:
        return actor or f"human:{self.settings.actor}"

    def _injected_llm(self, model: str | None) -> LLMClient | None:
        """The LLM client handed to the bank, for a step that names no other model; None: build one from the
        settings (a step that names another model gets its own)."""
        if self.llm is not None and model in (None, self.llm.model):
            return self.llm
        return None

    def plan_consolidation(self, *, threshold: float | None = None, llm: bool = False,
                           max_group: int | None = None) -> list:
        """What `consolidate` would do, without writing anything (merges and contradiction pairs)."""
        from .curate import consolidate, review
        items = self.store.items_to_compare(consolidate.ACTIVE)  # only the columns planning reads
        # whole-lesson vectors, not the retrieval ones: the merge threshold was set on them (see `embed.py`)
        from .search.reembed import similarity_vectors
        vectors = similarity_vectors(self.store, self.embedder, items)
        return consolidate.plan(
            items, vectors, threshold=threshold or self.policy().merge_threshold,
            max_group=max_group or consolidate.DEFAULT_MAX_GROUP,
            known_pairs=review.known_contradiction_pairs(self.store), heuristic_text=not llm)

    @_keeps_similarity_vectors
    def consolidate(self, *, threshold: float | None = None, llm: bool = False, model: str | None = None,
                    max_group: int | None = None, complete=None, actor: str | None = None, on_group=None,
                    actions: list | None = None):
        """Plan and apply a consolidation, or apply `actions` planned earlier (a reviewed dry run: a group whose
        items changed since is skipped by the optimistic check). With `llm`, one call per group through
        `complete(messages) -> str` (default: the configured LLM client). Returns (actions, report)."""
        from .curate import consolidate
        if actions is None:
            # store what planning would otherwise embed in memory on every run (items written around `Bank`)
            from .search.reembed import keep_similarity_vectors
            keep_similarity_vectors(self.store, self.embedder, statuses=consolidate.ACTIVE)
            actions = self.plan_consolidation(threshold=threshold, llm=llm, max_group=max_group)
        if llm and complete is None:
            complete, model = self._merge_completer(model)
        method = f"llm-merge:{model or 'injected'}" if llm else consolidate.HEURISTIC_MERGE_ID
        report = consolidate.apply(self.store, actions, embedder=self.embedder, method=method,
                                   complete=complete if llm else None, requested_by=self._actor(actor),
                                   policy=self.policy(), on_group=on_group)
        return actions, report

    def _second_opinion_client(self):
        """The LLM client the injection gate asks for a second opinion: the one handed to the bank, else one for the
        settings as they are at write time (the demo build clears its endpoint after opening the bank), else None
        offline."""
        from .llm.client import LLMClient
        if self.llm is not None:
            return self.llm
        if not self.settings.llm_configured:
            return None
        if self._opinion_client is None or self._opinion_client[0] != self.settings:
            self._opinion_client = (self.settings, LLMClient(self.settings, self.store))
        return self._opinion_client[1]

    def _merge_completer(self, model: str | None):
        from .curate import llm_merge
        from .llm.client import LLMClient
        injected = self._injected_llm(model)
        if injected is not None:
            return llm_merge.client_completer(injected), injected.model
        if not self.settings.llm_configured:
            raise BankcoreError("no LLM configured for merging: set OPENAI_API_KEY or BANKCORE_LLM_BASE_URL / "
                                "OPENAI_BASE_URL, or merge offline with --heuristic")
        client = LLMClient(self.settings, self.store, model=model)
        return llm_merge.client_completer(client), client.model

    # ------------------------------------------------------------------ review and editing
    def approve(self, item_id: int, *, actor: str | None = None, reason: str | None = None,
                expected_event_id: int | None = None):
        from .curate import review
        return review.decide(self.store, item_id, "approve", actor=self._actor(actor), reason=reason,
                             expected_event_id=expected_event_id)

    def reject(self, item_id: int, *, actor: str | None = None, reason: str | None = None,
               expected_event_id: int | None = None):
        from .curate import review
        return review.decide(self.store, item_id, "reject", actor=self._actor(actor), reason=reason,
                             expected_event_id=expected_event_id)

    def bulk_review(self, action: str, *, actor: str | None = None, reason: str | None = None,
                    **filters) -> review.BulkResult:
        """Approve or reject every item matching the filters (status defaults to pending), in one transaction.
        A bulk approval leaves flagged items out (listed in `skipped_flagged`)."""
        from .curate import review
        return review.bulk_decide(self.store, action, actor=self._actor(actor), reason=reason, **filters)

    @_keeps_similarity_vectors
    def write_lesson(self, *, title: str, description: str, content: str, domain: str | None = None,
                     actor: str | None = None, reason: str | None = None):
        """A lesson written by a person (source `manual`, approved as written)."""
        from .curate import review
        return review.write_lesson(self.store, actor=self._actor(actor), embedder=self.embedder, title=title,
                                   description=description, content=content, domain=domain, reason=reason)

    @_keeps_similarity_vectors
    def edit(self, item_id: int, *, actor: str | None = None, reason: str | None = None,
             expected_event_id: int | None = None, title: str | None = None, description: str | None = None,
             content: str | None = None):
        from .curate import review
        return review.edit(self.store, item_id, actor=self._actor(actor), reason=reason, embedder=self.embedder,
                           expected_event_id=expected_event_id, title=title, description=description,
                           content=content)

    @_keeps_similarity_vectors
    def restore(self, item_id: int, version: int, *, actor: str | None = None, reason: str | None = None,
                expected_event_id: int | None = None):
        from .curate import review
        return review.restore(self.store, item_id, version, actor=self._actor(actor), reason=reason,
                              embedder=self.embedder, expected_event_id=expected_event_id)

    def unmerge(self, item_id: int, *, actor: str | None = None, reason: str | None = None,
                expected_event_id: int | None = None) -> list[int]:
        from .curate import review
        return review.unmerge(self.store, item_id, actor=self._actor(actor), reason=reason,
                              expected_event_id=expected_event_id)

    @_keeps_similarity_vectors
    def undo(self, event_ids: list[int], *, actor: str | None = None, reason: str | None = None):
        """Put back what these events changed (RESTORE events); refused if an item changed since (`review.undo`)."""
        from .curate import review
        return review.undo(self.store, event_ids, actor=self._actor(actor), embedder=self.embedder, reason=reason)

    # ------------------------------------------------------------------ an item's history and lineage
    def item(self, item_id: int):
        return self.store.get_item(item_id)

    def history(self, item_id: int):
        self.store.get_item(item_id)
        return self.store.item_events(item_id)

    def versions(self, item_id: int):
        from .curate import lineage
        return lineage.versions(self.history(item_id))

    def diff(self, item_id: int, old: int, new: int, *, by: str = "word"):
        """Per text field, the diff between two versions of an item."""
        from .curate import lineage
        found = {v.version: v for v in self.versions(item_id)}
        for number in (old, new):
            if number not in found:
                raise NotFoundError(f"item {item_id} has no version {number}")
        return lineage.diff_versions(found[old], found[new], by=by)

    def lineage(self, item_id: int):
        from .curate import lineage
        return lineage.lineage(self.store, item_id)

    def contradictions(self, *, open_only: bool = True):
        from .curate import review
        return review.contradictions(self.store, open_only=open_only)

    def resolve_contradiction(self, a: int, b: int, keep: str, *, actor: str | None = None,
                              reason: str | None = None) -> None:
        from .curate import review
        review.resolve_contradiction(self.store, a, b, keep, actor=self._actor(actor), reason=reason)

    # ------------------------------------------------------------------ curation policy and growth limits
    def policy(self):
        from .curate import policy as policy_rules
        return policy_rules.load(self.store)

    def set_policy(self, key: str, value: str):
        from .curate import policy as policy_rules
        updated = policy_rules.with_value(self.policy(), key, value)
        policy_rules.save(self.store, updated)
        return updated

    def apply_policy(self, item_ids=None) -> list[int]:
        """Auto-approve the pending, never-decided items the policy allows."""
        from .curate import review
        return review.apply_policy(self.store, self.policy(), item_ids=item_ids)

    def plan_growth(self) -> list:
        """The archive actions the policy's cap and decay call for; none (and no reading of the bank) without them."""
        from .curate import growth
        policy = self.policy()
        if not policy.limits_growth:
            return []
        items = self.store.query_items(status=list(growth.ACTIVE))
        return growth.plan(items, policy, now=self.store.clock(), usage=self.store.retrieval_counts())

    def enforce_growth(self) -> list:
        """Archive what the policy's cap and decay call for. Returns the archive actions carried out."""
        from .curate import growth
        actions = self.plan_growth()
        if actions:
            growth.apply(self.store, actions, self.policy())
        return actions

    # ------------------------------------------------------------------ time travel: the bank as it was
    def as_of(self, point: int | datetime):
        """The bank as it was at an event id or a moment, from the event log alone."""
        from .curate import asof
        if isinstance(point, datetime):
            event_id = self.store.event_id_at(point)
        else:
            event_id = int(point)
            if not 0 <= event_id <= self.store.last_event_id():
                raise NotFoundError(f"no event {event_id} (the log has events 1–{self.store.last_event_id()})")
        if self._vector_cache is None:
            self._vector_cache = asof.AsOfVectors(self.embedder)
        return asof.view(self.store, event_id, self._vector_cache)

    def as_of_run(self, run_id: int):
        """The bank as the agent of run `run_id` saw it: the state it retrieved from, else the state at its start."""
        run = self.store.get_run(run_id)
        point = self.store.run_as_of_event(run_id)
        return self.as_of(point if point is not None else run.started_at)

    def retrieve_as_of(self, point: int | datetime, query: str, k: int = 1, *, task_id: str | None = None,
                       min_similarity: float | None = None) -> list[Hit]:
        """What retrieval over the bank as it was at `point` returns for `query`: approved items by cosine, with
        the same minimum similarity live retrieval applies (unless overridden). Nothing is logged."""
        threshold = self.settings.min_similarity if min_similarity is None else min_similarity
        return self.as_of(point).rank(query, k=k, exclude_task_id=task_id, min_similarity=threshold)

    def told_at_run(self, run_id: int, *, k: int = 1) -> list[tuple[str, str, list]]:
        """What retrieval would have told the agent of run `run_id`, task by task: (traj_id, query, hits)."""
        from .curate import asof
        view = self.as_of_run(run_id)
        rows = self.store.run_queries(run_id)
        hits = asof.told(view, [(query, task_id) for _, task_id, query in rows], k=k,
                         min_similarity=self.settings.min_similarity)
        return [(traj_id, query, found) for (traj_id, _, query), found in zip(rows, hits)]

    # ------------------------------------------------------------------ the read model for screens
    @property
    def views(self):
        """Read-only screens for the dashboard (`bankcore/read/views.py`): paginated, aggregated, no Streamlit."""
        from .read.views import Views
        return Views(self.store, self.settings)
