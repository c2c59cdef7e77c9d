"""Text as the rules read it: normalised (`normalise`), and what obfuscation hid in it (`views`).

Invisible and bidi characters dropped (Unicode "tag" characters read as the ASCII they smuggle), NFKC, accents
stripped, Cyrillic/Greek lookalikes inside Latin-looking words mapped to Latin; beside that, base64, hex,
``\\x``/``%``/``\\u`` escaped runs decoded (bounded: at most `MAX_DECODES` runs of at most `MAX_DECODE_CHARS`
each, `MAX_DEPTH` levels deep), letter-spaced words joined ("i g n o r e"), HTML entities and in-word tags removed.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import html
import re
import unicodedata
from itertools import repeat

from .glossary import gloss
from .hidden import hidden_characters, invisible_rx
from .rereading import reread
from .spelled import respell

MAX_DECODES = 40  # encoded runs decoded per text: bounded so a blob-heavy log cannot slow an import down
MAX_DECODE_CHARS = 8192  # characters of one encoded run that are decoded
MAX_DEPTH = 2  # base64 inside base64, and no deeper


_CONFUSABLES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l",
    "ɡ": "g", "ո": "n", "ս": "u", "ց": "g", "օ": "o", "ʏ": "y", "ь": "b", "г": "r", "п": "n", "ш": "w", "л": "n",
    "ѵ": "v", "ӓ": "a", "ӧ": "o", "ԍ": "g",
    # Greek
    "α": "a", "β": "b", "γ": "y", "δ": "d", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ϳ": "j", "ς": "s", "μ": "u", "σ": "o", "ί": "i", "ό": "o",
    # Latin lookalikes and IPA
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɩ": "i", "ɪ": "i", "ʀ": "r", "ꞵ": "b", "ᴀ": "a", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e",
    "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ᴢ": "z", "ʟ": "l", "ꜱ": "s",
    "ℓ": "l", "ø": "o", "ð": "d", "ŀ": "l", "ǀ": "l", "∣": "l", "０": "0",
    "ɢ": "g", "ʜ": "h", "ᴋ": "k", "ᴊ": "j", "ꜰ": "f", "ǫ": "q", "ʙ": "b", "ᴦ": "r", "ʀ": "r",
    # Cyrillic capitals and letters without a lowercase twin above
    "ғ": "f", "ү": "y", "ҝ": "k", "ԁ": "d", "ӡ": "z", "ԃ": "d", "ꙅ": "s",
    # Cherokee and Armenian / Georgian letters that read as Latin capitals
    "Ꭺ": "a", "Ᏼ": "b", "Ꮯ": "c", "Ꭰ": "d", "Ꭼ": "e", "Ꮐ": "g", "Ꮋ": "h", "Ꭻ": "j", "Ꮶ": "k", "Ꮮ": "l",
    "Ꮇ": "m", "Ꮲ": "p", "Ꭱ": "r", "Ꮪ": "s", "Ꭲ": "t", "Ꮩ": "v", "Ꮃ": "w", "Ꮤ": "w", "Ꮓ": "z", "Ꭵ": "i",
    "Ꮍ": "y", "Ꮖ": "t", "Ᏽ": "s", "Ꮞ": "s", "Ᏸ": "b", "Ꮻ": "o", "Ꮢ": "r", "Ꮄ": "w", "Ꮹ": "g", "Ꮥ": "s",
    "Ꮭ": "l", "Ꮏ": "k", "Ꮑ": "n", "Ꭹ": "y", "Ꮳ": "c", "Ꮸ": "w", "Ꮀ": "ho", "Ꮒ": "h",
    "Տ": "s", "Ս": "u", "Օ": "o", "Ց": "g", "Լ": "l", "Ւ": "w", "Զ": "z", "հ": "h", "ա": "w", "զ": "q",
    "Ⴎ": "u", "Ⴝ": "s", "Ⴀ": "a", "Ⴍ": "o", "Ⴓ": "u", "Ⴈ": "i", "Ⴐ": "p", "Ⴕ": "t",
    "Ꮙ": "v", "Ꭷ": "o", "Ꭸ": "e", "Ꮅ": "p", "Ꭽ": "m",
}
_CONFUSABLES.update({k.upper(): v for k, v in list(_CONFUSABLES.items()) if k.upper() != k and len(k.upper()) == 1})
# Capitals that look like a different Latin letter than their lowercase does (Μ is M though μ reads as u).
_CONFUSABLES.update({"Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n",
                     "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x", "А": "a", "В": "b", "Е": "e", "К": "k",
                     "М": "m", "Н": "h", "О": "o", "Р": "p", "С": "c", "Т": "t", "Х": "x", "У": "y", "Ⴘ": "y"})
_CONFUSABLE_CHARS = frozenset(_CONFUSABLES)
_LATIN = re.compile(r"[a-zA-Z]")
_LETTER_RUN = re.compile(r"[^\W\d_]+")
_TAG_CHARS = re.compile("[\U000e0020-\U000e007e]")


def _unconfuse_word(match: re.Match) -> str:
    word = match.group(0)
    if not any(c in _CONFUSABLE_CHARS for c in word):
        return word
    if _LATIN.search(word) or all(c in _CONFUSABLE_CHARS for c in word):
        return "".join(_CONFUSABLES.get(c, c) for c in word)
    return word


_ACCENTED = re.compile(r"[\u00c0-\u024f\u0300-\u036f\u1e00-\u1eff]")
_CONFUSABLE_CLASS = "[" + "".join(re.escape(c) for c in sorted(_CONFUSABLE_CHARS)) + "]"
_CONFUSABLE_RX = re.compile(_CONFUSABLE_CLASS)
_CONFUSED_WORD = re.compile(r"[^\W\d_]*" + _CONFUSABLE_CLASS + r"[^\W\d_]*")
_LATIN_ACCENT = re.compile(r"(?<=[A-Za-z])[\u0300-\u036f]+")  # not Cyrillic й or Japanese dakuten
_U_ESCAPE = re.compile(r"\\{1,2}u([0-9a-fA-F]{4})")


def _json_unescape(text: str) -> str:
    """JSON's \\uXXXX escapes as the characters they stand for (a tool result is often JSON)."""
    text = _U_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    if any("\ud800" <= c <= "\udfff" for c in text):
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def normalise(text: str) -> str:
    """Text as the rules read it: lower case, invisible/bidi characters gone (tag characters read as the ASCII
    they smuggle), NFKC, Latin accents stripped, lookalike letters in Latin-looking words mapped to Latin."""
    if "\\u" in text:
        text = _json_unescape(text)
    if text.isascii():
        return text.lower()
    if _TAG_CHARS.search(text):
        text = _TAG_CHARS.sub(lambda m: chr(ord(m.group(0)) - 0xE0000), text)
    text = invisible_rx().sub("", text)
    if _ACCENTED.search(text):
        text = _LATIN_ACCENT.sub("", unicodedata.normalize("NFKD", text))
    text = unicodedata.normalize("NFKC", text)
    if _CONFUSABLE_RX.search(text):
        text = _CONFUSED_WORD.sub(_unconfuse_word, text)
    return text.lower()


