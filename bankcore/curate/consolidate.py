"""Consolidation: fold near-duplicate lessons into one richer lesson, and surface lessons that contradict each other.

`plan(items, vectors, ...)` is pure: it decides, over values, which active items to merge and which pairs to show a
human. `apply(...)` is thin: for each group it writes the merged item and supersedes its parents in one
transaction, so an interrupted consolidation leaves every group either untouched or fully merged. Nothing is
deleted; `review.unmerge` undoes a merge.

Rules, and why:
- Only active items (pending, approved) take part; rejected, superseded and archived ones are settled history.
- Items are compared only within one domain: a lesson about airline refunds and one about Wikipedia lookups may be
  worded alike, but an agent in one domain is never helped by the other's specifics.
- A group never mixes review states: merging a pending lesson into an approved one would either slip unreviewed
  text into retrieval or pull approved text out of it until someone reviews the merge.
- Success strategies and failure lessons *may* merge — "verify the id before cancelling" learned from a success and
  from a failure is one lesson with two kinds of evidence — but a pair that says the opposite is never merged: it is
  flagged as a contradiction for a human. Items with an open contradiction are not merged until it is resolved.
- Every member of a group is similar to every other member (complete linkage), and a group has at most
  `max_group` members, so a merge stays a readable lesson and an LLM prompt stays small.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np

from . import lifecycle, llm_merge, review
from ..guard import gate
from . import policy as policy_rules
from ..errors import ConflictError
from ..models import ItemSource, MemoryItem
from .review import CONTRADICTS
from ..search.similarity import (
    IVF_MIN_ROWS,
    Pairs,
    complete_linkage_groups,
    normalize,
    similar_pairs_ivf,
    similar_pairs_pruned,
)

if TYPE_CHECKING:
    from ..store.protocols import CurationStore, ItemRepository

HEURISTIC_MERGE_ID = "heuristic-merge:1"
CONTRADICTION_DETECTOR_ID = "heuristic-contradiction:1"
DEFAULT_THRESHOLD = 0.85
DEFAULT_CONTRADICTION_THRESHOLD = 0.80
DEFAULT_MAX_GROUP = 6
ACTIVE = ("pending", "approved")


@dataclass(frozen=True)
class ItemText:
    title: str
    description: str
    content: str


@dataclass(frozen=True)
class Merge:
    """Fold `parent_ids` into one new item. `proposal` is the heuristic's text; None means the LLM writes it."""

    parent_ids: tuple[int, ...]
    seen_event_ids: tuple[int | None, ...]  # each parent's last event when planned: the apply-time optimistic check
    domain: str | None
    review_state: str
    min_similarity: float
    mean_similarity: float
    proposal: ItemText | None = None
    kind: str = field(default="merge", init=False)


@dataclass(frozen=True)
class Contradiction:
    """Two active items that look alike but give opposite advice: shown to a human as a pair, never merged."""

    a: int
    b: int
    similarity: float
    reason: str
    detector: str = CONTRADICTION_DETECTOR_ID
    kind: str = field(default="contradiction", init=False)


Action = Merge | Contradiction


