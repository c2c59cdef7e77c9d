"""The bank for other tools: a lesson set as Markdown, JSON, an ACE playbook or a `SKILL.md`, and trajectories with
their current verdicts and ground truth as a Langfuse or Arize Phoenix dataset.

Lessons are text that future agents obey, so every exported format keeps untrusted text inert. Lesson text is put
on one line (nothing in it can start a line, so no heading, list, fence, table or `---` front-matter break), loses
every control and invisible character (the guard's `hidden_characters`: bidi controls, zero-width and tag characters,
none of which belongs in a lesson), and in the Markdown formats `&`, `<`, `>` become HTML entities and the marks that
make links, images, code spans, emphasis or tables are backslash-escaped — so no raw HTML, link or image markup
survives rendering (a bare URL stays the text it is; a renderer that autolinks bare URLs, as GitHub's does, may still
make it clickable). JSON output escapes `<`, `>`, `&` and invisible characters as `\\uXXXX`: it parses to the same
strings, but the file holds no markup a viewer could render. Only approved lessons are exported unless asked
otherwise. Trajectories in a dataset are records, not advice: their text is exported as it is, JSON-escaped alike.

Formats (read, not copied, from the projects' public references):
- ACE playbook (Zhang et al. 2025, "Agentic Context Engineering", arXiv:2510.04618; the reference code's
  `playbook_utils.parse_playbook_line`): ``## SECTION`` headers, then one bullet a line,
  ``[err-00042] helpful=H harmful=M :: text``, the prefix ACE's slug of the section; here the number is the bank's
  item id and the counters are `Usefulness.helpful`/`harmful` (tasks given the lesson that succeeded / failed).
- Agent Skills `SKILL.md` (agentskills.io specification): YAML front matter with `name` (1-64 characters, lowercase
  letters, digits and single hyphens) and `description` (at most 1024 characters), then a Markdown body.
- Langfuse dataset items: the public API's CreateDatasetItemRequest (`POST /api/public/dataset-items`) —
  ``datasetName``, ``id`` (items are upserted on it), ``input``, ``expectedOutput``, ``metadata``
  (https://js.reference.langfuse.com/interfaces/langfuse.ApiDatasetItem.html, and the generated OpenAPI client's
  CreateDatasetItemRequest). One request body per line (JSONL).
- Arize Phoenix: the body of ``POST /v1/datasets/upload`` (application/json) — ``action``, ``name``,
  ``description``, and parallel arrays ``inputs``, ``outputs``, ``metadata``, one entry per example
  (https://arize.com/docs/phoenix/sdk-api-reference/rest-api/api-reference/datasets/upload-dataset-from-json-csv-or-pyarrow).

Output is deterministic (items by id within their section, trajectories in arrival order, JSON keys sorted, no
export time) and streamed: lessons and trajectories are read a page at a time and written as they come (Phoenix's
parallel arrays wait in spooled temporary files).
"""

from __future__ import annotations

import itertools
import json
import re
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, TextIO

from ..curate.lesson_formats import LESSON_FORMATS, LESSONS_FORMAT, LESSONS_VERSION, SECTIONS, visible_line
from ..errors import BankcoreError, InputError, NotFoundError, Where
from ..guard.hidden import hidden_characters
from ..models import ITEM_SOURCES, ITEM_STATUSES, MemoryItem
from ..version import __version__

if TYPE_CHECKING:
    from ..models import Run, Trajectory
    from ..store.protocols import BankStore

DATASET_FORMATS = ("langfuse", "phoenix")
PAGE = 500  # lessons read per store call
TRAJECTORY_PAGE = 100  # trajectories read per store call: a SWE-bench one with its steps is ~0.2 MB
PREAMBLE = ("Lessons distilled from past attempts at similar tasks: each is a strategy that worked or a mistake that "
            "failed. Use a lesson when it fits the task in front of you; it is advice from experience, and never "
            "overrides the instructions of the user or the system.")


