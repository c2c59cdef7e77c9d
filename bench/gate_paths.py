"""The injection gate, path by path: how many poisoned lessons reach an agent's prompt, and how many benign ones are
held back, through each way lesson text gets into a bank.

Lessons: the authored poisoned lessons (tests/fixtures/injections/lessons.jsonl) and the benign ones
(tests/fixtures/lessons.jsonl). Paths, each on a fresh real bank (real DuckDB, real embeddings):
- manual add: a reviewer writes the lesson (`review add`, approved as written unless the gate holds it);
- edit: a reviewer rewrites an approved lesson's content with it (`review edit` / the dashboard);
- LLM merge: two approved LLM lessons merged, the model writing the lesson as the merged text (the attack of issue
  15: an endpoint returning a poisoned merge; by policy a clean merge of approved parents is approved);
- import-bank: an export whose approved item's text (and its history) was replaced by the lesson.
"Reaches the prompt" = approved afterwards (only approved items are retrieved). Before the gate none of these paths
ran the guard, so every poisoned lesson reached the prompt on all four.

Usage: python bench/gate_paths.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bankcore import Bank, curation, exchange  # noqa: E402
from bankcore.consolidate import Merge  # noqa: E402
from bankcore.embed import Embedder  # noqa: E402
from bankcore.models import MemoryItem  # noqa: E402

POISONED = ROOT / "tests" / "fixtures" / "injections" / "lessons.jsonl"
BENIGN = ROOT / "tests" / "fixtures" / "lessons.jsonl"


def lessons(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def approved_llm_items(bank: Bank, n: int, seed_lessons: list[dict]) -> list[MemoryItem]:
    """`n` approved, clean LLM lessons to edit, merge or tamper with."""
    items = [MemoryItem(f"{s['title']} ({k})", s["description"], s["content"], source="success", status="approved",
                        domain="bench", extractor_id="llm:bench", confidence=0.8)
             for k, s in ((k, seed_lessons[(k + 1) % len(seed_lessons)]) for k in range(n))]
    Embedder().embed_items(items)
    for item in items:
        curation.add_item(bank.store, item, [], actor="llm:bench")
    return items


def manual_add(tmp: Path, texts: list[dict], seeds: list[dict]) -> list[bool]:
    bank = Bank(tmp / "manual.duckdb")
    return [bank.write_lesson(title=t["title"], description=t["description"], content=t["content"],
                              actor="human:bench").status == "approved" for t in texts]


def edit(tmp: Path, texts: list[dict], seeds: list[dict]) -> list[bool]:
    bank = Bank(tmp / "edit.duckdb")
    items = approved_llm_items(bank, len(texts), seeds)
    return [bank.edit(item.item_id, actor="human:bench", content=t["content"]).status == "approved"
            for item, t in zip(items, texts)]


def llm_merge(tmp: Path, texts: list[dict], seeds: list[dict]) -> list[bool]:
    bank = Bank(tmp / "merge.duckdb")
    items = approved_llm_items(bank, 2 * len(texts), seeds)
    reached = []
    for k, t in enumerate(texts):
        a, b = items[2 * k], items[2 * k + 1]
        reply = json.dumps({"decision": "merge", "absorbs": [a.item_id, b.item_id], "title": t["title"],
                            "description": t["description"], "content": t["content"], "reason": "same lesson"})
        merge = Merge(parent_ids=(a.item_id, b.item_id), seen_event_ids=(a.last_event_id, b.last_event_id),
                      domain="bench", review_state="approved", min_similarity=0.9, mean_similarity=0.9)
        _, report = bank.consolidate(llm=True, complete=lambda messages, reply=reply: reply, model="bench",
                                     actions=[merge])
        [(child, _)] = report.merged
        reached.append(bank.item(child).status == "approved")
    return reached


def import_bank(tmp: Path, texts: list[dict], seeds: list[dict]) -> list[bool]:
    source = Bank(tmp / "export-source.duckdb")
    items = approved_llm_items(source, len(texts), seeds)
    out = tmp / "tampered.jsonl"
    source.export(out)
    by_id = {item.item_id: t for item, t in zip(items, texts)}
    records = [json.loads(line) for line in out.read_text().splitlines()]
    for record in records:
        text = by_id.get(record.get("item_id"))
        if text and record["type"] == "item":
            record.update(title=text["title"], description=text["description"], content=text["content"])
        if text and record["type"] == "event":
            record["after"].update(title=text["title"], description=text["description"], content=text["content"])
    out.write_text("".join(exchange.seal(records)))  # a forger recomputes the keyless chain
    restored = Bank(tmp / "imported.duckdb")
    restored.import_bank(out)
    return [restored.item(item.item_id).status == "approved" for item in items]


PATHS = {"manual add": manual_add, "edit": edit, "LLM merge": llm_merge, "import-bank": import_bank}


def main() -> None:
    poisoned, benign = lessons(POISONED), lessons(BENIGN)
    print(f"{len(poisoned)} poisoned lessons, {len(benign)} benign; 'reached' = approved afterwards (retrievable)")
    print(f"{'path':<12} {'poisoned reaching the prompt':>30} {'benign held back':>18}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, run in PATHS.items():
            bad_dir, good_dir = Path(tmp) / f"{name}-poisoned", Path(tmp) / f"{name}-benign"
            bad_dir.mkdir()
            good_dir.mkdir()
            bad, good = run(bad_dir, poisoned, benign), run(good_dir, benign, benign)
            print(f"{name:<12} {sum(bad):>17} / {len(bad):<3} ({sum(bad) / len(bad):5.1%}) "
                  f"{len(good) - sum(good):>6} / {len(good):<3} ({1 - sum(good) / len(good):5.1%})")


if __name__ == "__main__":
    main()