# ---------------------------------------------------------------------- planning (pure)
def plan(items: Sequence[MemoryItem], vectors: np.ndarray, *, threshold: float = DEFAULT_THRESHOLD,
         contradiction_threshold: float = DEFAULT_CONTRADICTION_THRESHOLD, max_group: int = DEFAULT_MAX_GROUP,
         known_pairs: Iterable[tuple[int, int]] = (), heuristic_text: bool = True,
         search: str = "auto") -> list[Action]:
    """What consolidation would do: merges and contradiction pairs, over values only.

    `vectors[k]` is the embedding of `items[k]`. `known_pairs` are item-id pairs a human has already seen as a
    contradiction (open or resolved): they are neither surfaced again nor merged. With `heuristic_text` each merge
    carries the heuristic's merged text; without, the text is left to the LLM at apply time.
    `search`: "exact" compares every pair (screened by an exact bound); "clusters" only pairs whose rows share a
    probed cluster (`similar_pairs_ivf`: ~20× fewer pairs at 100k, ~0.02% of pairs near the threshold missed);
    "auto" (default) takes the clusters for a domain of IVF_MIN_ROWS active items or more, else exact.
    """
    if search not in ("auto", "exact", "clusters"):
        raise ValueError(f"search must be 'auto', 'exact' or 'clusters', not {search!r}")
    if len(items) != len(vectors):
        raise ValueError(f"{len(items)} items but {len(vectors)} vectors")
    known = {frozenset(p) for p in known_pairs}
    matrix = np.asarray(vectors, dtype=np.float32)
    actions: list[Action] = []
    for domain, idx in _by_domain(items):
        bucket = [items[k] for k in idx]
        x = normalize(matrix[idx], in_place=True)  # fancy indexing made a copy: normalise that
        clusters = search == "clusters" or (search == "auto" and len(idx) >= IVF_MIN_ROWS)
        if clusters:
            pairs, _ = similar_pairs_ivf(x, min(threshold, contradiction_threshold))
        else:  # exact: the pairs of the plain all-pairs search (`similar_pairs`, the tests' oracle), fewer products
            pairs, _ = similar_pairs_pruned(x, min(threshold, contradiction_threshold))
        contradictions = _contradictions(bucket, pairs, contradiction_threshold, known)
        blocked = known | {frozenset((c.a, c.b)) for c in contradictions}
        groups = _groups(bucket, pairs, x, threshold, max_group, blocked)
        if clusters:
            groups, missed = _unmissed(bucket, x, pairs, groups, known)
            contradictions = sorted(contradictions + missed, key=lambda c: (c.a, c.b))
        # the merge actions and their texts (the plan's costliest Python) only for the groups that stay merges
        actions += contradictions + _merge_actions(groups, bucket, x, domain, heuristic_text)
    return actions


def _unmissed(bucket: list[MemoryItem], x: np.ndarray, pairs: Pairs, groups: list[tuple[str, list[int]]],
              known: set) -> tuple[list[tuple[str, list[int]]], list[Contradiction]]:
    """The cluster search can miss a similar pair, and so its contradiction; complete linkage may still put the two
    in one group (it checks every pair's similarity, not their advice). So each member pair of a group that the
    search did not return is checked here: a contradiction found drops that group (the next plan sees the pair as
    known and groups around it) and is surfaced instead. Nothing that says the opposite is ever merged."""
    n = len(bucket)
    found = np.sort(pairs.i.astype(np.int64) * n + pairs.j)  # a pair (i < j) as one number, looked up sorted
    member_pairs = [(g, min(a, b), max(a, b)) for g, (_, members) in enumerate(groups)
                    for t, a in enumerate(members) for b in members[t + 1:]]
    codes = np.array([i * n + j for _, i, j in member_pairs], np.int64)
    at = np.minimum(np.searchsorted(found, codes), max(len(found) - 1, 0))
    unseen = found[at] != codes if len(found) else np.ones(len(codes), bool)
    dropped, missed = set(), []
    for g, i, j in (member_pairs[k] for k in np.flatnonzero(unseen).tolist()):
        ids = frozenset((bucket[i].item_id, bucket[j].item_id))
        reason = None if ids in known else contradiction_reason(bucket[i], bucket[j])
        if reason:
            missed.append(Contradiction(min(ids), max(ids), round(float(x[i] @ x[j]), 4), reason))
            dropped.add(g)
    return [group for g, group in enumerate(groups) if g not in dropped], missed


def _by_domain(items: Sequence[MemoryItem]) -> list[tuple[str | None, np.ndarray]]:
    buckets: dict[str | None, list[int]] = {}
    for k, item in enumerate(items):
        if item.status in ACTIVE:
            buckets.setdefault(item.domain, []).append(k)
    return [(d, np.array(buckets[d])) for d in sorted(buckets, key=lambda d: (d is not None, d or ""))]


