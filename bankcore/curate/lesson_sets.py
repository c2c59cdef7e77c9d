"""Taking a lesson set back in: what `bankcore export-lessons` writes (JSON, Markdown, an ACE playbook, a SKILL.md),
and the same shapes written by hand — a JSON list of ``{title, description, content, domain?, source?}``, or
Markdown with one heading per lesson.

A lesson set is untrusted text from outside the bank, so every lesson
- passes the same injection gate as every other path that writes lesson text (`curate.lifecycle.add_item`, which
  runs `guard.gate.check_stored`; asked once before the write transaction too, so an LLM second opinion is never
  awaited while the bank is held);
- lands as PENDING, whatever the policy: its writer is `import:lesson-set`, an origin the policy never approves on
  its own (`policy.decide_new`), since an imported lesson has no evidence in this bank;
- says where it came from: the ADD event's `related["imported"]` (and the item's `meta["imported"]`) hold the file
  name, the file's sha256, the format, the lesson's place in the file and its key.

Re-importing adds nothing: a lesson whose title, content and domain an earlier import already brought in (its ADD
event holds the same key, whatever became of the item since), or that the bank holds already (a lesson set exported
from this very bank), is skipped and counted. The import is all or nothing:
the whole file is read and checked before anything is written, so a malformed file (not JSON, a lesson without its
title or content, a field of the wrong type, text over the limits) adds nothing and is refused with one located
error (file, lesson index or line, field); the lessons are then written in one transaction.

Signed sets. `export-lessons --key-file` writes ``FILE.sig`` beside the set (`curate.signing`: HMAC-SHA256 over the
file's exact bytes, naming its key by id). Given a key ring, the import checks that signature on the very bytes it
then parses, before anything else: an unsigned file, one signed by a key not in the ring, one altered, cut short or
added to, and another file's signature are refused in one line, and nothing is written. Without a key a signed set
imports as before and the report says its signature was not checked.

The formats' names and text rules are shared with the exporter (`read.exports`) through `curate.lesson_formats`; the
importer is a writer, so it lives here with the other writers and writes only through `curate.lifecycle`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BankcoreError, InputError, Where
from ..guard import gate
from ..models import ITEM_SOURCES, MemoryItem
from ..search.reembed import keep_similarity_vectors
from . import lifecycle, signing
from .lesson_formats import IMPORT_FORMATS, LESSON_FORMATS, LESSONS_FORMAT, LESSONS_VERSION, SECTIONS, visible_line

if TYPE_CHECKING:
    from ..search.embed import TextEmbedder
    from ..store.protocols import BankStore

WRITER = "import:lesson-set"  # the items' extractor id: an origin the policy never auto-approves
PROVENANCE = "imported"  # key of the ADD event's `related` and of the item's `meta`
DEFAULT_SOURCE = "manual"  # a lesson that names no source: written by people, like `review add`
# Limits on one lesson's text, after it is put on one line (a lesson is a title, a sentence and 1-3 sentences):
# far above what the extractor writes, far below what would swamp a prompt.
MAX_CHARS = {"title": 300, "description": 1000, "content": 4000, "domain": 200}
MAX_FILE_BYTES = 32 << 20
TEXT_KEYS = ("title", "description", "content", "domain", "source")


@dataclass(frozen=True)
class LessonIn:
    """One lesson as read from a file, checked: one-line visible text, within the limits."""

    title: str
    description: str
    content: str
    domain: str | None
    source: str
    where: Where  # the lesson's place in the file, for provenance and errors

    def key(self) -> str:
        """What makes two imported lessons the same: title, content and domain."""
        return hashlib.sha256(json.dumps([self.title, self.content, self.domain]).encode()).hexdigest()


@dataclass
class LessonSetReport:
    """What an import of a lesson set did."""

    file: str
    sha256: str
    format: str
    read: int = 0
    added: list[int] = field(default_factory=list)
    duplicates: int = 0  # already brought in by an import (this file or another), or twice in this file
    flagged: list[int] = field(default_factory=list)  # added, and held back by the injection gate
    signature: str | None = None  # "verified" (a key checked FILE.sig), "not checked" (signed, no key), None
    signed_by: str | None = None  # the id of the key whose signature was verified

    def counts(self) -> dict[str, Any]:
        """The report as `--json` prints it: counts first, then the ids behind them."""
        return {"file": self.file, "sha256": self.sha256, "format": self.format, "read": self.read,
                "added": len(self.added), "skipped_duplicates": self.duplicates, "flagged": len(self.flagged),
                "added_ids": self.added, "flagged_ids": self.flagged, "signature": self.signature,
                "signed_by": self.signed_by}

    def summary(self) -> str:
        text = (f"{self.file}: read {self.read} lessons ({self.format}), added {len(self.added)} as pending, "
                f"skipped {self.duplicates} as duplicates, {len(self.flagged)} flagged by the guard")
        if self.flagged:
            text += " (" + ", ".join(f"#{i}" for i in self.flagged) + ": a person decides)"
        if self.signature == "verified":
            text += f"; signature checked (key id {self.signed_by})"
        return text


# ---------------------------------------------------------------------- reading
def read_lesson_set(path: Path, fmt: str = "auto") -> tuple[str, str, list[LessonIn]]:
    """(format, sha256 of the file, its lessons), every lesson checked; bad input raises one located InputError."""
    path = Path(path)
    return parse_lesson_set(path, read_bytes(path), fmt)


def read_bytes(path: Path) -> bytes:
    """The file's bytes, read once (what a signature is checked on is what is parsed); one located error else."""
    where = Where(str(path))
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(where, f"{size} bytes; a lesson set is at most {MAX_FILE_BYTES} bytes")
        raw = path.read_bytes()
    except IsADirectoryError:
        raise InputError(where, "a folder, not a lesson-set file") from None
    except OSError as exc:
        raise InputError(where, exc.strerror or type(exc).__name__) from None
    return raw


