"""Which characters are hidden — invisible, bidi controls, tag characters — and how many a text holds.

Its own module, apart from `normalisation` (which re-exports `hidden_characters`), so that the lesson exporter,
which needs only this, does not load the guard's lexicons and decoders (~35 ms of a cold `export-lessons`). The
character class is built on first use, not at import: building it reads the Unicode category of every BMP code
point (~20 ms), and text that is all ASCII never needs it.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# Invisible fillers and variation selectors that Unicode does not class as format characters (Cf).
_INVISIBLE_EXTRA = "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u2800\u3164\uffa0" + \
                   "".join(chr(c) for c in range(0xFE00, 0xFE10))


@functools.cache
def invisible_rx() -> re.Pattern:
    """One character that is hidden: a BMP format character (Cf: zero-width, bidi controls), one of the fillers
    above, or a tag character (U+E0000-E007F)."""
    codes = {ord(c) for c in _INVISIBLE_EXTRA}
    codes.update(code for code in range(0x10000) if unicodedata.category(chr(code)) == "Cf")
    return re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(codes)) + "\U000e0000-\U000e007f]")


def hidden_characters(text: str) -> int:
    """How many invisible, bidi-control or tag characters `text` holds (none belongs in a lesson)."""
    if text.isascii():
        return 0
    return len(invisible_rx().findall(text))