def _contradictions(bucket: list[MemoryItem], pairs, threshold: float, known: set) -> list[Contradiction]:
    found = []
    claims: dict[int, list] = {}
    content_words: dict[str, set[str]] = {}

    def words(sentence: str) -> set[str]:
        if sentence not in content_words:
            content_words[sentence] = _content_words(sentence)
        return content_words[sentence]

    hold = pairs.sim >= threshold
    first, second, sims = pairs.i[hold], pairs.j[hold], pairs.sim[hold]
    negates = np.zeros(len(bucket), dtype=bool)
    negates[first] = negates[second] = True  # marks the items in a pair: each item once, not once per pair
    rows = np.flatnonzero(negates)  # (a mask, not np.unique: that hashed 700k ids in 0.4 s)
    negates[rows] = [_may_negate(bucket[k]) for k in rows.tolist()]
    either = negates[first] | negates[second]  # no "don't" in either (most pairs): no opposite polarity to find
    for i, j, s in zip(first[either].tolist(), second[either].tolist(), sims[either].tolist()):
        a, b = bucket[i], bucket[j]
        if frozenset((a.item_id, b.item_id)) in known:
            continue
        for k in (i, j):
            if k not in claims:
                claims[k] = _claims(bucket[k])
        reason = _reason(a, claims[i], b, claims[j], words)
        if reason:
            found.append(Contradiction(min(a.item_id, b.item_id), max(a.item_id, b.item_id), round(s, 4), reason))
    return sorted(found, key=lambda c: (c.a, c.b))


def _may_negate(item: MemoryItem) -> bool:
    """Whether some sentence of the item (title included) could be a prescriptive "don't": every one has a negation
    in the item's text, spaced as sentences are. A substring check rules most items out before the regex runs:
    on the text as stored when it is ASCII (respacing cannot add or remove a stem without a space in it)."""
    raw = f"{item.title} {item.content}"
    if raw.isascii():
        lower = raw.lower()
        if not any(stem in lower for stem in _NEGATION_STEMS_UNSPACED):
            return False
    text = " ".join(raw.split())
    if not text.isascii():
        return bool(_NEGATIONS.search(text))
    lower = text.lower()
    return any(stem in lower for stem in _NEGATION_STEMS) and bool(_NEGATIONS_IN_LOWER_ASCII.search(lower))


def _groups(bucket: list[MemoryItem], pairs: Pairs, x: np.ndarray, threshold: float, max_group: int,
            blocked: set) -> list[tuple[str, list[int]]]:
    """Merge groups per review state, as (state, bucket indices), in the order of their sorted item ids.
    Clustering runs over distinct texts; exact copies of a text ride along with it, so `max_group` bounds how much
    *different* text one merge must hold, not how many copies it absorbs."""
    found = []
    for state in ACTIVE:
        local = [k for k, item in enumerate(bucket) if item.status == state and not _in_open_contradiction(item)]
        copies = _copies(bucket, local)
        reps = sorted(copies)
        at = np.full(len(bucket), -1, dtype=np.int64)  # bucket index of a distinct text's first copy → n in `reps`
        at[reps] = np.arange(len(reps))
        keep = (pairs.sim >= threshold) & (at[pairs.i] >= 0) & (at[pairs.j] >= 0)
        groups = []
        if keep.any():
            rep_x = x if len(reps) == len(bucket) else x[reps]  # no copy of the matrix when nothing is left out
            rep_pairs = Pairs(at[pairs.i[keep]], at[pairs.j[keep]], pairs.sim[keep])
            groups = complete_linkage_groups(rep_x, rep_pairs, threshold, max_size=max_group,
                                             cannot_link=_cannot_link(bucket, copies, at, blocked))
        grouped = {n for g in groups for n in g}
        groups += [[n] for n, k in enumerate(reps) if n not in grouped and len(copies[k]) > 1]  # copies only
        found += [(state, [k for n in group for k in copies[reps[n]]]) for group in groups]
    return sorted(found, key=lambda g: sorted(bucket[k].item_id for k in g[1]))


def _cannot_link(bucket: list[MemoryItem], copies: dict[int, list[int]], at: np.ndarray,
                 blocked: set) -> list[tuple[int, int]]:
    """The blocked item-id pairs as pairs of distinct texts (`at`'s numbering), a text standing for its copies."""
    wanted = {i for pair in blocked for i in pair}
    if not wanted:
        return []
    text_of = {bucket[k].item_id: at[rep] for rep, ks in copies.items() for k in ks if bucket[k].item_id in wanted}
    pairs = {(text_of[a], text_of[b]) for a, b in map(tuple, blocked) if a in text_of and b in text_of}
    return [(int(a), int(b)) for a, b in pairs if a != b]


def text_key(item: MemoryItem) -> tuple[str, str, str]:
    """Identity of an item's text, ignoring case and spacing: items with the same key are copies."""
    return (" ".join(item.title.lower().split()), " ".join(item.description.lower().split()),
            " ".join(item.content.lower().split()))  # no generator: 100k items plan