def parse_lesson_set(path: Path, raw: bytes, fmt: str = "auto") -> tuple[str, str, list[LessonIn]]:
    """(format, sha256 of `raw`, its lessons): the bytes of the file at `path`, every lesson checked."""
    if fmt not in IMPORT_FORMATS:
        raise BankcoreError(f"unknown lesson-set format {fmt!r}: one of {', '.join(IMPORT_FORMATS)}")
    where = Where(str(path))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(where, f"not UTF-8 text (byte {exc.start})") from None
    fmt = detect_format(path, text) if fmt == "auto" else fmt
    parse = {"json": _json_lessons, "md": _markdown_lessons, "skill": _skill_lessons, "playbook": _playbook_lessons}
    return fmt, hashlib.sha256(raw).hexdigest(), parse[fmt](text, where)


_PLAYBOOK_LINE = re.compile(r"^\[([A-Za-z][\w]*)-(\d+)\]\s+helpful=(\d+)\s+harmful=(\d+)\s+::\s?(.*)$")


def detect_format(path: Path, text: str) -> str:
    """json for JSON, skill for front matter with a name, playbook for ACE bullets, else Markdown."""
    head = text.lstrip()
    lines = text.splitlines()
    first = head.split("\n", 1)[0].strip()
    if path.suffix.lower() == ".json" or (head[:1] in ("[", "{") and not _PLAYBOOK_LINE.match(first)):
        return "json"
    if lines and lines[0].strip() == "---" and any(line.startswith("name:") for line in lines[1:40]):
        return "skill"
    if any(_PLAYBOOK_LINE.match(line.strip()) for line in lines):
        return "playbook"
    return "md"


def _lesson(values: dict[str, Any], where: Where) -> LessonIn:
    """Check one lesson's fields (types, presence, limits) and put its text on one visible line."""
    checked: dict[str, str | None] = {}
    for key in TEXT_KEYS:
        value = values.get(key)
        if value is not None and not isinstance(value, str):
            raise InputError(where.at(key), f"expected a string, got {type(value).__name__}")
        text = visible_line(value) if value is not None else ""
        if key in ("title", "content") and not text:
            raise InputError(where.at(key), "missing" if value is None else "empty")
        if len(text) > MAX_CHARS.get(key, 40):
            raise InputError(where.at(key), f"{len(text)} characters; at most {MAX_CHARS.get(key, 40)}")
        checked[key] = text or None
    source = checked["source"] or DEFAULT_SOURCE
    if source not in ITEM_SOURCES:
        raise InputError(where.at("source"), f"{source!r} is not one of {', '.join(ITEM_SOURCES)}")
    # Markdown and playbook sets carry no description: the title stands in, so retrieval (title + description) and
    # every screen that shows one still have words that are the lesson's own.
    return LessonIn(title=checked["title"], description=checked["description"] or checked["title"],
                    content=checked["content"], domain=checked["domain"], source=source, where=where)


