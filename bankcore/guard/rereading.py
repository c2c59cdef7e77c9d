"""More text a model reads straight through but the word rules would not (`reread`): letter shifts (every Caesar
shift and Atbash, not only ROT13), upside-down letters, quoted-printable, base32, Morse code, 8-bit binary, Pig
Latin, words separated by emoji or symbols instead of spaces, words broken by empty Markdown emphasis, and string
literals concatenated in code.

Each is looked for only when a cheap sign of it is there (a set lookup, a character count), and each returns raw
text: `normalisation.views` normalises it and reads it like any decoded run.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata

MAX_CHARS = 32768  # characters of a text any one re-reading looks at

# Words nearly every order is built from: a shift or cipher that turns two of them up is being read back.
_SIGNS = frozenset(w.encode() for w in ("the and you your all ignore previous instructions always never refund "
                                        "transfer password reveal skip send forward account balance policy "
                                        "identity verification confirmation approve every to of with").split())
_SHORT_SIGNS = frozenset(w.encode() for w in "the and you all to of for is in it your with this that are be".split())
_LETTERS = bytes(range(97, 123))
_SHIFTS = [bytes.maketrans(_LETTERS, _LETTERS[k:] + _LETTERS[:k]) for k in range(1, 26)]
_ATBASH = bytes.maketrans(_LETTERS, _LETTERS[::-1])
_NOT_LETTER = bytes.maketrans(bytes(range(256)), bytes(c if 97 <= c <= 122 else 32 for c in range(256)))

_FLIPPED = dict(zip("ɐqɔpǝɟƃɥᴉɾʞlɯuodbɹsʇnʌʍxʎz", "abcdefghijklmnopqrstuvwxyz"))
_FLIP_RX = re.compile("[ɐɔǝɟƃɥᴉɾʞɯɹʇʌʍʎ]")

_QP = re.compile(r"=[0-9A-F]{2}")
_B32_RUN = re.compile(r"(?<![A-Za-z0-9])[A-Z2-7]{16,}=*(?![A-Za-z0-9])|(?<![A-Za-z0-9])[a-z2-7]{24,}=+")
_MORSE_RUN = re.compile(r"(?:[.\-]{1,6}[ /]+){8,}[.\-]{1,6}")
_BINARY_RUN = re.compile(r"(?:\b[01]{8}\b[ ,]*){6,}")
_PIG = re.compile(r"\b([a-z]+?)(w?ay)\b")
_SYMBOL_GAP = re.compile(r"(?<=\w)[ \t]*[^\w\s.,;:!?'\"()\[\]{}<>/\\@#$%&*+=|~^`-]{1,3}[ \t]*(?=\w)")
_EMPHASIS_IN_WORD = re.compile(r"(?<=[\w-])(?:\*\*|__|\*|`|~~)(?=[\w-])")
_EMPHASIS = re.compile(r"(?<=[\w-])(?:\*\*|__|\*|`|~~)|(?:\*\*|__|\*|`|~~)(?=[\w-])")
_CONCAT = re.compile(r"(['\"`])\s*\+\s*\1")

MORSE = {v: k for k, v in zip("abcdefghijklmnopqrstuvwxyz0123456789@.",
                              (".- -... -.-. -.. . ..-. --. .... .. .--- -.- .-.. -- -. --- .--. --.- .-. ... - ..- "
                               "...- .-- -..- -.-- --.. ----- .---- ..--- ...-- ....- ..... -.... --... ---.. ----. "
                               ".--.-. .-.-.-").split())}


def _words(text: str) -> set[bytes]:
    return set(text.encode("utf-8", "replace").translate(_NOT_LETTER).split())


def _readable(text: str) -> bool:
    letters = sum(1 for c in text if c.isalpha() or c == " ")
    return len(text) >= 8 and " " in text.strip() and letters >= 0.7 * len(text)


def _shifted(base: str, words: set[bytes]) -> list[str]:
    """`base` under every letter shift and Atbash that turns up at least two more short English words than it
    had (a cheap test on its 2-4 letter words only); ROT13 is `normalisation`'s."""
    short = b" ".join(w for w in words if 2 <= len(w) <= 4)
    if not short:
        return []
    plain = len(words & _SHORT_SIGNS)
    many = short.count(b" ") >= 60
    out = []
    for table in (*_SHIFTS[:12], *_SHIFTS[13:], _ATBASH):
        new = len(set(short.translate(table).split()) & _SHORT_SIGNS)
        if new >= 2 and (new > plain or not many):
            out.append(base[:MAX_CHARS].encode("utf-8", "replace").translate(table).decode("utf-8", "replace"))
    return out


