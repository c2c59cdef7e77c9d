"""Text spelled out so no word of it is whole (`respell`): NATO spelling-alphabet runs, one letter per line,
letters joined by a separator across a whole sentence ("t-r-a-n-s-f-e-r--t-h-e"), a filler letter between every
letter ("tXrXaXnXsXfXeXr"), sentences with their word order reversed, and base85/ascii85 runs.

Each is looked for only behind a cheap sign (a set intersection, a character count, one precompiled search), so
ordinary text pays a few microseconds; each returns raw text that `normalisation.views` normalises and judges whole,
like any decoded run.
"""

from __future__ import annotations

import base64
import re

from .rule_kit import _ORDER_VERBS

MAX_CHARS = 16384  # characters of a text any one re-spelling reads

_NATO = {w: w[0] for w in ("alpha alfa bravo charlie delta echo foxtrot golf hotel india juliet juliett kilo lima "
                            "mike november oscar papa quebec romeo sierra tango uniform victor whiskey whisky xray "
                            "x-ray yankee zulu").split()}
_NATO_SIGN = frozenset(w.encode() for w in _NATO if "-" not in w)
_NATO_TOKEN = re.compile(r"x-ray|[a-z]+|[^\sa-z]+")
_DIGIT_WORDS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
                "seven": "7", "eight": "8", "nine": "9", "niner": "9"}

# One letter (or digit) per line, six lines or more; an empty line or a lone separator is a word break.
_LINE_LETTERS = re.compile(r"(?m)(?:^[ \t]*(?:[A-Za-z0-9@.]|[/|_]|)[ \t]*\n){6,}[ \t]*[A-Za-z0-9@.]?")
# Letters joined by one separator character, the word break a doubled separator or a space.
_SEPARATED = re.compile(r"(?<![\w])[A-Za-z0-9](?:([-.·_*~|+/])[A-Za-z0-9]){2,}(?:\1{2,3}[A-Za-z0-9]"
                        r"(?:\1[A-Za-z0-9])*)*(?![\w])")
_SEPARATED_SIGN = re.compile(r"([-.·_*~|+/])[A-Za-z0-9]\1[A-Za-z0-9]\1[A-Za-z0-9]\1[A-Za-z0-9]")
# A word with a filler letter at every other place: the odd (or even) letters are all the same one.
_FILLER_SIGN = re.compile(r"([A-Za-z])(?:(?!\1)[A-Za-z]\1){4}")  # cheap: one letter at every other place, 5 times
# A sentence in reversed word order: it starts with a lower-case word and ends on an order's verb, capitalised.
_CAPITAL_END = re.compile(r"([A-Z][a-z]+)(?:[.!]|$)")  # cheap: a capitalised word ends a sentence
_VERBS = frozenset(_ORDER_VERBS.split("|"))
_REVERSED_ORDER = re.compile(rf"(?m)(?:^|(?<=[.!?:] ))[ \t\"'(*-]*[a-z][a-z']*(?:[ ,]+[a-z'\d$-]+){{3,}}[ ,]+"
                             rf"(?:{_ORDER_VERBS.title()})[.!]?(?=[ \t\"')]*(?:$|\s))")
_B85_CHARS = frozenset("!#$%&()*+-;<=>?@^_`{|}~")
# cheap: two of base85's rarer symbols close together, no space, quote or comma between (JSON and prose rarely)
_B85_SIGN = re.compile(r"[!#$%&*;<=>?@^`|~][0-9A-Za-z]{0,6}[!#$%&*;<=>?@^`|~(){}+_-]")
_B85_RUN = re.compile(r"[0-9A-Za-z!#$%&()*+;<=>?@^_`{|}~-]{20,}")
_A85_RUN = re.compile(r"<~([!-uz\s]{10,}?)~>")


