"""What a structured LLM reply must be, per role: the JSON schema asked of the server, and the meaning-level checks
every parser applies whether or not the server honoured the schema.

The schemas go out as `response_format` json_schema (llama.cpp, vLLM and OpenAI constrain generation with them);
servers without that get JSON mode or nothing, and the tolerant parsers still read what comes back. A schema only
shapes syntax, so the checks here decide meaning: a field must be present and say something of its own — not a
placeholder (`"..."`, `"N/A"`, `"<title>"`, `"string"`), not a copy of another field, not a title made of the first
words of the description. Small local models produce exactly these; a reply made only of them is unusable (the
client repairs and retries it and never caches it as a success), and such text is never approved.
"""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

# How replies are decoded: small models write raw newlines and tabs inside JSON strings (SmolLM2-135M did in 16 of
# 39 judge replies of a bench/real_model.py run), which strict JSON refuses although the meaning is plain.
REPLY_JSON = json.JSONDecoder(strict=False)

_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script: a lesson in Chinese or French is text too


def _normal(text: str) -> str:
    """Lower-case words only: how two texts are compared (punctuation, case and spacing ignored)."""
    return " ".join(_WORD.findall(text.lower()))


# Text a model writes when it echoes the format instead of answering (compared as `_normal` words).
PLACEHOLDERS = frozenset(_normal(p) for p in {
    "n/a", "na", "n.a", "none", "null", "nil", "tbd", "tba", "todo", "to do", "xxx", "placeholder", "example",
    "string", "text", "str", "title", "description", "content", "lesson", "item", "memory item", "reasoning",
    "analysis", "reason", "insight", "strategy", "your title", "your description", "your content", "untitled",
    "no title", "no description", "no content", "empty", "undefined", "unknown", "use when not when",
    "use when situation not when situation where it does not apply", "a few words", "one sentence",
    "1-3 sentences", "1-5 sentences",
    # the selector's and merge's formats: "<a brief comparison>", "<your comparison>", "[<the number of ...>]"
    "a brief comparison", "brief comparison", "your comparison", "your analysis", "your reasoning",
    "your brief reasoning", "the number of the best attempt",
})
_ELLIPSIS = re.compile(r"\.{2,}|…")
_ANGLE = re.compile(r"<[^<>]{0,80}>")  # <title>, <your analysis>, <situation>
_LOREM = re.compile(r"^\s*lorem ipsum\b", re.I)
MIN_CHARS = 3  # letters and digits: "ok", "A." and "-" say nothing
# A description is a sentence: one word ("Success") is a label. Han, kana and hangul write words without spaces,
# so there every two characters count as a word.
MIN_DESCRIPTION_WORDS = 2
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
# The extraction prompt's own verdict line ("Why it was judged success (llm:model)") repeated as the lesson.
_VERDICT_ECHO = re.compile(r"\bjudged\s+(?:a\s+)?(?:success|failure)\s*\((?:llm|heuristic|human|truth|judge)\b", re.I)
COPIED_TITLE_WORDS = 3  # a title this long that opens the description word for word was cut from it
# A content whose words the description nearly all has says nothing of its own: SmolLM2-135M's contrast items gave
# one text twice, opened "This is a very important detail:" and "The reason is that" (2 of 35 words its own). Of the
# 340 lessons in the repository's data and fixtures, the closest has half its content words its own.
COPIED_CONTENT_SHARE = 0.8


def text_problem(value: Any, name: str) -> str | None:
    """Why `value` is not text for field `name` (missing, not a string, a placeholder, too short), or None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return f"{name} is missing"
    if not isinstance(value, str):
        return f"{name} must be text, not {type(value).__name__}"
    if problem := placeholder_problem(value, name):
        return problem
    if len(_normal(value).replace(" ", "")) < MIN_CHARS:
        return f"{name} is too short to say anything ({' '.join(value.split())[:30]!r})"
    return None


def placeholder_problem(value: Any, name: str) -> str | None:
    """Why `value` is the reply format's placeholder rather than an answer ("...", "<a brief comparison>",
    "N/A"), or None — also for text that is merely missing or short. For fields a reply may leave terse (the
    selector's analysis, a merge's reason), where a placeholder still shows the model copied the format instead of
    doing the job, so the rest of its reply (an index, a decision) is no answer either."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = " ".join(value.split())
    if _LOREM.match(text):
        return f"{name} is placeholder text ({text[:20]!r})"
    bare = _ANGLE.sub(" ", _ELLIPSIS.sub(" ", text))
    words = _normal(bare)
    if words in PLACEHOLDERS or not words or (text != bare and len(words.replace(" ", "")) < MIN_CHARS):
        return f"{name} is a placeholder ({text[:30]!r})"
    return None