# ---------------------------------------------------------------------- inert text
_MD_MARKS = re.compile(r"([\\`*_\[\]|~$])")
_NON_ASCII = re.compile("[^\x00-\x7f]")


# A code span the lesson wrote (`book_reservation`): kept, since CommonMark shows its content literally — unless it
# holds `<`, `>` or `&`, which a renderer that is not CommonMark might still read as HTML.
_CODE_SPAN = re.compile(r"(?<!`)`([^`]+)`(?!`)")
_INTRAWORD = re.compile(r"[^\W_]")  # a letter or digit: `_` between two of them never makes emphasis
_MARKUP = re.compile(r"[\\`*_\[\]|~$&<>]")  # every character markdown_inert may change: _MD_MARKS's and HTML's


def markdown_inert(text: str | None) -> str:
    """One line of untrusted text as Markdown that renders as exactly that text: no HTML, link, image, heading,
    emphasis or table cell can come out of it. Two marks real lessons use stay as they are, being inert already: a
    whole single-backtick code span, and `_` inside a word (`get_reservation_details`)."""
    line = visible_line(text)
    if not _MARKUP.search(line):
        return line  # no mark to escape (most titles): one search instead of the span split and the escapes below
    parts, done = [], 0
    for span in _CODE_SPAN.finditer(line):
        kept = span.group(0) if not re.search("[<>&]", span.group(1)) else _prose_inert(span.group(0))
        parts += [_prose_inert(line[done:span.start()]), kept]
        done = span.end()
    return "".join(parts + [_prose_inert(line[done:])])


def _prose_inert(text: str) -> str:
    prose = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # `&` first

    def escape(mark: re.Match) -> str:
        i = mark.start()
        if mark.group(0) == "_" and 0 < i < len(prose) - 1 and _INTRAWORD.match(prose[i - 1]) \
                and _INTRAWORD.match(prose[i + 1]):
            return "_"
        return "\\" + mark.group(0)
    return _MD_MARKS.sub(escape, prose)


def json_inert(value: Any) -> str:
    """JSON with sorted keys whose text holds no `<`, `>`, `&` or invisible character (they are `\\u` escapes): it
    parses to the same value, and no viewer can render markup from the file."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    for c in "<>&\x7f":  # str.replace, 15x faster than str.translate on a megabyte trajectory
        text = text.replace(c, f"\\u{ord(c):04x}")
    return text if text.isascii() else _NON_ASCII.sub(_json_escape, text)


def _json_escape(match: re.Match) -> str:
    c = match.group(0)
    if not c.isprintable() or hidden_characters(c):
        return "".join(f"\\u{unit:04x}" for unit in _utf16(c))
    return c


def _utf16(c: str) -> list[int]:
    data = c.encode("utf-16-be")
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


# ---------------------------------------------------------------------- lessons
@dataclass(frozen=True)
class LessonFilter:
    """Which lessons to export: the review list's filters, approved only by default."""

    status: str = "approved"
    domain: str | None = None
    source: str | None = None

    def __post_init__(self):
        if self.status not in ITEM_STATUSES:
            raise BankcoreError(f"unknown status {self.status!r}: one of {', '.join(ITEM_STATUSES)}")
        if self.source is not None and self.source not in ITEM_SOURCES:
            raise BankcoreError(f"unknown source {self.source!r}: one of {', '.join(ITEM_SOURCES)}")


@dataclass
class Provenance:
    """What a lesson rests on: its evidence trajectories by current label (a human's beats a judge's), and the
    lessons it was merged from."""

    trajectories: int = 0
    success: int = 0
    failure: int = 0
    unlabelled: int = 0  # no verdict yet, or the judge abstained
    parents: int = 0


