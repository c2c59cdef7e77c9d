"""Pure parts of consolidation: exact blocked similarity search, clustering rules, heuristic merge, contradictions."""

from __future__ import annotations

import numpy as np
import pytest

from bankcore.curate.consolidate import (
    Contradiction,
    Merge,
    contradiction_reason,
    heuristic_merge,
    merged_item,
    merged_sources,
    plan,
    polarity,
)
from bankcore.curate.consolidate import _group_similarities
from bankcore.models import ItemSource, MemoryItem
from bankcore.search.similarity import complete_linkage_groups, normalize, similar_pairs


def brute_force(x: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    sims = x @ x.T
    return {(i, j) for i in range(len(x)) for j in range(i + 1, len(x)) if sims[i, j] >= threshold}


@pytest.mark.parametrize("tile", [3, 7, 64, 4096])
def test_blocked_search_is_exact_across_tile_boundaries(tile):
    rng = np.random.default_rng(7)
    centers = rng.standard_normal((12, 32))
    x = normalize(np.repeat(centers, 4, axis=0) + 0.15 * rng.standard_normal((48, 32)))
    pairs = similar_pairs(x, 0.9, tile=tile)
    assert set(zip(pairs.i.tolist(), pairs.j.tolist())) == brute_force(x, 0.9)
    assert len(pairs) > 20  # the planted clusters are found, not an empty success
    assert np.allclose(pairs.sim, np.einsum("ij,ij->i", x[pairs.i], x[pairs.j]), atol=1e-5)


def test_search_on_empty_and_single_input():
    assert len(similar_pairs(np.zeros((0, 8), np.float32), 0.5)) == 0
    assert len(similar_pairs(normalize(np.ones((1, 8))), 0.5)) == 0


def unit(*coords: float) -> list[float]:
    v = np.array(coords, dtype=np.float32)
    return (v / np.linalg.norm(v)).tolist()


def test_complete_linkage_does_not_chain():
    # a~b and b~c, but a and c are far apart: connected components would put all three together.
    x = normalize(np.array([[1.0, 0.0], [0.94, 0.34], [0.77, 0.64]], dtype=np.float32))
    pairs = similar_pairs(x, 0.93)
    assert set(zip(pairs.i.tolist(), pairs.j.tolist())) == {(0, 1), (1, 2)}
    groups = complete_linkage_groups(x, pairs, 0.93, max_size=10)
    assert len(groups) == 1 and len(groups[0]) == 2


def test_groups_respect_max_size_and_cannot_link():
    x = normalize(np.ones((5, 4), dtype=np.float32) + 1e-3 * np.arange(20, dtype=np.float32).reshape(5, 4))
    pairs = similar_pairs(x, 0.9)
    assert all(len(g) <= 2 for g in complete_linkage_groups(x, pairs, 0.9, max_size=2))
    groups = complete_linkage_groups(x, pairs, 0.9, max_size=10, cannot_link=[(0, 1)])
    assert not any({0, 1} <= set(g) for g in groups)


@pytest.mark.parametrize("max_size", [1, 2, 3, 6])
def test_lone_pairs_group_as_the_loop_groups_them(max_size):
    # A pair sharing no row with another is grouped without the greedy loop; every pair given twice sends all of
    # them through the loop (the second copy of a pair is a no-op there): the groups must not differ.
    rng = np.random.default_rng(3)
    centers = rng.standard_normal((40, 16))
    sizes = rng.integers(1, 5, 40)
    x = normalize(np.repeat(centers, sizes, axis=0) + 0.2 * rng.standard_normal((int(sizes.sum()), 16)))
    pairs = similar_pairs(x, 0.9)
    twice = type(pairs)(np.tile(pairs.i, 2), np.tile(pairs.j, 2), np.tile(pairs.sim, 2))
    cannot = [(int(a), int(b)) for a, b in zip(pairs.i[::7], pairs.j[::7])]
    groups = complete_linkage_groups(x, pairs, 0.9, max_size=max_size, cannot_link=cannot)
    assert groups == complete_linkage_groups(x, twice, 0.9, max_size=max_size, cannot_link=cannot)
    assert (max_size == 1) == (groups == []) and not any({a, b} <= set(g) for a, b in cannot for g in groups)


def test_group_similarities_are_each_groups_own_products_bit_for_bit():
    rng = np.random.default_rng(5)
    x = normalize(rng.standard_normal((300, 384)))
    groups = [rng.choice(300, size, replace=False).tolist() for size in rng.integers(2, 9, 500)]
    for group, (low, mean, centrality) in zip(groups, _group_similarities(groups, x, chunk=64)):
        sims = x[group] @ x[group].T
        upper = sims[np.triu_indices(len(group), 1)]
        assert (low, mean) == (float(upper.min()), float(upper.mean()))
        assert centrality == ((sims.sum(axis=1) - 1) / (len(group) - 1)).tolist()


def test_heuristic_merge_of_copies_and_repeated_sentences_adds_nothing():
    a = item(1, "A", "Open the reservation first. Then read its fare rules.")
    b = item(2, "B", "Confirm the passenger count. Ask before booking.")
    spaced = item(3, "A", "Open  the reservation first.\n Then read its fare rules.")
    echo = item(4, "C", "Ask before booking. Write the refund amount down.")
    assert heuristic_merge([a, b, spaced]) == heuristic_merge([a, b])
    assert heuristic_merge([a, b, spaced, echo]).content == (
        "Open the reservation first. Then read its fare rules. Confirm the passenger count. Ask before booking. "
        "Write the refund amount down.")


def item(item_id, title, content, *, source="success", status="pending", domain="airline", flags=(),
         confidence=None, description="A lesson.") -> MemoryItem:
    return MemoryItem(title, description, content, source=source, status=status, domain=domain,
                      flags=list(flags), confidence=confidence, item_id=item_id, last_event_id=100 + item_id)


def test_plan_groups_only_active_items_of_one_domain_and_review_state():
    near = [unit(1, 0.01 * k, 0) for k in range(6)]
    items = [
        item(1, "Verify ids", "Look up the id first."),
        item(2, "Verify ids again", "Look up the id before acting."),
        item(3, "Verify ids elsewhere", "Look up the id first.", domain="retail"),  # other domain
        item(4, "Approved twin", "Look up the id first.", status="approved"),  # other review state
        item(5, "Rejected twin", "Look up the id first.", status="rejected"),  # not active
        item(6, "Superseded twin", "Look up the id first.", status="superseded"),
    ]
    actions = plan(items, np.array(near), threshold=0.9)
    assert [a.parent_ids for a in actions] == [(1, 2)]
    merge = actions[0]
    assert isinstance(merge, Merge) and merge.domain == "airline" and merge.review_state == "pending"
    assert merge.seen_event_ids == (101, 102)
    assert merge.proposal.title == "Verify ids"  # ties → the lower id leads


def test_plan_surfaces_contradictions_instead_of_merging_them():
    items = [item(1, "Always confirm before booking", "Always ask the user to confirm the itinerary before booking."),
             item(2, "Never confirm before booking", "Never ask the user to confirm the itinerary before booking.",
                  source="failure")]
    actions = plan(items, np.array([unit(1, 0.02), unit(1, 0.0)]), threshold=0.9)
    assert len(actions) == 1 and isinstance(actions[0], Contradiction)
    assert (actions[0].a, actions[0].b) == (1, 2) and "item 2 (failure) says \"Never" in actions[0].reason
    # A pair a human has already seen is neither surfaced again nor merged.
    assert plan(items, np.array([unit(1, 0.02), unit(1, 0.0)]), threshold=0.9, known_pairs=[(2, 1)]) == []


def test_items_in_an_open_contradiction_are_not_merged():
    items = [item(1, "A", "Look up the id first.", flags=["contradicts:9"]), item(2, "B", "Look up the id first.")]
    assert plan(items, np.array([unit(1, 0), unit(1, 0.01)]), threshold=0.9) == []


def test_plan_without_heuristic_text_leaves_the_text_to_the_llm():
    items = [item(1, "A", "Look up the id first."), item(2, "B", "Look up the id before acting.")]
    [merge] = plan(items, np.array([unit(1, 0), unit(1, 0.01)]), threshold=0.9, heuristic_text=False)
    assert merge.proposal is None


def test_plan_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="2 items but 1 vectors"):
        plan([item(1, "A", "x."), item(2, "B", "y.")], np.array([unit(1, 0)]))