def _repeats(content: str, description: str) -> bool:
    """Whether the description already has four in five of the content's words (both `_normal`), whatever the
    opening: the content adds nothing. The other way round is fine: a content may restate its description and go
    on."""
    words, said = set(content.split()), set(description.split())
    return bool(words) and len(words & said) >= COPIED_CONTENT_SHARE * len(words)


def _words(text: str) -> int:
    return sum(max(1, len(_UNSPACED.findall(w)) // 2) if _UNSPACED.search(w) else 1 for w in _WORD.findall(text))


def lesson_problem(title: Any, description: Any, content: Any) -> str | None:
    """Why (title, description, content) is not a lesson, or None: every field present and real text, the content
    not a copy of the description (nor its words under another opening), the title neither a copy of another field
    nor the description's opening words."""
    for value, name in ((title, "title"), (description, "description"), (content, "content")):
        if problem := text_problem(value, name):
            return problem
    if _words(description) < MIN_DESCRIPTION_WORDS:
        return f"description is a label, not a sentence ({' '.join(description.split())[:30]!r})"
    for value, name in ((description, "description"), (content, "content")):
        if _VERDICT_ECHO.search(value):
            return f"{name} repeats the verdict the prompt stated, not a lesson"
    t, d, c = _normal(title), _normal(description), _normal(content)
    if _repeats(c, d):  # a copy, or the same words under another opening
        return "content only repeats the description"
    if t in (d, c):
        return f"title only repeats the {'description' if t == d else 'content'}"
    # A content may well open with its title ("Find the record by … (its title, or …) and …"), a description that
    # opens with it was cut into a title: what a model does when it has no title of its own.
    words = t.split()
    if len(words) >= COPIED_TITLE_WORDS and d.split()[:len(words)] == words:
        return "title is the first words of the description"
    return None


# ---------------------------------------------------------------------- schemas
def _text(min_length: int = MIN_CHARS) -> dict[str, Any]:
    return {"type": "string", "minLength": min_length}


JUDGE = {
    "type": "object",
    "properties": {"thoughts": _text(1), "status": {"type": "string", "enum": ["success", "failure"]}},
    "required": ["thoughts", "status"],
}


def _lesson(extra: dict[str, Any]) -> dict[str, Any]:
    properties = {"title": _text(), "description": _text(), "content": _text(), **extra}
    return {"type": "object", "properties": properties, "required": list(properties)}


def extract_schema(max_items: int) -> dict[str, Any]:
    """The extractor's reply: its reasoning first (so a constrained model thinks before it writes), then items."""
    steps = {"type": "array", "items": {"type": "integer", "minimum": 1}}
    return {"type": "object",
            "properties": {"reasoning": _text(1),
                           "items": {"type": "array", "maxItems": max_items, "items": _lesson({"steps": steps})}},
            "required": ["reasoning", "items"]}


def contrast_schema(n: int, max_items: int) -> dict[str, Any]:
    """The self-contrast extractor's reply over `n` trajectories: items citing trajectories 1..n and their steps."""
    evidence = {"type": "array", "items": {
        "type": "object",
        "properties": {"trajectory": {"type": "integer", "enum": list(range(1, n + 1))},
                       "steps": {"type": "array", "items": {"type": "integer", "minimum": 1}}},
        "required": ["trajectory", "steps"]}}
    return {"type": "object",
            "properties": {"reasoning": _text(1),
                           "items": {"type": "array", "maxItems": max_items, "items": _lesson({"evidence": evidence})}},
            "required": ["reasoning", "items"]}


def select_schema(n: int) -> dict[str, Any]:
    """The best-of-N selector's reply: an analysis, then `index`: [one of 1..n] (the prompt's shape)."""
    return {"type": "object",
            "properties": {"analysis": _text(1),
                           "index": {"type": "array", "minItems": 1, "maxItems": 1,
                                     "items": {"type": "integer", "enum": list(range(1, n + 1))}}},
            "required": ["analysis", "index"]}


def merge_schema(group: Sequence[int]) -> dict[str, Any]:
    """The merge reply for the item ids `group`: a decision, ids only from the group, and the merged lesson's fields.
    One object at the root (OpenAI refuses a root `anyOf`); which fields a decision needs is `llm_merge.parse`'s to
    check."""
    member = {"type": "integer", "enum": sorted(int(i) for i in group)}
    return {"type": "object",
            "properties": {"decision": {"type": "string", "enum": ["merge", "decline", "contradiction"]},
                           "absorbs": {"type": "array", "minItems": 2, "items": member},
                           "title": _text(), "description": _text(), "content": _text(),
                           "pairs": {"type": "array",
                                     "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": member}},
                           "reason": _text(1)},
            "required": ["decision", "reason"]}