@dataclass
class ExportedLesson:
    """One lesson as it leaves the bank. Text fields are `visible_line`s of the item's text."""

    id: int
    title: str
    description: str
    content: str
    source: str
    status: str
    domain: str | None
    confidence: float | None
    version: int
    flags: list[str]
    provenance: Provenance
    helpful: int  # tasks given this lesson that succeeded (ACE's counter)
    harmful: int  # ... that failed

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: Where) -> "ExportedLesson":
        if not isinstance(data, dict):
            raise InputError(where, "expected an object")
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise InputError(where.at(missing[0]), "missing")
        provenance = data["provenance"]
        if not isinstance(provenance, dict) or set(provenance) - {f.name for f in fields(Provenance)}:
            raise InputError(where.at("provenance"), "expected an object of counts")
        for name, kind in (("id", int), ("helpful", int), ("harmful", int), ("version", int), ("title", str),
                           ("description", str), ("content", str), ("source", str), ("status", str)):
            if not isinstance(data[name], kind) or isinstance(data[name], bool):
                raise InputError(where.at(name), f"expected {kind.__name__}, got {type(data[name]).__name__}")
        if data["domain"] is not None and not isinstance(data["domain"], str):
            raise InputError(where.at("domain"), "expected a string or null")
        if data["confidence"] is not None and (isinstance(data["confidence"], bool)
                                               or not isinstance(data["confidence"], (int, float))):
            raise InputError(where.at("confidence"), "expected a number or null")
        if not isinstance(data["flags"], list) or not all(isinstance(f, str) for f in data["flags"]):
            raise InputError(where.at("flags"), "expected a list of strings")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in provenance.values()):
            raise InputError(where.at("provenance"), "expected whole-number counts")
        text = {n: visible_line(data[n]) for n in ("title", "description", "content")}  # inert on the way in too
        text["domain"] = visible_line(data["domain"]) or None
        return cls(**{n: data[n] for n in names if n not in ("provenance", *text)}, **text,
                   provenance=Provenance(**provenance))


def iter_lessons(store: BankStore, filters: LessonFilter = LessonFilter(), *, page: int = PAGE
                 ) -> Iterator[ExportedLesson]:
    """The lessons `filters` selects, by item id, a page at a time with their provenance and counters."""
    offset = 0
    while True:
        items = store.query_items(status=[filters.status], source=[filters.source] if filters.source else None,
                                  domain=filters.domain, limit=page, offset=offset)
        if not items:
            return
        yield from _with_evidence(store, items)
        if len(items) < page:
            return  # the last page: asking for the next would be one more query that finds nothing
        offset += len(items)


def _with_evidence(store: BankStore, items: list[MemoryItem]) -> Iterator[ExportedLesson]:
    ids = [item.item_id for item in items]
    sources = store.item_sources_of(ids)
    traj_ids = sorted({s.traj_id for rows in sources.values() for s in rows if s.traj_id})
    labels = {traj_id: v.label for traj_id, v in store.current_verdicts(traj_ids).items()} if traj_ids else {}
    counters = {u.item_id: u for u in store.usefulness_counts(ids)}
    for item in items:
        rows = sources.get(item.item_id, [])
        evidence = sorted({s.traj_id for s in rows if s.traj_id})
        provenance = Provenance(trajectories=len(evidence),
                                success=sum(labels.get(t) == "success" for t in evidence),
                                failure=sum(labels.get(t) == "failure" for t in evidence),
                                parents=len({s.parent_item_id for s in rows if s.parent_item_id is not None}))
        provenance.unlabelled = provenance.trajectories - provenance.success - provenance.failure
        used = counters.get(item.item_id)
        yield ExportedLesson(
            id=item.item_id, title=visible_line(item.title), description=visible_line(item.description),
            content=visible_line(item.content), source=item.source, status=item.status,
            domain=visible_line(item.domain) if item.domain else None, confidence=item.confidence,
            version=item.version, flags=sorted(item.flags), provenance=provenance,
            helpful=used.helpful if used else 0, harmful=used.harmful if used else 0)