def _copies(bucket: list[MemoryItem], indices: list[int]) -> dict[int, list[int]]:
    """First index of each distinct text → every index with that text."""
    first: dict[tuple, int] = {}
    copies: dict[int, list[int]] = {}
    for k in indices:
        rep = first.setdefault(text_key(bucket[k]), k)
        copies.setdefault(rep, []).append(k)
    return copies


def _merge_actions(groups: list[tuple[str, list[int]]], items: list[MemoryItem], x: np.ndarray, domain,
                   heuristic_text: bool) -> list[Merge]:
    """One merge per (state, members) group, in order. The similarities are worked out for all groups of a size at
    once (`_group_similarities`); the parents are ordered most central first: the parent closest to all the others
    leads the merged text."""
    stats = _group_similarities([members for _, members in groups], x)
    merges = []
    for (state, group), (low, mean, centrality) in zip(groups, stats):
        order = sorted(range(len(group)), key=lambda n: (-round(centrality[n], 6), items[group[n]].item_id))
        parents = [items[group[n]] for n in order]
        by_id = sorted(parents, key=lambda p: p.item_id)
        merges.append(Merge(
            parent_ids=tuple(p.item_id for p in by_id), seen_event_ids=tuple(p.last_event_id for p in by_id),
            domain=domain, review_state=state, min_similarity=round(low, 4), mean_similarity=round(mean, 4),
            proposal=heuristic_merge(parents) if heuristic_text else None))
    return merges


def _group_similarities(groups: list[list[int]], x: np.ndarray, chunk: int = 4096) -> list[tuple]:
    """(min, mean of the member pairs' similarities, each member's mean similarity to the others) per group.

    Stacked by group size, so numpy runs one call per size and chunk, not a handful per group (24k groups at 100k
    items). Bit for bit what `sims = x[g] @ x[g].T`, `upper.min()`, `upper.mean()` and `(sims.sum(axis=1) - 1) /
    (len(g) - 1)` give per group: each stacked product is the same BLAS gemm on two copies (one a transposed view;
    one buffer would let numpy take syrk instead), the row sums the same reductions of a row of a matrix, the mean
    of more than one pair each group's own `mean()` (a test holds all of it to the per-group arithmetic)."""
    out: list = [None] * len(groups)
    by_size: dict[int, list[int]] = {}
    for g, members in enumerate(groups):
        by_size.setdefault(len(members), []).append(g)
    for size, numbers in by_size.items():
        upper_at = _upper_triangle(size)
        for start in range(0, len(numbers), chunk):
            part = numbers[start:start + chunk]
            rows = np.array([groups[g] for g in part])
            sims = np.matmul(x[rows], x[rows].transpose(0, 2, 1))
            upper = sims[:, upper_at[0], upper_at[1]]
            low = upper.min(axis=1).tolist()
            # a mean of one is itself; of more, each row's own 1-d mean: numpy sums a row pairwise, and a stacked
            # reduction along axis 1 adds in another order (the last bit differs)
            mean = low if size == 2 else [float(row.mean()) for row in upper]
            centrality = (sims.sum(axis=2) - 1) / (size - 1)
            for g, least, avg, central in zip(part, low, mean, centrality.tolist()):
                out[g] = (least, avg, central)
    return out