# ---------------------------------------------------------------------- obfuscated runs
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{20,}={0,2}")
_HEX_RUN = re.compile(r"(?:[0-9A-Fa-f]{2}:){11,}[0-9A-Fa-f]{2}")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _is_hex_pair(token: str) -> bool:
    return len(token) == 2 and token[0] in _HEX_DIGITS and token[1] in _HEX_DIGITS


def _runs_of(tokens: list[str], keep, least: int) -> list[list[str]]:
    runs, current = [], []
    for token in tokens + [""]:
        if token and keep(token):
            current.append(token)
            continue
        if len(current) >= least:
            runs.append(current)
        current = []
    return runs
_ESCAPED = (("\\x", re.compile(r"(?:\\{1,2}x[0-9A-Fa-f]{2}){6,}")), ("%", re.compile(r"(?:%[0-9A-Fa-f]{2}){6,}")),
            ("\\u", re.compile(r"(?:\\u[0-9A-Fa-f]{4}){4,}")))
_SHORT_RUN = re.compile(rb"[\x01\x02]{5,}")
_SPACED_LETTERS = re.compile(r"(?<!\S)(?:\S[ \t]{1,4}){4,}\S(?!\S)")
_SPACING = frozenset(" \t.-_*·|/\\+~")
_TAG_IN_WORD = re.compile(r"(?:<[a-zA-Z/][^<>\n]{0,60}>)+")
_ENTITY = re.compile(r"&#?[0-9A-Za-z]{1,8};")


