"""What a lesson set is, shared by the side that writes it (`read.exports`) and the side that takes it back in
(`curate.lesson_sets`): the format names, the JSON set's name and version, the section each source of lesson goes
under, and `visible_line`, the one rule for what lesson text may contain once it leaves the bank.

It sits in `curate` (below `read`) so that the importer, a writer, can share these with the exporter without
reaching up into the read model.
"""

from __future__ import annotations

import re

from ..guard.hidden import hidden_characters

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


# ASCII control characters that are not whitespace: dropped. (Whitespace of any kind becomes one space below.)
_ASCII_CONTROLS = {c: None for c in range(128) if not chr(c).isprintable() and not chr(c).isspace()}
# What needs a look of its own in a line that is not all ASCII: those controls, and every non-ASCII character.
_TO_CHECK = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_ASCII_CONTROLS)) + "]|[^\x00-\x7f]")
# Every ASCII control and whitespace character but " ": an ASCII line without one (and without a run of spaces or a
# space at either end) is already what visible_line makes of it.
_ASCII_CONTROL_OR_SPACE = re.compile(r"[\x00-\x1f\x7f]")


def visible_line(text: str | None) -> str:
    """`text` on one line with every control and invisible character gone: what an exported lesson may contain.
    Whitespace becomes single spaces; a character that is not printable, or that the guard counts as hidden
    (zero-width, bidi, tag), is dropped. Done by str.translate for ASCII text (its fast path) and one regex call per
    character to check otherwise, not a Python step per character: an export calls this ~7 times per lesson."""
    line = str(text or "")
    if line.isascii() and not _ASCII_CONTROL_OR_SPACE.search(line) and "  " not in line \
            and not line.startswith(" ") and not line.endswith(" "):
        return line  # most lesson text: nothing to drop or join; these checks cost 2.5x less than the line below
    line = line.translate(_ASCII_CONTROLS) if line.isascii() else _TO_CHECK.sub(_visible_character, line)
    return " ".join(line.split())  # str.split's whitespace is str.isspace's


def _visible_character(match: re.Match) -> str:
    c = match.group(0)
    if c.isspace():
        return " "
    return c if c.isprintable() and not hidden_characters(c) else ""