def test_heuristic_merge_keeps_every_distinct_sentence_and_drops_repeats():
    parents = [
        item(1, "Verify the reservation before cancelling", "Look up the reservation by id. Confirm its status."),
        item(2, "Check reservation", "Look up the reservation by its id. Cancelling the wrong one cannot be undone."),
        item(3, "Reservation first", "Confirm its status!"),
    ]
    text = heuristic_merge(parents)
    assert text.title == "Verify the reservation before cancelling"
    assert text.content == ("Look up the reservation by id. Confirm its status. "
                            "Cancelling the wrong one cannot be undone.")


@pytest.mark.parametrize("a,b,expected", [
    ("Always ask the user to confirm before booking.", "Never ask the user to confirm before booking.", True),
    ("Avoid re-searching the same query.", "Re-search the same query until it works.", True),
    ("Never cancel without verifying the reservation.", "Verify the reservation before you cancel.", False),
    ("The agent did not verify the reservation.", "Verify the reservation before cancelling.", False),
    ("Do not guess dates.", "Ask the user for the travel dates.", False),
])
def test_contradiction_heuristic(a, b, expected):
    found = contradiction_reason(item(1, "x", a), item(2, "y", b, source="failure"))
    assert (found is not None) is expected


def test_polarity_counts_without_only_as_a_flip():
    assert polarity("Never book without confirming.") == 1
    assert polarity("It cancelled without looking.") == 1
    assert polarity("Do not book.") == -1