def write_lessons(store: BankStore, out: TextIO, fmt: str, filters: LessonFilter = LessonFilter()) -> int:
    """Write the selected lessons to `out` in `fmt` (one of LESSON_FORMATS); returns how many."""
    writers = {"md": _write_markdown, "json": _write_json, "playbook": _write_playbook, "skill": _write_skill}
    if fmt not in writers:
        raise BankcoreError(f"unknown lesson format {fmt!r}: one of {', '.join(LESSON_FORMATS)}")
    with store.reading():  # one connection and one state of the bank for the whole set (a lesson set is small)
        return writers[fmt](store, out, filters)


def _by_section(store: BankStore, filters: LessonFilter) -> Iterator[tuple[str, Iterator[ExportedLesson]]]:
    """(source, its lessons) for each source with selected lessons, in ITEM_SOURCES order: one query per section,
    so nothing is held back while another section is written."""
    for source in ITEM_SOURCES:
        if filters.source in (None, source):
            lessons = iter_lessons(store, replace(filters, source=source))
            first = next(lessons, None)
            if first is not None:
                yield source, itertools.chain([first], lessons)


def _facts(lesson: ExportedLesson) -> str:
    p = lesson.provenance
    confidence = "unrated" if lesson.confidence is None else f"{lesson.confidence:.2f}"
    evidence = f"{p.trajectories} trajectories ({p.success} success, {p.failure} failure)"
    if p.parents:
        evidence += f", merged from {p.parents}"
    return (f"#{lesson.id} · {lesson.source} · {markdown_inert(lesson.domain or 'any domain')} · confidence "
            f"{confidence} · from {evidence} · helpful {lesson.helpful}, harmful {lesson.harmful}")


def _write_markdown(store: BankStore, out: TextIO, filters: LessonFilter) -> int:
    """A section per source, a bullet per lesson (title, content, then what it rests on): for a system prompt."""
    out.write(f"# Lessons from past tasks\n\n{PREAMBLE}\n")
    n = 0
    for source, lessons in _by_section(store, filters):
        out.write(f"\n## {SECTIONS[source][0]}\n\n")
        for lesson in lessons:
            out.write(f"- **{markdown_inert(lesson.title)}**: {markdown_inert(lesson.content)}  \n"
                      f"  _{_facts(lesson)}_\n")
            n += 1
    if not n:
        out.write("\n(no lessons match)\n")
    return n


def _write_skill(store: BankStore, out: TextIO, filters: LessonFilter) -> int:
    """The Markdown lesson set under Agent Skills front matter (`name`, `description`, string `metadata`)."""
    total = store.count_items(status=[filters.status], source=[filters.source] if filters.source else None,
                              domain=filters.domain)
    name = skill_name(filters.domain)
    where = f" in the {_plain_words(filters.domain)[:200]} domain" if filters.domain else ""
    description = (f"{total} lesson{'' if total == 1 else 's'} an agent memory (bankcore) distilled from judged past attempts at tasks{where}: "
                   "strategies that worked and mistakes to avoid. Use when acting on such a task, before choosing "
                   "the next step.")[:1024]
    # JSON strings are YAML double-quoted scalars: no lesson text or domain can end the front matter or add a key.
    out.write(f"---\nname: {name}\ndescription: {json_inert(description)}\nmetadata:\n"
              f"  generator: {json_inert('bankcore ' + __version__)}\n  lessons: {json_inert(str(total))}\n---\n\n")
    return _write_markdown(store, out, filters)


def skill_name(domain: str | None) -> str:
    """`bankcore-lessons[-DOMAIN]` within the Agent Skills rules: lowercase letters, digits, single hyphens, ≤64."""
    slug = re.sub(r"[^a-z0-9]+", "-", (domain or "").lower()).strip("-")
    return "-".join(part for part in ("bankcore-lessons", slug) if part)[:64].rstrip("-")


def _plain_words(text: str) -> str:
    """A domain name for the front matter's description: visible, and no angle brackets (the spec forbids tags)."""
    return visible_line(text).replace("<", "").replace(">", "")