# ---- JSON
def _json_lessons(text: str, where: Where) -> list[LessonIn]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(Where(where.file, exc.lineno), f"not JSON: {exc.msg}") from None
    except (RecursionError, ValueError) as exc:
        raise InputError(where, f"not usable JSON: {type(exc).__name__}") from None
    rows, base = data, where
    if isinstance(data, dict):
        if "format" in data and data["format"] != LESSONS_FORMAT:
            raise InputError(where.at("format"), f"{data['format']!r}, not a {LESSONS_FORMAT} file")
        if "format" in data and data.get("version") != LESSONS_VERSION:
            raise InputError(where.at("version"), f"version {data.get('version')!r}; this bankcore reads "
                                                  f"{LESSONS_VERSION}")
        rows, base = data.get("lessons"), where.at("lessons")
        if not isinstance(rows, list):
            raise InputError(base, "expected a list of lessons")
        if "count" in data and data["count"] != len(rows):
            raise InputError(where.at("count"), f"says {data['count']!r}, the file holds {len(rows)} lessons")
    elif not isinstance(data, list):
        raise InputError(where, f"expected a list of lessons or a {LESSONS_FORMAT} file, got {type(data).__name__}")
    lessons = []
    for i, row in enumerate(rows):
        at = base.at(f"[{i}]")
        if not isinstance(row, dict):
            raise InputError(at, f"expected an object, got {type(row).__name__}")
        lessons.append(_lesson(row, at))
    return lessons


