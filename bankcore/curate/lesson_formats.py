"""What a lesson set is, shared by the side that writes it (`read.exports`) and the side that takes it back in
(`curate.lesson_sets`): the format names, the JSON set's name and version, the section each source of lesson goes
under, and `visible_line`, the one rule for what lesson text may contain once it leaves the bank.

It sits in `curate` (below `read`) so that the importer, a writer, can share these with the exporter without
reaching up into the read model.
"""

from __future__ import annotations

from ..guard.normalisation import hidden_characters

LESSON_FORMATS = ("md", "json", "playbook", "skill")
IMPORT_FORMATS = ("auto", *LESSON_FORMATS)  # what `import-lessons --format` takes
LESSONS_FORMAT = "bankcore-lessons"  # the JSON lesson set's `format`; `read_lessons` reads it back
LESSONS_VERSION = 1
# Each source of lesson is one section: its Markdown heading, and its ACE section title and bullet prefix (ACE's own
# slugs where ACE has the section: `err` for COMMON MISTAKES TO AVOID, `prob` for PROBLEM SOLVING HEURISTICS).
SECTIONS = {
    "success": ("What worked", "STRATEGIES & INSIGHTS", "str"),
    "failure": ("Mistakes to avoid", "COMMON MISTAKES TO AVOID", "err"),
    "contrast": ("What separated success from failure", "PROBLEM SOLVING HEURISTICS", "prob"),
    "merged": ("Consolidated lessons", "CONSOLIDATED LESSONS", "con"),
    "manual": ("Written by reviewers", "WRITTEN BY REVIEWERS", "man"),
}


def visible_line(text: str | None) -> str:
    """`text` on one line with every control and invisible character gone: what an exported lesson may contain."""
    kept = "".join(" " if c.isspace() else c for c in str(text or "")
                   if c.isspace() or (c.isprintable() and not (not c.isascii() and hidden_characters(c))))
    return " ".join(kept.split())