@functools.lru_cache(maxsize=64)
def _upper_triangle(size: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(size, 1)  # one per group size, not one per group: 16k merges plan at 100k items


def _in_open_contradiction(item: MemoryItem) -> bool:
    return any(f.startswith(CONTRADICTS) for f in item.flags)


# ---------------------------------------------------------------------- the heuristic merge (pure)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_WORD = re.compile(r"[a-z0-9']+")


def heuristic_merge(parents: Sequence[MemoryItem]) -> ItemText:
    """Offline merge, named `heuristic-merge:1` wherever it shows: nothing is written that a parent did not say.

    Title and description come from the first (most central) parent; the content is every distinct sentence of
    every parent's content, in order, a sentence being dropped only when a kept one already says nearly the same
    words (Jaccard ≥ 0.7 over words). So no condition or lesson is lost, only repetition.
    """
    lead = parents[0]
    kept: list[str] = []
    kept_words: list[set[str]] = []
    contents: set[str] = set()
    sentences: set[str] = set()
    for parent in parents:
        content = " ".join(parent.content.split())
        if content in contents:  # a copy: each of its sentences goes where the same sentence of the first went
            continue
        contents.add(content)
        for sentence in _split_spaced(content):
            if sentence in sentences:  # said before in this group: kept then, or dropped for a kept one; so again
                continue
            sentences.add(sentence)
            words = _words(sentence)
            if not _repeats(words, kept_words, 0.7):
                kept.append(sentence)
                kept_words.append(words)
    return ItemText(lead.title, lead.description, " ".join(kept))


def _repeats(words: set[str], kept_words: list[set[str]], bound: float) -> bool:
    """Whether _jaccard(words, k) >= bound for some k of kept_words; the sizes alone rule most out (|a∩b|/|a∪b| is
    at most the smaller size over the larger, divided as _jaccard divides: rounding cannot flip the answer). One
    loop, not a generator and a call per pair: 24k merged texts plan at 100k items."""
    n = len(words)
    for other in kept_words:
        m = len(other)
        small, large = (n, m) if n <= m else (m, n)
        if small and small / large < bound:
            continue
        if _jaccard(words, other) >= bound:
            return True
    return False


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower().replace("\u2019", "'")))  # curly and straight apostrophes alike


def split_sentences(text: str) -> list[str]:
    return _split_spaced(" ".join(text.split()))


def _split_spaced(spaced: str) -> list[str]:
    """The sentences of a text whose whitespace is already single spaces (each split consumes one: no piece has
    spaces to strip)."""
    return [s for s in _SENTENCE.split(spaced) if s]


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


# ---------------------------------------------------------------------- contradiction heuristic (pure)
# Prescriptive negations: "never X", "avoid X", "do not X". Descriptive ones ("the agent did not X") are left out on
# purpose: a failure lesson usually *describes* the mistake in the negative while agreeing with the success
# strategy. "without" flips a prescriptive negation ("never book without confirming" = "always confirm") but on its
# own is descriptive ("it cancelled without looking") and is ignored.
# "stop" negates only before a gerund ("stop guessing"); "stop and re-check the totals" prescribes a pause.
_NEGATIONS = re.compile(r"\b(never|avoid\w*|don't|do not|dont|should not|shouldn't|must not|mustn't|"
                        r"stop(?=\s+\w+ing\b)|refrain\w*|no need|unnecessary|skip\w*)\b", re.IGNORECASE)
_WITHOUT = re.compile(r"\bwithout\b", re.IGNORECASE)
# Every _NEGATIONS alternative contains one of these: an ASCII text with none of them, in lower case, has no
# negation (outside ASCII, case-insensitive matching has more equivalences than lower(): the regex decides).
_NEGATION_STEMS = ("never", "avoid", "don", "not", "n't", "stop", "refrain", "no need", "unnecessary", "skip")
_NEGATION_STEMS_UNSPACED = tuple(s.split()[-1] for s in _NEGATION_STEMS)  # "no need" → "need"
# The same pattern matched case-sensitively: on lower-cased ASCII text it finds what _NEGATIONS finds, 2.5x faster.
_NEGATIONS_IN_LOWER_ASCII = re.compile(_NEGATIONS.pattern)
_STOP = set("a an the to of and or for in on at by with from is are be it its this that then than as if when "
            "before after each every always only any all you your their they it's into over via".split())


def polarity(sentence: str) -> int:
    """1 for a prescriptive "do", -1 for a prescriptive "don't"."""
    negations = len(_NEGATIONS.findall(sentence))
    if not negations:
        return 1
    return -1 if (negations + len(_WITHOUT.findall(sentence))) % 2 else 1


def _content_words(text: str) -> set[str]:
    words = _words(_WITHOUT.sub(" ", _NEGATIONS.sub(" ", text)))
    return {_stem(w) for w in words if w not in _STOP and len(w) > 2}


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def contradiction_reason(a: MemoryItem, b: MemoryItem) -> str | None:
    """Why two similar items look contradictory (`heuristic-contradiction:1`), or None.

    Some sentence of one and some sentence of the other (titles included) use nearly the same words (Jaccard ≥ 0.6
    over content words) with opposite prescriptive polarity: "Always ask the user to confirm before booking" vs
    "Never ask the user to confirm before booking". Crude by design: a false alarm costs a human a glance and keeps
    the pair apart; the LLM merge judges contradictions inside a group with more sense.
    """
    return _reason(a, _claims(a), b, _claims(b))