def respell(text: str, words: set[bytes]) -> list[str]:
    """What `text` says once its spelled-out or reordered runs are read back; `words` are its lowercase ASCII
    words (the caller's set). Empty for ordinary text."""
    text = text[:MAX_CHARS]
    out = []
    if len(words & _NATO_SIGN) >= 4:
        out += _nato(text)
    if text.count("\n") >= 6:
        out += [_letters_per_line(m.group(0)) for m in _LINE_LETTERS.finditer(text)]
    if _separated_sign(text):
        joined = _separated(text)
        if joined:
            out.append(joined)
    if _FILLER_SIGN.search(text):
        filled = _unfilled(text)
        if filled:
            out.append(filled)
    if any(m.group(1).lower() in _VERBS and m.start() >= 2 and text[m.start() - 1] == " "
           and (text[m.start() - 2].islower() or text[m.start() - 2] in "0123456789,")
           for m in _CAPITAL_END.finditer(text)):
        out += [" ".join(reversed(m.group(0).strip(" \t\"'()*-.!").split())) for m in
                _REVERSED_ORDER.finditer(text)][:8]
    out += _base85(text)
    return [o for o in out if o and len(o) >= 8]


def _nato(text: str) -> list[str]:
    """Runs of spelling-alphabet words read as letters; any other token between them is a word break."""
    lines, letters, run = [], [], 0
    for token in _NATO_TOKEN.findall(text.lower()) + ["."]:
        letter = _NATO.get(token) or _DIGIT_WORDS.get(token)
        if letter:
            letters.append(letter)
            run += 1
            continue
        if token in ("-", "'"):
            continue  # "alpha-bravo": one word spelled with hyphens
        if token in ("space", "stop", "break", "/", "|", ",", "--", "//", "||", ";"):
            if letters and letters[-1] != " ":
                letters.append(" ")
            continue
        if run >= 4:
            lines.append("".join(letters).strip())
        letters, run = [], 0
    return ["\n".join(lines)] if lines else []


def _letters_per_line(run: str) -> str:
    """One letter per line read back: a blank line (or a lone "/", "|", "_") is a word break."""
    out = []
    for line in run.split("\n"):
        cell = line.strip()
        out.append(cell if cell and cell not in "/|_" else " ")
    return re.sub(r" +", " ", "".join(out)).strip()


def _separated_sign(text: str) -> bool:
    """Cheap: four letters in a row each after the same separator character."""
    return _SEPARATED_SIGN.search(text) is not None


def _separated(text: str) -> str:
    """Every separated-letter run read back, in order: doubled separators and spaces are word breaks."""
    words = []
    for match in _SEPARATED.finditer(text):
        sep = match.group(1)
        words += [w.replace(sep, "") for w in re.split(re.escape(sep) + "{2,3}", match.group(0))]
    return " ".join(words)


def _unfilled(text: str) -> str | None:
    """Words with one filler letter between all their letters ("pXaXyXmXeXnXt") read without it, when at least
    three words of the text are filled that way."""
    filled = 0
    out = []
    for token in text.split():
        word = token.strip(".,;:!?\"'()")
        plain = _without_filler(word) if len(word) >= 5 else None
        filled += plain is not None
        out.append(plain if plain is not None else token)
    return " ".join(out) if filled >= 3 else None


def _without_filler(word: str) -> str | None:
    for start in (1, 0):
        filler = word[start::2]
        if len(filler) >= 2 and len(set(filler.lower())) == 1 and filler[0].isalpha():
            kept = word[1 - start::2]
            if kept.isalpha() and len(set(kept.lower())) > 2 and filler[0].lower() not in kept.lower():
                return kept
    return None


def _base85(text: str) -> list[str]:
    """ascii85 (`<~...~>`) and base85 runs decoded, when they decode to readable text."""
    out = []
    if "<~" in text:
        for match in list(_A85_RUN.finditer(text))[:8]:
            out.append(_decoded(lambda s: base64.a85decode(s, adobe=False, ignorechars=" \t\n\r"), match.group(1)))
    for token in [t for t in text.split() if len(t) >= 20] if _B85_SIGN.search(text) else ():
        if _B85_RUN.fullmatch(token) and sum(c in _B85_CHARS for c in token) >= 2 \
                and any(c.isdigit() for c in token) and any(c.isupper() for c in token):
            out.append(_decoded(base64.b85decode, token))
            if len(out) >= 8:
                break
    return [o for o in out if o]


def _decoded(decode, run: str) -> str | None:
    try:
        raw = decode(run.strip())
        plain = raw.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    letters = sum(1 for c in plain if c.isalpha() or c == " ")
    return plain if len(plain) >= 8 and " " in plain and letters >= 0.7 * len(plain) else None
