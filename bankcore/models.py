"""Values that cross module boundaries. The store takes and returns these, never raw rows."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from .intervals import rate_difference

LABELS = ("success", "failure")
# A judge may abstain: an uncertain verdict leaves the trajectory without a success/failure label.
UNCERTAIN = "uncertain"
VERDICT_LABELS = LABELS + (UNCERTAIN,)
ITEM_SOURCES = ("success", "failure", "contrast", "merged", "manual")
TEXT_FIELDS = ("title", "description", "content")
ITEM_STATUSES = ("pending", "approved", "rejected", "superseded", "archived")
EVENT_KINDS = (
    "ADD", "EDIT", "APPROVE", "REJECT", "MERGE", "SUPERSEDE", "RESTORE", "UNMERGE",
    "SOURCE_REJUDGED", "FLAG", "ARCHIVE", "CONTRADICTION", "REEMBED", "REINFORCE",
)


@dataclass
class Step:
    """One agent turn: what it thought, what it did, what it saw next."""

    index: int
    thought: str | None = None
    action: str | None = None
    observation: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Truth:
    """Ground truth from an evaluator. Used to measure judges, never shown to them."""

    success: bool | None = None
    reward: float | None = None
    gold: str | None = None
    source: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Trajectory:
    """A finished attempt at one task. ``traj_id`` is a content hash, so the same attempt is stored once."""

    task_id: str
    query: str
    steps: list[Step]
    source_format: str
    final_answer: str | None = None
    final_state: str | None = None
    domain: str | None = None
    trial: int | None = None
    started_at: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    traj_id: str = ""
    run_id: int | None = None
    seq: int | None = None

    @property
    def num_steps(self) -> int:
        return len(self.steps)

    def content_hash(self, scope: str = "") -> str:
        """Identity over what the agent did, within a scope (the source file's name for imports).

        Re-importing a file adds nothing, and a record repeated inside one log is stored once. The scope keeps
        two different logs apart when an agent happened to act identically in both (Reflexion's base and
        reflexion runs share their first trial verbatim); the trial keeps a carried-forward attempt apart
        from the original.
        """
        payload = {
            "scope": scope,
            "task_id": self.task_id,
            "trial": self.trial,
            "query": self.query,
            "steps": [[s.thought, s.action, s.observation] for s in self.steps],
            "final_answer": self.final_answer,
            "final_state": self.final_state,
        }
        blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


@dataclass
class Run:
    """A batch of trajectories: one imported file or one live agent run."""

    name: str
    source_format: str
    started_at: datetime
    source_path: str | None = None
    agent_model: str | None = None
    memory_mode: str | None = None
    matts_mode: str | None = None
    matts_k: int | None = None
    env: str | None = None
    finished_at: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    run_id: int | None = None


@dataclass
class Verdict:
    """A success/failure label with who gave it. Append-only; the current label is derived (human beats judge)."""

    traj_id: str
    label: str
    judge_id: str
    rationale: str = ""
    prompt_version: str | None = None
    confidence: float | None = None
    signals: dict[str, Any] = field(default_factory=dict)
    tokens_in: int | None = None
    tokens_out: int | None = None
    created_at: datetime | None = None
    verdict_id: int | None = None

    @property
    def is_human(self) -> bool:
        return self.judge_id.startswith("human:")


@dataclass
class MemoryItem:
    """A lesson: title, one-sentence description, 1–3 sentences of content."""

    title: str
    description: str
    content: str
    source: str
    status: str = "pending"
    confidence: float | None = None
    domain: str | None = None
    flags: list[str] = field(default_factory=list)
    extractor_id: str | None = None
    prompt_version: str | None = None
    embedding: list[float] | None = None
    embedding_model: str | None = None
    superseded_by: int | None = None
    version: int = 1
    last_event_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    item_id: int | None = None

    def text_fields(self) -> dict[str, str]:
        return {"title": self.title, "description": self.description, "content": self.content}

    def snapshot(self) -> dict[str, Any]:
        """The versioned state of an item, as stored in an event's before/after."""
        return {
            "title": self.title, "description": self.description, "content": self.content,
            "source": self.source, "status": self.status, "confidence": self.confidence,
            "domain": self.domain, "flags": list(self.flags), "superseded_by": self.superseded_by,
            "version": self.version,
        }


@dataclass
class ItemSource:
    """Provenance: the trajectory (and steps) an item rests on, or a parent item it was merged from."""

    item_id: int
    relation: str  # 'evidence' | 'parent' | 'contrast'
    traj_id: str | None = None
    step_idxs: list[int] = field(default_factory=list)
    parent_item_id: int | None = None


@dataclass
class Event:
    """One append-only change to one memory item."""

    item_id: int
    kind: str
    actor: str
    reason: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    related: dict[str, Any] = field(default_factory=dict)
    batch_id: str | None = None
    created_at: datetime | None = None
    event_id: int | None = None


@dataclass
class Extraction:
    """Marks a trajectory as distilled by an extractor, even when it yielded no items."""

    traj_id: str
    extractor_id: str
    prompt_version: str | None
    verdict_id: int | None
    label: str
    n_items: int
    created_at: datetime | None = None


@dataclass
class Retrieval:
    """One item shown to one task."""

    query: str
    item_id: int
    rank: int
    score: float
    k: int
    task_id: str | None = None
    traj_id: str | None = None
    run_id: int | None = None
    as_of_event: int | None = None
    created_at: datetime | None = None
    retrieval_id: int | None = None


@dataclass
class LLMCall:
    """One request to an LLM endpoint: cost accounting, audit, and the temperature-0 cache."""

    purpose: str
    model: str
    prompt_hash: str
    temperature: float
    request: dict[str, Any]
    response: str | None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    base_url: str | None = None
    traj_id: str | None = None
    created_at: datetime | None = None
    call_id: int | None = None


@dataclass
class Selection:
    """A best-of-N pick among the trajectories of one task (MaTTS parallel, live or replayed). Append-only."""

    task_id: str
    traj_ids: list[str]  # the candidates, in the order the selector saw them
    selector_id: str  # llm:<model> | heuristic:bon-<version>
    chosen_traj_id: str
    run_id: int | None = None
    prompt_version: str | None = None
    analysis: str = ""
    scores: dict[str, Any] = field(default_factory=dict)
    llm_call_id: int | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    created_at: datetime | None = None
    selection_id: int | None = None


@dataclass
class ContrastExtraction:
    """Marks a group of trajectories as distilled together by a self-contrast extractor, under these labels."""

    task_id: str
    traj_ids: list[str]
    labels: list[str]
    extractor_id: str
    n_items: int
    run_id: int | None = None
    verdict_ids: list[int] = field(default_factory=list)
    prompt_version: str | None = None
    llm_call_id: int | None = None
    created_at: datetime | None = None


@dataclass
class Hit:
    """A retrieved item with its score and rank."""

    item: MemoryItem
    score: float
    rank: int
    signals: dict[str, float] = field(default_factory=dict)


@dataclass
class ImportReport:
    """What an import did: how many records were read, added, already present, and which were bad."""

    path: str
    format: str
    run_id: int | None = None
    read: int = 0
    added: int = 0
    duplicates: int = 0  # already in the bank from an earlier import
    repeated: int = 0  # the same record more than once in this input
    steps_added: int = 0
    bad: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # entries that are not trajectories, by reason
    left_out: list[str] = field(default_factory=list)  # the named ones among them, "name: why" (Harbor trials)
    parts: list["ImportReport"] = field(default_factory=list)  # a folder of run files: one report per file
    truth_attached: int = 0  # trajectories already in the bank that gained the truth this input gives them
    truth_kept: int = 0  # ... that already had a different truth, kept (`bankcore truth --replace` changes it)
    truth_named: int = 0  # records whose task id the results file given with them names

    @classmethod
    def of_folder(cls, path: str, parts: list["ImportReport"]) -> "ImportReport":
        """The totals of a folder's run files, keeping each file's own report."""
        formats = sorted({p.format for p in parts})
        return cls(path=path, format=formats[0] if len(formats) == 1 else "mixed", parts=parts,
                   **{name: sum(getattr(p, name) for p in parts)
                      for name in ("read", "added", "duplicates", "repeated", "steps_added", "truth_attached",
                                   "truth_kept")},
                   bad=[line for p in parts for line in p.bad],
                   left_out=[line for p in parts for line in p.left_out],
                   skipped={reason: sum(p.skipped.get(reason, 0) for p in parts)
                            for reason in dict.fromkeys(r for p in parts for r in p.skipped)})

    def sources(self) -> list[str]:
        """The files (or mini-swe-agent folder) whose trajectories this import read."""
        return [p.path for p in self.parts] or [self.path]

    def summary(self) -> str:
        if self.parts:
            lines = [p.summary() for p in self.parts]
            return "\n".join(lines + [f"{self.path}: {len(self.parts)} run files, read {self.read} trajectories, "
                                       f"added {self.added}"])
        text = f"{self.path}: read {self.read} trajectories ({self.format}), added {self.added}"
        if self.duplicates:
            text += f", {self.duplicates} already in the bank"
        if self.repeated:
            text += f", {self.repeated} repeated in the input"
        if self.bad:
            text += f", skipped {len(self.bad)} bad"
        for reason, count in self.skipped.items():
            text += f", left out {count} {reason}"
        if self.truth_attached:
            text += f"; ground truth attached to {self.truth_attached} already in the bank"
        if self.truth_kept:
            text += (f"; {self.truth_kept} already had a different ground truth, kept (`bankcore truth FILE "
                     "--replace` changes it)")
        if self.read and not self.added and not self.truth_attached:
            text += " — nothing new"
        return "\n".join([text, *self.left_out_lines()])

    def left_out_lines(self, most: int = 20) -> list[str]:
        """One line per named entry left out (name: why), the first `most`, then how many more."""
        lines = [f"  left out {item}" for item in self.left_out[:most]]
        if len(self.left_out) > most:
            lines.append(f"  … and {len(self.left_out) - most} more")
        return lines


@dataclass
class TruthAttached:
    """What giving stored trajectories ground truth did: new truth, the same truth again, a different one."""

    attached: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # had a different truth: kept, or replaced when asked
    replaced: bool = False


def to_dict(value: Any) -> dict[str, Any]:
    """A dataclass as a plain dict (datetimes kept as datetimes)."""
    return asdict(value)


@dataclass
class VectorRows:
    """Items as the retrieval cache indexes them: parallel arrays, one row per item, in item id order (issue 4).

    `usable`: retrievable status (approved or pending) and a vector from the asked-for embedding model. String
    columns come as integer codes into their lookup lists (−1 for null).
    """

    item_ids: Any  # np.ndarray int64
    usable: Any  # np.ndarray bool
    last_event: Any  # np.ndarray float64 (NaN when none): the snapshot check compares it
    status: Any  # np.ndarray int32 codes into `statuses`
    statuses: list[str]
    domain: Any  # np.ndarray int32 codes into `domains`
    domains: list[str]
    source: Any  # np.ndarray int32 codes into `sources`
    sources: list[str]
    confidence: Any  # np.ndarray float32, NaN when unknown


FLAG_SOURCE_REJUDGED = "source_rejudged"  # the item's source trajectory was relabelled: its lesson may be backwards
USEFULNESS_PRIOR = 5.0  # pseudo-observations of "no effect": 5 comparable trajectories halve a lift
# Retrieval's hybrid ranking discounts an item whose shrunk lift is this low (see `ranking.py`). Whether an item
# *hurts* is stricter: the whole 95% interval of its lift below zero (`Usefulness.hurts`).
HURTS_BELOW = -0.1


@dataclass
class Usefulness:
    """Does an item help? Success rate of labelled trajectories that retrieved it vs comparable ones that did not.

    Comparable: run with memory (they retrieved something), labelled (current verdict, else truth), and in the item's
    domain (any domain when the item has none). `score` is the lift shrunk towards 0 while either group is small;
    `interval` is the lift's 95% confidence interval. Two views of the same evidence: the lift with its interval (did
    tasks given it do better than comparable ones?) and ACE-style counters (`helpful`, `harmful`: how many tasks given
    it succeeded, and failed).
    """

    item_id: int
    n_with: int
    success_with: int
    n_without: int
    success_without: int

    @property
    def rate_with(self) -> float | None:
        return self.success_with / self.n_with if self.n_with else None

    @property
    def rate_without(self) -> float | None:
        return self.success_without / self.n_without if self.n_without else None

    @property
    def lift(self) -> float | None:
        if self.rate_with is None or self.rate_without is None:
            return None
        return self.rate_with - self.rate_without

    @property
    def score(self) -> float:
        """Lift × n_eff / (n_eff + 5), n_eff = n_with·n_without / (n_with + n_without): 0 without evidence."""
        if self.lift is None:
            return 0.0
        n_eff = self.n_with * self.n_without / (self.n_with + self.n_without)
        return self.lift * n_eff / (n_eff + USEFULNESS_PRIOR)

    @property
    def interval(self) -> tuple[float, float] | None:
        """The 95% interval of `lift` (Newcombe's hybrid score interval); None while either group is empty."""
        return rate_difference(self.success_with, self.n_with, self.success_without, self.n_without)

    @property
    def hurts(self) -> bool:
        """Tasks given this item succeeded less often than comparable ones, beyond chance: the lift's whole 95%
        interval is below zero. A bad point estimate on a handful of tasks is not enough."""
        lift = self.lift
        if lift is None or lift >= 0:
            return False  # the interval's top is the lift plus a root: never below zero (no interval to build)
        interval = self.interval
        return interval is not None and interval[1] < 0

    @property
    def helps(self) -> bool:
        """The mirror of `hurts`: the lift's whole 95% interval is above zero."""
        lift = self.lift
        if lift is None or lift <= 0:
            return False  # the interval's bottom is the lift minus a root: never above zero
        interval = self.interval
        return interval is not None and interval[0] > 0

    @property
    def helpful(self) -> int:
        """Tasks given this item that succeeded (ACE's helpful counter)."""
        return self.success_with

    @property
    def harmful(self) -> int:
        """Tasks given this item that failed (ACE's harmful counter)."""
        return self.n_with - self.success_with

    def summary(self) -> str:
        """The evidence in words, e.g. for the reason of a FLAG event."""
        def rate(ok: int, n: int) -> str:
            return f"{ok}/{n} ({ok / n:.0%})" if n else "0/0"
        interval = self.interval
        spread = f", 95% interval {interval[0]:+.2f} to {interval[1]:+.2f}" if interval else ""
        return (f"{rate(self.success_with, self.n_with)} of the tasks given it succeeded vs "
                f"{rate(self.success_without, self.n_without)} of comparable ones without it "
                f"(lift {self.lift if self.lift is not None else 0:+.2f}{spread}; shrunk {self.score:+.2f})")


@dataclass
class Recorded:
    """What `Bank.record` did with one finished trajectory (issue 4)."""

    traj_id: str
    added: bool  # False: the same attempt was recorded before (content hash)
    linked_retrievals: int  # retrievals logged for its task before it existed, now attached to it
    items: list[MemoryItem] = field(default_factory=list)  # lessons extracted from it (pending until approved)