def _claims(item: MemoryItem) -> list[tuple[str, int]]:
    """Each sentence of an item (title first) with its polarity. Planning works these out once per item and content
    words once per sentence, not once per similar pair: at 40k items the regexes were half of the whole plan."""
    return [(s, polarity(s)) for s in [item.title, *split_sentences(item.content)]]


def _reason(a: MemoryItem, claims_a: list, b: MemoryItem, claims_b: list,
            words: Callable[[str], set[str]] = _content_words) -> str | None:
    for said_a, polarity_a in claims_a:
        for said_b, polarity_b in claims_b:
            if polarity_a == polarity_b or _jaccard(words(said_a), words(said_b)) < 0.6:
                continue
            (do, said), (dont, denied) = ((a, said_a), (b, said_b)) if polarity_a > 0 else ((b, said_b), (a, said_a))
            return (f"item {do.item_id} ({do.source}) says \"{said}\" but item {dont.item_id} "
                    f"({dont.source}) says \"{denied}\"")
    return None


# ---------------------------------------------------------------------- the merged item (pure)
def merged_item(parents: Sequence[MemoryItem], text: ItemText, *, method: str,
                prompt_version: str | None = None) -> MemoryItem:
    """The new item a merge writes: parents' union of flags, their best confidence, source `merged` — except that a
    parent's injection flag passes to it only where the flagged text survives into it (`gate.inherit_flags`); its
    own text is checked by the gate when it is written, before the policy decides (`_write`)."""
    confidences = [p.confidence for p in parents if p.confidence is not None]
    flags = sorted({f for p in parents for f in p.flags if not f.startswith(CONTRADICTS)})
    child = MemoryItem(
        title=text.title, description=text.description, content=text.content, source="merged", status="pending",
        confidence=max(confidences) if confidences else None, domain=parents[0].domain, flags=flags,
        extractor_id=method, prompt_version=prompt_version,
        meta={"merged_from": sorted(p.item_id for p in parents),
              "parent_sources": sorted({p.source for p in parents})})
    return gate.inherit_flags(child, parents)


def merged_sources(parent_ids: Sequence[int], parent_sources: dict[int, list[ItemSource]]) -> list[ItemSource]:
    """Parent rows, plus the parents' evidence inherited so "never retrieve a lesson from the same task" still holds."""
    rows = [ItemSource(0, "parent", parent_item_id=p) for p in sorted(parent_ids)]
    steps: dict[tuple[str, str], set[int]] = {}
    for p in sorted(parent_ids):
        for s in parent_sources.get(p, []):
            if s.relation != "parent" and s.traj_id is not None:
                steps.setdefault((s.relation, s.traj_id), set()).update(s.step_idxs)
    rows += [ItemSource(0, rel, traj_id=t, step_idxs=sorted(idx)) for (rel, t), idx in sorted(steps.items())]
    return rows


# ---------------------------------------------------------------------- applying (thin)
@dataclass
class Report:
    """What a consolidation did, group by group."""

    batch_id: str
    method: str
    requested_by: str | None = None
    merged: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)  # (child, parents)
    approved_by_policy: list[int] = field(default_factory=list)
    declined: list[tuple[tuple[int, ...], str]] = field(default_factory=list)
    contradictions: list[tuple[int, int, str]] = field(default_factory=list)
    skipped: list[tuple[tuple[int, ...], str]] = field(default_factory=list)
    failed: list[tuple[tuple[int, ...], str]] = field(default_factory=list)
    llm_calls: int = 0  # groups put to the model, including those answered from earlier replies
    llm_cached: int = 0  # of those, answered from the record (e.g. by the dry run's replies): no model call


Complete = Callable[[list[dict[str, str]]], str]


@dataclass
class _Draft:
    """A merged item ready to write: the child, the parents it absorbs (as planned), and the MERGE event's details."""

    merge: Merge
    child: MemoryItem
    parents: list[MemoryItem]
    related: dict