def _suspect_runs(text: str, base: str) -> tuple[list[tuple[str, str]], list[str]]:
    """What may hide text, found with cheap token tests before any regex: encoded runs (kind, run) and
    letter-spaced runs ("i g n o r e": single letters between spaces; "i.g.n.o.r.e": one token)."""
    encoded: list[tuple[str, str]] = []
    spaced: list[str] = []
    for token in [t for t in text.split() if len(t) >= 9]:  # raw text: base64 is case-sensitive
        if token[1] in _SPACING and token[0].isalpha() and set(token[1::2]) <= _SPACING:
            spaced.append(token)
        elif len(token) >= 20:
            bare = token.strip("\"'`,;()[]{}<>.")
            if len(bare) >= 24 and (set(bare) <= _HEX_DIGITS or (":" in bare and _HEX_RUN.fullmatch(bare))):
                encoded.append(("hex", bare))
            elif not token.islower() and not token.isupper():
                encoded += [("b64", m.group(0)) for m in _B64_RUN.finditer(token)]
        if len(encoded) >= MAX_DECODES:
            break
    tokens = text.split() if text.isascii() else base.split()
    sizes = bytes(map(min, map(len, tokens), repeat(3)))
    letter_runs = False
    for match in _SHORT_RUN.finditer(sizes):
        run = tokens[match.start():match.end()]
        letter_runs = letter_runs or sum(1 for t in run if len(t) == 1 and t.isalpha()) >= 5
        encoded += [("hex", " ".join(g)) for g in _runs_of(run, _is_hex_pair, 12)]
    if letter_runs:  # rare in real text: now find them with their gaps, which mark the word breaks
        spaced += [m.group(0)[:MAX_DECODE_CHARS] for m in _SPACED_LETTERS.finditer(base)][:MAX_DECODES]
    for literal, rx in _ESCAPED:
        if literal in text:
            encoded += [("esc", m.group(0)) for m in rx.finditer(text)][:MAX_DECODES]
    return encoded[:MAX_DECODES], spaced[:MAX_DECODES]


def _tags_in_words(text: str) -> bool:
    if "<" not in text:
        return False
    for match in _TAG_IN_WORD.finditer(text):
        lo, hi = match.start(), match.end()
        if lo > 0 and hi < len(text) and text[lo - 1].isalpha() and text[hi].isalpha():
            return True
    return False


_CALL_SHAPE = re.compile(r"^\s*[A-Za-z_][\w.]{2,80}\((?:[^()]*[=:][^()]*)?\)\s*$|[\w.]{3,}\([^()]*=")