# ---- Markdown, as export-lessons writes it (inert) or as a person writes it (a heading per lesson)
_MARKS = set("\\`*_[]|~$")
_ENTITY = re.compile("&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_EXPORTED_BULLET = re.compile(r"^- \*\*")
_FIELD_LINE = re.compile(r"^(domain|description|source)\s*:\s*(.*)$", re.IGNORECASE)
EXPORT_TITLE = "# Lessons from past tasks"  # the heading export-lessons' Markdown starts with (none: no bullets)
_SECTION_SOURCES = {heading: source for source, (heading, _, _) in SECTIONS.items()}


def _scan(text: str, stop: str | None = None) -> tuple[str, str | None]:
    """`markdown_inert`'s text back as written: backslash escapes and `&amp;`/`&lt;`/`&gt;` undone in the prose, a
    code span kept as it is. With `stop`, only up to its first occurrence outside escapes and code spans: (text
    before it unescaped, the raw rest after it), the rest None when `stop` never occurs."""
    out, prose = [], []

    def flush():
        out.append(_ENTITY.sub(lambda m: _ENTITIES[m.group(1)], "".join(prose)))
        prose.clear()

    i = 0
    while i < len(text):
        if stop is not None and text.startswith(stop, i):
            flush()
            return "".join(out), text[i + len(stop):]
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in _MARKS:
            prose.append(text[i + 1])
            i += 2
            continue
        if c == "`" and (end := text.find("`", i + 1)) > i + 1:
            flush()
            out.append(text[i:end + 1])
            i = end + 1
            continue
        prose.append(c)
        i += 1
    flush()
    return "".join(out), None


def markdown_text(inert: str) -> str:
    """The inverse of `read.exports.markdown_inert` on its output."""
    return _scan(inert)[0]


def _markdown_lessons(text: str, where: Where, first_line: int = 1) -> list[LessonIn]:
    lines = text.splitlines()
    heading = next((line.strip() for line in lines if _HEADING.match(line)), None)
    if heading == EXPORT_TITLE or any(_EXPORTED_BULLET.match(line) for line in lines):
        return _exported_markdown(lines, where, first_line)
    return _headed_markdown(lines, where, first_line)


def _exported_markdown(lines: list[str], where: Where, first_line: int) -> list[LessonIn]:
    """`- **title**: content` bullets under source headings, each followed by its `_#id · source · domain · …_`."""
    lessons, source = [], DEFAULT_SOURCE
    for n, line in enumerate(lines):
        at = Where(where.file, first_line + n)
        heading = _HEADING.match(line)
        if heading:
            source = _SECTION_SOURCES.get(heading.group(2), DEFAULT_SOURCE)
            continue
        if not _EXPORTED_BULLET.match(line):
            continue
        title, rest = _scan(line[len("- **"):].rstrip(), "**:")
        if rest is None:
            raise InputError(at.at("title"), "a lesson bullet is `- **title**: content`; no `**:` after the title")
        values = {"title": title, "content": markdown_text(rest.strip()), "source": source}
        facts = lines[n + 1].strip() if n + 1 < len(lines) else ""
        if facts.startswith("_#") and facts.endswith("_"):
            parts = facts[1:-1].split(" · ")
            if len(parts) > 2:
                domain = markdown_text(parts[2])
                values["domain"] = None if domain == "any domain" else domain
                values["source"] = parts[1] if parts[1] in ITEM_SOURCES else source
        lessons.append(_lesson(values, at))
    return lessons


def _headed_markdown(lines: list[str], where: Where, first_line: int) -> list[LessonIn]:
    """A person's Markdown: each heading with no deeper heading under it is a lesson (the heading its title, the text
    under it its content; leading `Domain:`, `Description:` or `Source:` lines set those). A heading with deeper ones
    under it (`# Team lessons` over `## …`) groups them, and its text is an introduction."""
    headings: list[tuple[int, int, str]] = []  # (line index, level, title)
    fenced = False
    for n, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and (heading := _HEADING.match(line)):
            headings.append((n, len(heading.group(1)), heading.group(2)))
    if not headings:
        raise InputError(where, "no lessons: expected one Markdown heading per lesson (`## Title`, then its text)")
    lessons = []
    for k, (n, level, title) in enumerate(headings):
        end = headings[k + 1][0] if k + 1 < len(headings) else len(lines)
        body = [line.strip() for line in lines[n + 1:end]]
        values: dict[str, Any] = {"title": title}
        while body and (not body[0] or _FIELD_LINE.match(body[0])):
            if body[0]:
                key, value = _FIELD_LINE.match(body[0]).groups()
                values[key.lower()] = value
            body.pop(0)
        if k + 1 < len(headings) and headings[k + 1][1] > level:
            continue  # a heading over deeper ones groups them: its text is an introduction, not a lesson
        content = " ".join(line for line in body if line)
        values["content"] = content or None
        lessons.append(_lesson(values, Where(where.file, first_line + n)))
    return lessons


def _skill_lessons(text: str, where: Where) -> list[LessonIn]:
    """A SKILL.md: YAML front matter (`---` … `---`, with a `name`), then the Markdown lesson set."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise InputError(Where(where.file, 1), "a SKILL.md starts with `---` front matter")
    close = next((n for n in range(1, len(lines)) if lines[n].strip() == "---"), None)
    if close is None:
        raise InputError(Where(where.file, 1), "the front matter has no closing `---`")
    if not any(line.startswith("name:") for line in lines[1:close]):
        raise InputError(Where(where.file, 2, "name"), "the front matter names no skill")
    return _markdown_lessons("\n".join(lines[close + 1:]), where, first_line=close + 2)


# ---- ACE playbook
_PREFIX_SOURCES = {prefix: source for source, (_, _, prefix) in SECTIONS.items()}
_DOMAIN_SUFFIX = re.compile(r"^(.*\S) \(([^()]+)\)$")
TITLE_WORDS = 12  # an ACE bullet has no title: its first words stand in


def _playbook_lessons(text: str, where: Where) -> list[LessonIn]:
    """`[prefix-00042] helpful=H harmful=M :: text` bullets; bankcore's are `title (domain): content`, ACE's own are
    the content alone (its first words become the title). Other lines (section headings, prose) are skipped, as
    ACE's own parser skips them; a line that starts like a bullet but is not one is an error."""
    lessons = []
    for n, line in enumerate(text.splitlines()):
        at = Where(where.file, n + 1)
        stripped = line.strip()
        bullet = _PLAYBOOK_LINE.match(stripped)
        if bullet is None:
            if re.match(r"^\[[A-Za-z]+-\d+\]", stripped):
                raise InputError(at, "a playbook bullet is `[prefix-00001] helpful=N harmful=N :: text`")
            continue
        prefix, body = bullet.group(1), bullet.group(5).strip()
        head, rest = _scan(body, ": ")
        values: dict[str, Any] = {"source": _PREFIX_SOURCES.get(prefix, DEFAULT_SOURCE)}
        if rest is None:
            content = markdown_text(body)
            values.update(content=content, title=" ".join(content.split()[:TITLE_WORDS]) or None)
        else:
            raw_head = body[:len(body) - len(rest) - 2]
            suffix = _DOMAIN_SUFFIX.match(raw_head)
            if suffix:
                head, values["domain"] = markdown_text(suffix.group(1)), markdown_text(suffix.group(2))
            values.update(title=head, content=markdown_text(rest))
        lessons.append(_lesson(values, at))
    return lessons


# ---------------------------------------------------------------------- writing
def imported_keys(store: BankStore) -> set[str]:
    """The keys of every lesson an import ever brought into this bank (from the ADD events: an item edited,
    merged or rejected since still counts as brought in)."""
    return {e.related[PROVENANCE].get("key") for e in store.events_of_kind(["ADD"])
            if isinstance(e.related.get(PROVENANCE), dict)}


def _in_the_bank(store: BankStore, lesson: LessonIn) -> bool:
    """Whether an item of this bank, whatever its status, has exactly this title, content and domain."""
    return any((item.title, item.content, item.domain) == (lesson.title, lesson.content, lesson.domain)
               for item in store.query_items(text=lesson.title, domain=lesson.domain))


def import_lessons(store: BankStore, embedder: TextEmbedder, path: str | Path, *, actor: str, fmt: str = "auto",
                   domain: str | None = None, key: signing.ExportKey | signing.KeyRing | None = None
                   ) -> LessonSetReport:
    """Add the lessons of the file at `path` as pending items (see the module's doc). `domain`: the domain of the
    lessons that name none. `key` (a key or a ring): the file must carry a valid signature by one of its keys.
    Nothing is written unless the whole file reads (and, with a key, is as it was signed)."""
    path = Path(path)
    fmt, digest, lessons, signed_by = _checked_lesson_set(path, fmt, key)
    if domain is not None:
        domain = visible_line(domain) or None
        lessons = [lesson if lesson.domain else _with_domain(lesson, domain) for lesson in lessons]
    report = LessonSetReport(file=path.name, sha256=digest, format=fmt, read=len(lessons), signed_by=signed_by,
                             signature="verified" if signed_by else
                             "not checked" if signing.has_signature(path) else None)
    new: list[tuple[LessonIn, MemoryItem]] = []
    with store.reading():  # one connection for the look-ups, not one per lesson
        seen = imported_keys(store)
        fresh = []
        for lesson in lessons:
            lesson_key = lesson.key()
            if lesson_key in seen or _in_the_bank(store, lesson):
                report.duplicates += 1
            else:
                seen.add(lesson_key)
                fresh.append((lesson, lesson_key))
    for lesson, lesson_key in fresh:
        provenance = {"file": path.name, "sha256": digest, "format": fmt, "line": lesson.where.line,
                      "field": lesson.where.field, "key": lesson_key}
        if signed_by:  # who vouched for the file: the id of the key its signature was checked with
            provenance["signed_by"] = signed_by
        new.append((lesson, MemoryItem(title=lesson.title, description=lesson.description, content=lesson.content,
                                       source=lesson.source, status="pending", domain=lesson.domain,
                                       extractor_id=WRITER, meta={PROVENANCE: provenance})))
    if not new:
        return report
    items = [item for _, item in new]
    embedder.embed_items(items)
    opinion = getattr(store, "second_opinion", None)
    for item in items:  # the gate, asked before the transaction: add_item asks again, and finds it answered
        gate.check_stored(item, lambda: [], opinion_source=opinion)
    since = store.last_event_id()
    reason = f"imported from {path.name} (sha256 {digest[:12]}…): no evidence in this bank, a person decides"
    batch = store.new_batch_id("import-lessons")
    with store.transaction():
        for lesson, item in new:
            lifecycle.add_item(store, item, [], actor=actor, reason=reason, batch_id=batch,
                               related={PROVENANCE: item.meta[PROVENANCE]})
            report.added.append(item.item_id)
            if any(f in gate.HOLDING_FLAGS for f in item.flags):
                report.flagged.append(item.item_id)
    keep_similarity_vectors(store, embedder, changed_since=since)
    return report


def _checked_lesson_set(path: Path, fmt: str, key: signing.ExportKey | signing.KeyRing | None
                        ) -> tuple[str, str, list[LessonIn], str | None]:
    """`parse_lesson_set` of the file's bytes, with a key after checking its signature on those same bytes; the
    last value is the id of the key that signed it (None without a key)."""
    raw = read_bytes(path)
    signed_by = None if key is None else signing.verify_detached(path, raw, key, kind="lesson-set")
    return (*parse_lesson_set(path, raw, fmt), signed_by)


def _with_domain(lesson: LessonIn, domain: str | None) -> LessonIn:
    if domain is not None and len(domain) > MAX_CHARS["domain"]:
        raise InputError(Where("--domain"), f"{len(domain)} characters; at most {MAX_CHARS['domain']}")
    return LessonIn(lesson.title, lesson.description, lesson.content, domain, lesson.source, lesson.where)