def apply(store: CurationStore, actions: Sequence[Action], *, embedder, method: str, complete: Complete | None = None,
          requested_by: str | None = None, policy=None,
          on_group: Callable[[str], None] | None = None) -> Report:
    """Carry out a plan. Each merge is one transaction; an LLM call or an embedding never runs inside one.

    With `complete`, each merge group costs exactly one LLM call, which may merge all or some of the group,
    decline, or report contradictions. A failed call or unreadable reply leaves that group untouched (reported as
    failed); the next consolidation plans it again. A group whose items changed since planning is skipped.
    """
    policy = policy or policy_rules.load(store)
    report = Report(batch_id=store.new_batch_id("consolidate"), method=method, requested_by=requested_by)
    merges = [a for a in actions if isinstance(a, Merge)]
    with store.transaction():  # all reads on one connection
        ids = sorted({p for m in merges for p in m.parent_ids})
        current = {i.item_id: i for i in store.get_items(ids)}
        sources = store.item_sources_of(ids)
    drafts = {}
    opinions = getattr(store, "second_opinion", None)
    if complete is None:  # the heuristic's texts are known: embed every merged item in one batch
        drafts = {id(m): d for m in merges if (d := _heuristic_draft(m, current, method, report))}
        embedder.embed_items([d.child for d in drafts.values()])
        gate.ask_ahead([d.child for d in drafts.values()], opinions)  # no model call inside a write
    for action in actions:
        if isinstance(action, Contradiction):
            review.flag_contradiction(store, action.a, action.b, actor=action.detector, reason=action.reason,
                                      similarity=action.similarity, batch_id=report.batch_id)
            report.contradictions.append((action.a, action.b, action.reason))
        elif complete is None:
            if id(action) in drafts:
                _write(store, drafts[id(action)], sources, policy, by_llm=False, report=report)
        else:
            draft = _llm_draft(store, action, current, complete, method, report)
            if draft:
                embedder.embed_items([draft.child])
                gate.ask_ahead([draft.child], opinions)  # the second opinion, before the write holds the bank
                _write(store, draft, sources, policy, by_llm=True, report=report)
        if on_group:
            on_group(action.kind)
    return report


def _unchanged(merge: Merge, current: dict[int, MemoryItem], report: Report) -> list[MemoryItem] | None:
    """The planned parents, if none changed since planning (else the group is reported as skipped)."""
    changed = [p for p, seen in zip(merge.parent_ids, merge.seen_event_ids)
               if p not in current or current[p].last_event_id != seen]
    if changed:
        report.skipped.append((merge.parent_ids, f"changed since planned: {changed}"))
        return None
    return [current[p] for p in merge.parent_ids]


def _related(merge: Merge, method: str) -> dict:
    return {"parents": list(merge.parent_ids), "method": method, "review_state": merge.review_state,
            "min_similarity": merge.min_similarity, "mean_similarity": merge.mean_similarity}


def _heuristic_draft(merge: Merge, current, method: str, report: Report) -> _Draft | None:
    parents = _unchanged(merge, current, report)
    if parents is None:
        return None
    text = merge.proposal or heuristic_merge(parents)
    return _Draft(merge, merged_item(parents, text, method=method), parents, _related(merge, method))


def _distinct(parents: Sequence[MemoryItem]) -> dict[tuple, list[MemoryItem]]:
    """Text key → the parents with that text, in parent order: the model sees each distinct text once (the first
    parent with it), and its copies go wherever it goes."""
    copies: dict[tuple, list[MemoryItem]] = {}
    for parent in parents:
        copies.setdefault(text_key(parent), []).append(parent)
    return copies


def _ask(complete: Complete, shown: Sequence[MemoryItem]) -> llm_merge.Reply:
    """The group's one LLM call, parsed. Raises what the call or the parser raised."""
    return llm_merge.parse(complete(llm_merge.build_messages(shown)), [p.item_id for p in shown])


def _reason_or_raise(exc: Exception) -> str:
    """Why a group failed, for the report; re-raises a fatal error."""
    if getattr(exc, "fatal", False):
        raise exc  # a bad key or unknown model: every further call would fail too; merged groups stay merged
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class Proposal:
    """What the LLM would do with one planned merge group (a dry run): its reply, or why there is none."""

    merge: Merge
    reply: llm_merge.Reply | None
    error: str | None = None