def test_stop_negates_only_a_gerund():
    assert polarity("Stop guessing the user id.") == -1
    assert polarity("Stop and re-check the totals before paying.") == 1
    assert polarity("Stop when the list ends.") == 1


def test_merged_item_and_sources():
    parents = [item(1, "A", "x.", confidence=0.4, flags=["suspected_injection", "contradicts:7"]),
               item(2, "B", "y.", source="failure", confidence=0.9)]
    child = merged_item(parents, heuristic_merge(parents), method="heuristic-merge:1")
    assert child.source == "merged" and child.status == "pending" and child.extractor_id == "heuristic-merge:1"
    assert child.confidence == 0.9 and child.flags == ["suspected_injection"]
    assert child.meta == {"merged_from": [1, 2], "parent_sources": ["failure", "success"],
                          "injection_reasons": ["it keeps the flagged text of item 1: “A”"]}  # why it is inherited
    rows = merged_sources([2, 1], {1: [ItemSource(1, "evidence", traj_id="t1", step_idxs=[0, 2])],
                                   2: [ItemSource(2, "evidence", traj_id="t1", step_idxs=[2, 3]),
                                       ItemSource(2, "parent", parent_item_id=9)]})
    assert [(r.relation, r.parent_item_id, r.traj_id, r.step_idxs) for r in rows] == [
        ("parent", 1, None, []), ("parent", 2, None, []), ("evidence", None, "t1", [0, 2, 3])]


def test_exact_copies_ride_along_and_do_not_count_against_the_group_size():
    copies = [item(k, "Verify ids", "Look up  the id first.") for k in range(1, 9)]  # 8 copies of one text
    others = [item(9, "Verify the id", "Look up the id before acting."), item(10, "Verify an id", "Check the id.")]
    lone = [item(11, "Baggage", "Read the tier."), item(12, "baggage", "read the   tier.")]  # copies, nothing else
    vectors = [unit(1, 0.001 * k, 0) for k in range(1, 9)] + [unit(1, 0.05, 0), unit(1, 0.07, 0)] + \
              [unit(0, 0, 1), unit(0, 0.001, 1)]
    actions = plan(copies + others + lone, np.array(vectors), threshold=0.9, max_group=3)
    assert [a.parent_ids for a in actions] == [tuple(range(1, 11)), (11, 12)]
    assert actions[0].proposal.content == "Look up the id first. Look up the id before acting. Check the id."
    assert plan(copies, np.array(vectors[:8]), threshold=0.9, max_group=2)[0].parent_ids == tuple(range(1, 9))


def test_plan_at_pruning_size_is_the_plan_of_the_plain_search(monkeypatch):
    """Above PRUNE_MIN_ROWS planning screens pairs (similar_pairs_pruned); the plan must be the one the plain
    all-pairs search (the oracle) gives: same merges, same contradictions, same numbers."""
    from bankcore.curate import consolidate
    from bankcore.search.similarity import similar_pairs_pruned

    items, vectors = _pruning_size_bank()
    assert similar_pairs_pruned(vectors, 0.8)[1].dims > 0  # the screen is really used at this size

    pruned = plan(items, vectors)
    monkeypatch.setattr(consolidate, "similar_pairs_pruned", lambda x, t: (similar_pairs(x, t), None))
    oracle = plan(items, vectors)
    assert pruned == oracle
    assert sum(isinstance(a, Merge) for a in oracle) > 100 and sum(isinstance(a, Contradiction) for a in oracle) > 5