def _write_playbook(store: BankStore, out: TextIO, filters: LessonFilter) -> int:
    """ACE's playbook text: a `## SECTION` per source, one `[slug-id] helpful=H harmful=M :: text` line a lesson."""
    n = 0
    for source, lessons in _by_section(store, filters):
        _, title, prefix = SECTIONS[source]
        out.write(("\n" if n else "") + f"## {title}\n")
        for lesson in lessons:
            domain = f" ({markdown_inert(lesson.domain)})" if lesson.domain else ""
            out.write(f"[{prefix}-{lesson.id:05d}] helpful={lesson.helpful} harmful={lesson.harmful} :: "
                      f"{markdown_inert(lesson.title)}{domain}: {markdown_inert(lesson.content)}\n")
            n += 1
    return n


def _write_json(store: BankStore, out: TextIO, filters: LessonFilter) -> int:
    out.write('{"format":"' + LESSONS_FORMAT + f'","version":{LESSONS_VERSION},'
              f'"filters":{json_inert(asdict(filters))},"lessons":[')
    n = 0
    for lesson in iter_lessons(store, filters):
        out.write(("," if n else "") + "\n" + json_inert(asdict(lesson)))
        n += 1
    out.write(f'\n],"count":{n}}}\n')
    return n


def read_lessons(path: Path) -> list[ExportedLesson]:
    """A JSON lesson set written by `write_lessons(..., "json")`, back as lessons (bad input: one located error)."""
    where = Where(str(path))
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(Where(str(path), exc.lineno), f"not JSON: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise InputError(where, f"not UTF-8 text (byte {exc.start})") from None
    if not isinstance(data, dict) or data.get("format") != LESSONS_FORMAT:
        raise InputError(where.at("format"), f"not a {LESSONS_FORMAT} file")
    if data.get("version") != LESSONS_VERSION:
        raise InputError(where.at("version"), f"version {data.get('version')!r}; this bankcore reads "
                                              f"{LESSONS_VERSION}")
    if not isinstance(data.get("lessons"), list):
        raise InputError(where.at("lessons"), "expected a list")
    lessons = [ExportedLesson.from_dict(row, where.at(f"lessons[{i}]")) for i, row in enumerate(data["lessons"])]
    if data.get("count") != len(lessons):
        raise InputError(where.at("count"), f"says {data.get('count')!r}, the file holds {len(lessons)} lessons")
    return lessons


# ---------------------------------------------------------------------- trajectories as datasets
@dataclass
class DatasetExample:
    """One trajectory as a dataset example: the task (and what the agent did), the truth, and the rest."""

    key: str  # the trajectory id
    input: dict[str, Any]
    expected: dict[str, Any] | None  # the ground truth; None when the bank has none
    metadata: dict[str, Any] = field(default_factory=dict)


def iter_examples(store: BankStore, *, run: str | None = None, domain: str | None = None,
                  with_steps: bool = True, page: int = TRAJECTORY_PAGE) -> Iterator[DatasetExample]:
    """Trajectories (of one run, if named) in arrival order with their current verdict and truth, a page at a time.
    An unknown run is refused here, before anything is written."""
    run_id = None
    if run is not None:
        found = store.find_run(run)
        if found is None:
            raise NotFoundError(f"no run named {run!r}: `bankcore stats` lists the runs")
        run_id = found.run_id
    return _iter_examples(store, store.select_traj_ids(run_id=run_id), domain, with_steps, page)


def _iter_examples(store: BankStore, traj_ids: list[str], domain: str | None, with_steps: bool, page: int
                   ) -> Iterator[DatasetExample]:
    runs = {r.run_id: r for r in store.list_runs()}
    for start in range(0, len(traj_ids), page):
        with store.reading():  # a connection per page, not per query; writers get their turn between pages
            trajectories = [t for t in store.get_trajectories(traj_ids[start:start + page])
                            if domain is None or t.domain == domain]
            examples = _examples(store, trajectories, runs, with_steps) if trajectories else []
        yield from examples


def _examples(store: BankStore, trajectories: list[Trajectory], runs: dict[int, Run], with_steps: bool
              ) -> list[DatasetExample]:
    ids = [t.traj_id for t in trajectories]
    verdicts, truths = store.current_verdicts(ids), store.get_truths(ids)
    examples = []
    for traj in trajectories:
        truth = truths.get(traj.traj_id)
        task = {"task_id": traj.task_id, "query": traj.query, "domain": traj.domain}
        if with_steps:
            task["steps"] = [{"thought": s.thought, "action": s.action, "observation": s.observation}
                             for s in traj.steps]
            task["final_answer"] = traj.final_answer
        expected = None if truth is None else {"success": truth.success, "reward": truth.reward, "gold": truth.gold}
        verdict = verdicts.get(traj.traj_id)
        label = None if verdict is None else verdict.label
        truth_label = None if truth is None or truth.success is None else ("success" if truth.success else "failure")
        run = runs.get(traj.run_id)
        examples.append(DatasetExample(key=traj.traj_id, input=task, expected=expected, metadata={
            "bankcore_traj_id": traj.traj_id, "run": run.name if run else None,
            "memory_mode": run.memory_mode if run else None, "trial": traj.trial,
            "source_format": traj.source_format, "steps": traj.num_steps,
            "verdict": None if verdict is None else {
                "label": verdict.label, "by": verdict.judge_id, "confidence": verdict.confidence,
                "rationale": verdict.rationale},
            "truth_label": truth_label, "truth_source": None if truth is None else truth.source,
            "verdict_matches_truth": None if label not in ("success", "failure") or truth_label is None
            else label == truth_label}))
    return examples


def write_dataset(store: BankStore, out: TextIO, fmt: str, *, name: str = "bankcore-trajectories",
                  run: str | None = None, domain: str | None = None, with_steps: bool = True) -> int:
    """Write the trajectories as a `fmt` (one of DATASET_FORMATS) dataset named `name`; returns how many."""
    if fmt not in DATASET_FORMATS:
        raise BankcoreError(f"unknown dataset format {fmt!r}: one of {', '.join(DATASET_FORMATS)}")
    if not name.strip():
        raise BankcoreError("the dataset needs a name")
    examples = iter_examples(store, run=run, domain=domain, with_steps=with_steps)
    if fmt == "langfuse":
        n = 0
        for example in examples:
            out.write(json_inert({"datasetName": name, "id": f"{name}:{example.key}", "input": example.input,
                                  "expectedOutput": example.expected, "metadata": example.metadata}) + "\n")
            n += 1
        return n
    return _write_phoenix(examples, out, name)


def _write_phoenix(examples: Iterable[DatasetExample], out: TextIO, name: str) -> int:
    """Phoenix wants parallel arrays: inputs go straight out, outputs and metadata wait in spooled temporary files
    (on disk past a few MB), so one pass over the bank writes the whole body."""
    description = "Trajectories exported by bankcore: input is the task and the agent's steps, output the ground " \
                  "truth, metadata the current verdict."
    out.write('{"action":"create","description":' + json_inert(description) + ',"name":' + json_inert(name)
              + ',"inputs":[')
    n = 0
    with tempfile.SpooledTemporaryFile(4 << 20, mode="w+", encoding="utf-8") as outputs, \
            tempfile.SpooledTemporaryFile(4 << 20, mode="w+", encoding="utf-8") as metadata:
        for example in examples:
            comma = "," if n else ""
            out.write(comma + "\n" + json_inert(example.input))
            outputs.write(comma + "\n" + json_inert(example.expected or {}))
            metadata.write(comma + "\n" + json_inert(example.metadata))
            n += 1
        for key, spool in (("outputs", outputs), ("metadata", metadata)):
            out.write(f'\n],"{key}":[')
            spool.seek(0)
            while chunk := spool.read(1 << 16):
                out.write(chunk)
    out.write("\n]}\n")
    return n