def propose(store: ItemRepository, actions: Sequence[Action], complete: Complete,
            on_group: Callable[[str], None] | None = None) -> list[Proposal]:
    """Ask the LLM about each merge group without writing any item: the dry run of an LLM consolidation. The
    prompts are the ones `apply` sends, so with the temperature-0 client the real run is answered from the cache."""
    merges = [a for a in actions if isinstance(a, Merge)]
    current = {i.item_id: i for i in store.get_items(sorted({p for m in merges for p in m.parent_ids}))}
    proposals = []
    for merge in merges:
        parents = [current[p] for p in merge.parent_ids if p in current]
        shown = [same[0] for same in _distinct(parents).values()]
        try:
            proposals.append(Proposal(merge, _ask(complete, shown)))
        except Exception as exc:  # noqa: BLE001 — reported per group, as `apply` would
            proposals.append(Proposal(merge, None, _reason_or_raise(exc)))
        if on_group:
            on_group(merge.kind)
    return proposals


def _llm_draft(store: CurationStore, merge: Merge, current, complete: Complete, method: str,
               report: Report) -> _Draft | None:
    """One LLM call for the group: a draft to write, or None (declined, contradiction flagged, failed)."""
    parents = _unchanged(merge, current, report)
    if parents is None:
        return None
    copies = _distinct(parents)
    shown = [same[0] for same in copies.values()]
    report.llm_calls += 1
    try:
        reply = _ask(complete, shown)
    except Exception as exc:  # noqa: BLE001 — any failure leaves the group as it was, reported
        report.failed.append((merge.parent_ids, _reason_or_raise(exc)))
        return None
    if getattr(complete, "last_cached", False):
        report.llm_cached += 1
    if isinstance(reply, llm_merge.Decline):
        report.declined.append((merge.parent_ids, reply.reason))
        return None
    if isinstance(reply, llm_merge.Contradictions):
        for a, b in reply.pairs:
            review.flag_contradiction(store, a, b, actor=method, reason=reply.reason, batch_id=report.batch_id)
            report.contradictions.append((a, b, reply.reason))
        return None
    absorbed = sorted((p for i in reply.absorbs for p in copies[text_key(current[i])]), key=lambda p: p.item_id)
    related = {**_related(merge, method), "parents": [p.item_id for p in absorbed], "reason": reply.reason,
               "declined_members": sorted(set(merge.parent_ids) - {p.item_id for p in absorbed})}
    child = merged_item(absorbed, ItemText(reply.title, reply.description, reply.content), method=method,
                        prompt_version=llm_merge.PROMPT_VERSION)
    return _Draft(merge, child, absorbed, related)


def _write(store: CurationStore, draft: _Draft, sources, policy, *, by_llm: bool, report: Report) -> None:
    """The merged item, its MERGE event and every parent's SUPERSEDE, in one transaction."""
    child, parents = draft.child, draft.parents
    rows = merged_sources([p.item_id for p in parents], sources)
    try:
        with store.transaction():
            lifecycle.add_item(store, child, rows, actor=draft.related["method"], kind="MERGE",
                              batch_id=report.batch_id, reason=f"merged {len(parents)} similar items",
                              related={**draft.related, "requested_by": report.requested_by})
            # The policy decides on the child as stored, i.e. after the injection gate has flagged it or not.
            decision = policy_rules.decide_merged(policy, child, by_llm=by_llm,
                                                  parents_approved=draft.merge.review_state == "approved")
            lifecycle.change_items(store, {p.item_id: p.last_event_id for p in parents}, kind="SUPERSEDE",
                                   actor=draft.related["method"], reason=f"merged into item {child.item_id}",
                                   batch_id=report.batch_id, related={"merged_into": child.item_id},
                                   status="superseded", superseded_by=child.item_id)
            if decision.approve:
                lifecycle.change_item(store, child.item_id, kind="APPROVE", actor=policy_rules.actor(policy),
                                     reason=decision.reason, batch_id=report.batch_id, status="approved")
    except ConflictError as exc:  # changed between planning and writing: nothing of this group was written
        report.skipped.append((draft.merge.parent_ids, str(exc)))
        return
    report.merged.append((child.item_id, tuple(p.item_id for p in parents)))
    if decision.approve:
        report.approved_by_policy.append(child.item_id)