def _pruning_size_bank() -> tuple[list[MemoryItem], np.ndarray]:
    """PRUNE_MIN_ROWS + 123 items with structured vectors, near-duplicate groups and planted contradictions."""
    from bankcore.search.similarity import PRUNE_MIN_ROWS

    n = PRUNE_MIN_ROWS + 123
    rng = np.random.default_rng(17)
    basis = rng.standard_normal((24, 384)) * np.linspace(3, 0.5, 24)[:, None]  # sentence-embedding-like structure
    vectors = normalize(rng.standard_normal((n, 24)) @ basis + 0.4 * rng.standard_normal((n, 384)))
    for start in range(0, n // 5, 4):  # near-duplicate groups of 2-4, some tight, some around the thresholds
        size = 2 + start % 3
        spread = (0.01, 0.025, 0.03)[start % 3]
        vectors[start + 1:start + size] = vectors[start] + spread * rng.standard_normal((size - 1, 384))
    vectors = normalize(vectors)
    items = [item(k + 1, f"Check the record {k // 4}", f"Look up record {k // 4} before acting. Detail {k}.",
                  status="approved" if k % 7 == 0 else "pending") for k in range(n)]
    for k in range(0, n // 5, 40):  # opposite advice on near-identical vectors: contradictions, never merged
        items[k + 1] = item(k + 2, f"Never check the record {k // 4}", f"Never look up record {k // 4} before acting.",
                            source="failure")
    return items, vectors


def test_plan_by_clusters_is_the_exact_plan_on_a_test_bank():
    """The cluster search (fleet size) is approximate; on this bank it must find every pair, so its plan is the
    exact one, action for action — and "auto" keeps the exact search below IVF_MIN_ROWS."""
    items, vectors = _pruning_size_bank()
    exact = plan(items, vectors, search="exact")
    assert plan(items, vectors, search="clusters") == exact
    assert plan(items, vectors) == exact
    assert sum(isinstance(a, Contradiction) for a in exact) > 5


def test_a_contradiction_the_cluster_search_missed_is_never_merged(monkeypatch):
    """Complete linkage checks similarities, not advice: if the search misses a contradicting pair, the two could
    still land in one group through a third item. The plan must surface the pair instead of that merge."""
    from bankcore.curate import consolidate
    from bankcore.search.similarity import Pairs, similar_pairs_ivf

    vectors = normalize(np.array([[1, 0.01, 0, 0], [1, 0, 0.012, 0], [1, 0, 0, 0.011], [0, 1, 0, 0]], np.float32))
    items = [item(1, "Ask the user to confirm before booking", "Ask the user to confirm before booking."),
             item(2, "Never ask the user to confirm before booking", "Never ask the user to confirm before booking."),
             item(3, "Get a yes first", "Get a yes from the customer first."),
             item(4, "Unrelated", "Something else.")]

    def missing_one(x, threshold):
        pairs, probe = similar_pairs_ivf(x, threshold)
        keep = ~((pairs.i == 0) & (pairs.j == 1))
        return Pairs(pairs.i[keep], pairs.j[keep], pairs.sim[keep]), probe

    monkeypatch.setattr(consolidate, "similar_pairs_ivf", missing_one)
    actions = plan(items, vectors, search="clusters")
    assert [(a.a, a.b) for a in actions if isinstance(a, Contradiction)] == [(1, 2)]
    assert not any(isinstance(a, Merge) and {1, 2} <= set(a.parent_ids) for a in actions)
    assert plan(items, vectors, search="exact") != actions  # the exact plan merges 3 with one of them
    with pytest.raises(ValueError, match="search must be"):
        plan(items, vectors, search="hnsw")


def test_heuristic_merge_drops_a_sentence_at_exactly_the_jaccard_line():
    # 7 shared words of 10 in all: Jaccard exactly 0.7, so the second sentence repeats the first and is dropped;
    # 6 of 10 stays. (The size shortcut must not turn 7/10 into "below 0.7" by rounding.)
    ten = "alpha bravo charlie delta echo foxtrot golf hotel india juliet."
    parents = [item(1, "A", ten), item(2, "B", "Alpha bravo charlie delta echo foxtrot golf."),
               item(3, "C", "Alpha bravo charlie delta echo foxtrot.")]
    assert heuristic_merge(parents).content == ten + " Alpha bravo charlie delta echo foxtrot."


@pytest.mark.parametrize("title, content", [
    ("Book the flight", "NEVER book\n the   flight."), ("Ask", "No\n need to   re-ask."),
    ("Check", "Stop\tguessing the ids."), ("Check", "Do  NOT retry."), ("Retry", "Avoid\u00a0retrying."),
    ("Prüfe", "Ne jamais réessayer. Never retry the Größe."), ("ask", "You shouldn't ask. Skipping is fine."),
])
def test_every_item_with_a_dont_sentence_is_checked_for_contradictions(title, content):
    """Planning checks a similar pair for contradictions only when one side may say "don't" (_may_negate): that
    must hold for every item some sentence of which has negative polarity, whatever its case and spacing."""
    from bankcore.curate.consolidate import _claims, _may_negate

    it = item(1, title, content)
    assert any(p < 0 for _, p in _claims(it))  # each case says "don't" somewhere
    assert _may_negate(it)
    assert not _may_negate(item(2, "Check the id", "Always look it up first. Note the nothing."))