def _upside_down(text: str) -> str | None:
    if len(_FLIP_RX.findall(text, 0, MAX_CHARS)) < 4:
        return None
    return "".join(_FLIPPED.get(c, c) for c in reversed(text[:MAX_CHARS]))


def _quoted_printable(text: str) -> str | None:
    if len(_QP.findall(text)) < 6:
        return None
    import quopri

    decoded = quopri.decodestring(text[:MAX_CHARS].encode("utf-8", "replace")).decode("utf-8", "replace")
    return decoded if decoded != text else None


def _in_place(text: str, rx: re.Pattern, decode) -> list[str]:
    """`text` with every run `rx` finds that `decode` reads as words replaced by them (so the words around a run,
    "for AI reviewers: <run>", are read with it); empty when none decodes."""
    changed = 0

    def swap(match: re.Match) -> str:
        nonlocal changed
        decoded = decode(match.group(0)) if changed < 8 else None
        changed += bool(decoded)
        return f" {decoded} " if decoded else match.group(0)

    out = rx.sub(swap, text[:MAX_CHARS])
    return [out] if changed else []


def _base32(run: str) -> str | None:
    body = run.upper().rstrip("=")
    try:
        decoded = base64.b32decode(body + "=" * (-len(body) % 8)).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return decoded if _readable(decoded) else None


def _morse(run: str) -> str | None:
    decoded = " ".join("".join(MORSE.get(code, "") for code in w.split()) for w in run.split("/"))
    return decoded if _readable(decoded) else None


def _binary(run: str) -> str | None:
    decoded = "".join(chr(int(b, 2)) for b in re.findall(r"[01]{8}", run))
    return decoded if _readable(decoded) else None


def _pig_latin(base: str) -> str | None:
    """Pig Latin read back: "eviouspray" → "previous" (the consonants before "ay" go back to the front)."""
    hits = _PIG.findall(base)
    if len(hits) < 4:
        return None

    def back(match: re.Match) -> str:
        stem, tail = match.group(1), match.group(2)
        if tail == "way":
            return stem
        heads = [stem[-k:] + stem[:-k] for k in (1, 2, 3) if len(stem) > k and not set(stem[-k:]) & set("aeiou")]
        known = [w for w in heads if w.encode() in _SIGNS]
        return (known or heads[-1:] or [stem])[0]

    out = _PIG.sub(back, base[:MAX_CHARS])
    return out if len(_words(out) & _SIGNS) > len(_words(base) & _SIGNS) + 1 else None


def _symbol_spaced(text: str) -> str | None:
    """Words separated by emoji or other symbols ("ignore ✨ previous ✨ instructions") read with spaces."""
    if text.isascii():
        return None
    symbols = sum(1 for c in text if unicodedata.category(c) in ("So", "Sk", "Sm"))
    if symbols < 3:
        return None
    return _SYMBOL_GAP.sub(" ", text[:MAX_CHARS])


def reread(text: str, base: str, words: set[bytes] | None = None) -> list[str]:
    """What `text` says once read the way a model would read it, when it hides words; `base` is its normalised
    form, `words` its lowercase ASCII words when the caller has them. Empty for ordinary text."""
    out: list[str] = []
    words = _words(base) if words is None else words
    out += _shifted(base, words)
    for fn in (_upside_down, _quoted_printable, _symbol_spaced):
        found = fn(text)
        if found:
            out.append(found)
    if "=" in text or len(text) >= 24:
        out += _in_place(text, _B32_RUN, _base32)
    if "-" in text and "." in text:
        out += _in_place(text, _MORSE_RUN, _morse)
    if "01" in text:
        out += _in_place(text, _BINARY_RUN, _binary)
    if "ay" in base:
        pig = _pig_latin(base)
        if pig:
            out.append(pig)
    if _EMPHASIS_IN_WORD.search(text):
        out.append(_EMPHASIS.sub("", text[:MAX_CHARS]))
    if "+" in text and _CONCAT.search(text):
        out.append(_CONCAT.sub("", text[:MAX_CHARS]))
    return out