def _printable_text(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 8:
        return None
    if len(text) >= 20 and _B64_RUN.fullmatch(text.strip()):
        return text.strip()  # base64 inside base64: decoded again one level down
    letters = sum(1 for c in text if c.isalpha() or c == " ")
    if letters < 0.7 * len(text) and not (letters >= 0.45 * len(text) and _CALL_SHAPE.search(text)):
        return None  # a suggested tool call is text too: identifiers, quotes and digits between its letters
    if " " not in text.strip() and not _CALL_SHAPE.search(text):
        return None
    if sum(1 for c in text if c.isprintable() or c in "\n\t") < 0.97 * len(text):
        return None
    return text


def _decode_base64(run: str) -> str | None:
    if not (re.search(r"[A-Z]", run) and re.search(r"[a-z]", run)):
        return None  # a path or identifier, not base64 of text
    run = run[:MAX_DECODE_CHARS].rstrip("=").replace("-", "+").replace("_", "/")
    run = run[:len(run) - len(run) % 4] if len(run) % 4 == 1 else run
    try:
        raw = binascii.a2b_base64(run + "=" * (-len(run) % 4))
    except (binascii.Error, ValueError):
        return None
    return _printable_text(raw)


def _decode_hex(run: str) -> str | None:
    digits = re.sub(r"[^0-9A-Fa-f]", "", run)[:MAX_DECODE_CHARS]
    try:
        return _printable_text(bytes.fromhex(digits[:len(digits) // 2 * 2]))
    except ValueError:
        return None


def _decode_escapes(run: str) -> str | None:
    run = run[:MAX_DECODE_CHARS * 3]
    if run.startswith("\\u"):
        try:
            return _printable_text("".join(chr(int(h, 16)) for h in re.findall(r"\\u([0-9A-Fa-f]{4})", run))
                                   .encode("utf-8", "replace"))
        except ValueError:
            return None
    return _decode_hex(re.sub(r"\\+x|%", "", run))


def _unspace(runs: list[str]) -> str:
    """Letter-spaced runs joined into words: "i g n o r e   a l l" → "ignore all" (a wider gap, or a dotted
    token's end, is a word break); one run per line."""
    lines = []
    for run in runs:
        if " " in run or "\t" in run:
            words = re.split(r"[ \t]{2,}", run.strip())
            lines.append(" ".join(re.sub(r"[ \t]", "", w) for w in words))
        else:
            lines.append(re.sub(r"[^\w@:]", "", run))
    return "\n".join(lines)


_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>\n]{0,200})?/?>")


def views(text: str, depth: int = 0) -> list[tuple[str, str]]:
    """(view, text) pairs the rules read: the normalised text, then what obfuscation hid in it. The last few
    texts' views are kept: the wording rules and the check of orders addressed to an AI reader read the same
    untrusted text one after the other."""
    if depth:
        return _views(text, depth)
    return list(_recent_views(text))


@functools.lru_cache(maxsize=16)
def _recent_views(text: str) -> tuple[tuple[str, str], ...]:
    return tuple(_views(text, 0))


def _views(text: str, depth: int) -> list[tuple[str, str]]:
    base = normalise(text)
    unescaped = _json_unescape(text) if "\\u" in text else text  # a JSON tool result's \uXXXX read as characters
    found: list[tuple[str, str]] = [("unicode" if _disguised(unescaped) else "text", base)]
    encoded, spaced = _suspect_runs(text, base)
    if depth < MAX_DEPTH:
        for kind, run in encoded:
            decoded = (_decode_base64(run) if kind == "b64" else _decode_hex(run) if kind == "hex"
                       else _decode_escapes(run))
            if decoded:
                found += [("decoded", v) for _, v in views(decoded, depth + 1)]
    if spaced:
        joined = _unspace(spaced[:MAX_DECODES])
        found.append(("spaced", joined))
        found.append(("squashed", re.sub(r"[^\w]+", "", joined)))  # evenly spaced letters lose word gaps
    if ("&" in text and _ENTITY.search(text)) or _tags_in_words(text):
        stripped = normalise(_HTML_TAG.sub("", html.unescape(text)))
        if stripped != base:
            found.append(("html", stripped))
    room = MAX_DECODES - sum(1 for v, _ in found if v == "decoded")
    words = _word_set(base)  # once: the re-readings, the re-spellings and the lexicon all look words up
    if room > 0:
        found += [("decoded", v) for v in _recoded(unescaped, base, words)][:room]
        found += [("decoded", normalise(v)) for v in reread(unescaped, base, words)][:room]
        found += [("decoded", normalise(v)) for v in respell(unescaped, words)][:room]
    glossed = gloss(unescaped, words) if depth == 0 else None
    if glossed:
        found.append(("glossed", glossed))
    return found


# ---------------------------------------------------------------------- text a reader can undo in their head
# Each is looked for only when a cheap sign of it is there, so ordinary text pays a few set lookups.
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_ROT13_SIGNS = frozenset(w.encode() for w in ("gur naq lbh nyy lbhe vafgehpgvbaf vtaber nyjnlf arire shaqf "
                                               "cnffjbeq gb bs sbe jvgu guvf").split())
_REVERSED_SIGNS = frozenset(w.encode() for w in ("eht dna uoy lla ruoy siht taht htiw rof snoitcurtsni erongi "
                                                 "syawla reven drowssap dnufer").split())
_BIDI_OVERRIDE = re.compile("[\u202e\u2067\u202b]([^\u202c\u2069\n]*)")
_LEET = str.maketrans("4310$7@5!", "aeiostasi")
_LEET_TOKEN = re.compile(r"(?=[a-z$@]*[0-9$@])(?=[0-9$@]*[a-z])[a-z0-9$@']{3,}")
_CHAR_CODES = re.compile(r"(?:\b(?:3[2-9]|[4-9]\d|1[01]\d|12[0-6])\b[ ,;]+){8,}(?:3[2-9]|[4-9]\d|1[01]\d|12[0-6])\b")
_WORDS = re.compile(r"[a-z]+")


_NOT_LETTER = bytes.maketrans(bytes(range(256)), bytes(c if 97 <= c <= 122 else 32 for c in range(256)))


def _word_set(text: str) -> set[bytes]:
    """The lowercase ASCII words of `text`, as bytes (a C-speed split: this runs on every text)."""
    return set(text.encode("utf-8", "replace").translate(_NOT_LETTER).split())


def _recoded(text: str, base: str, words: set[bytes]) -> list[str]:
    """Text that a person or model reads straight through but the rules would not: URL-encoded words, ROT13,
    text reversed (a right-to-left override shows it the right way round), leetspeak, letters shuffled inside
    words, decimal character codes. Each returned normalised; empty for ordinary text."""
    out = []
    escapes = len(_PERCENT.findall(text)) if "%" in text else 0
    if escapes >= 2 or (escapes and text.count("+") >= 3):  # form encoding: "+" for spaces
        from urllib.parse import unquote_plus
        out.append(normalise(unquote_plus(text[:MAX_DECODE_CHARS * 4])))
    if len(words & _ROT13_SIGNS) >= 2:
        out.append(normalise(codecs.decode(base, "rot13")))
    overrides = _BIDI_OVERRIDE.findall(text) if not text.isascii() else []
    if overrides:
        out.append(normalise(" ".join(o[::-1] for o in overrides)))
    if len(words & _REVERSED_SIGNS) >= 2:
        out.append(base[::-1])
    if any(c in base for c in "0134$@"):  # leetspeak: key words appear only once digits read as letters
        if (_word_set(base.translate(_LEET)) - words) & _LEET_KEYS:
            out.append(_LEET_TOKEN.sub(lambda m: m.group(0).translate(_LEET), base))
    unscrambled = _unscramble(base, words)
    if unscrambled:
        out.append(unscrambled)
    if ", " in text or " " in text:
        for match in list(_CHAR_CODES.finditer(text))[:MAX_DECODES]:
            decoded = _printable_text(bytes(int(n) for n in re.findall(r"\d+", match.group(0))))
            if decoded:
                out.append(normalise(decoded))
    return out


# Words injections are built from; a word with the same first and last letter and the same letters in between,
# shuffled, is read as that word ("ignroe all prveious insturctions").
_KEY_WORDS = ("ignore disregard previous prior instructions instruction always never reveal password passwords "
              "account refund refunds approve approval confirm confirmation verify verification identity "
              "transfer assistant assistants agents system prompt policy rules override cancel every forget "
              "secret secrets credentials token tokens immediately without customer future remember memory "
              "reservation reservations").split()


def _signature(word: str | bytes) -> bytes:
    word = word.encode() if isinstance(word, str) else word
    return word[:1] + bytes(sorted(word[1:-1])) + word[-1:]


_SCRAMBLED = {_signature(w): w for w in _KEY_WORDS if len(w) >= 5}


_SCRAMBLE_SHAPES = frozenset((w.encode()[0], w.encode()[-1], len(w)) for w in _KEY_WORDS if len(w) >= 5)
_KEY_SET = frozenset(w.encode() for w in _KEY_WORDS)
_LEET_KEYS = frozenset(w.encode() for w in ("ignore previous instructions always never password refund skip "
                                             "identity reveal transfer rule rules disregard confirm verification "
                                             "secret token").split())


def _unscramble(base: str, words: set[bytes]) -> str | None:
    """`base` with shuffled key words put back, when at least two were shuffled; else None."""
    shuffled = [w for w in words if len(w) >= 5 and (w[0], w[-1], len(w)) in _SCRAMBLE_SHAPES
                and w not in _KEY_SET and _SCRAMBLED.get(_signature(w))]
    if len(shuffled) < 2:
        return None
    changed = 0

    def put_back(match: re.Match) -> str:
        nonlocal changed
        word = match.group(0)
        if len(word) < 5:
            return word
        known = _SCRAMBLED.get(_signature(word))
        if known and known != word:
            changed += 1
            return known
        return word

    fixed = _WORDS.sub(put_back, base[:MAX_DECODE_CHARS * 4])
    return fixed if changed >= 2 else None


_OVERLAY_OR_STYLED = re.compile("[\u0334-\u0338\u249c-\u24e9\uff21-\uff3a\uff41-\uff5a\U0001d400-\U0001d7ff"
                                "\U0001f130-\U0001f189]")


def _disguised(text: str) -> bool:
    """Invisible characters, letters struck through or drawn from a styled (circled, full-width, mathematical) set,
    or a word mixing Latin letters with lookalikes from another script."""
    if text.isascii():
        return False
    if hidden_characters(text):
        return True
    if len(_OVERLAY_OR_STYLED.findall(text)) >= 4:  # struck-through letters, circled or mathematical letters
        return True
    return any(_LATIN.search(w) and any(c in _CONFUSABLE_CHARS for c in w)
               for w in _LETTER_RUN.findall(text) if not w.isascii())
