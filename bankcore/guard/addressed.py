"""Orders to an AI reader inside untrusted text, judged by what they ask rather than how they are worded
(`addressed_harms`).

The injection rules (`rules`, `framing_rules`) recognise how an order is dressed: "note for the assistant", a chat
template, an override key. An attacker who finds a new dress (a legal hold, a vendor audit, a YAML key named
`assistant_instructions`, an environment variable `AGENT_MODE`, a footnote) slips past them. What the order asks does
not change with the dress: the same structural checks a lesson must pass (`lesson_review.structural_findings`: money
to an account the task never named, secrets revealed, outside contact, a safeguard skipped, its own rules changed,
privileges, authority handed to tool output, actions hidden) are run on the text around every place the untrusted
text speaks to an AI or automated reader. A flag there is an injection whatever its wording.

Tool output routinely talks about money, passwords and addresses (a bill, a README, a password-reset email); only
text that also names an AI reader is judged, and claims that tool text outranks the user's or the system's
instructions (`_RANK_CLAIM`), which no benign output makes, are judged everywhere.
"""

from __future__ import annotations

import re

from .findings import Injection
from .lesson_review import structural_findings
from .lesson_shapes import _RANK, _READER_ORDERS

BEFORE, AFTER = 120, 360  # the window judged around a reader's name: the order usually follows the address
MAX_WINDOWS = 12  # windows judged per view of a text: a long log that names "agent" often pays a bounded cost
HIDDEN_CHARS = 4000  # of a text that obfuscation hid, judged whole whether or not it names a reader
# Views of what obfuscation hid (decoded runs, reversed or shifted text, letter-spaced words): benign text does not
# hide what it asks, so there any order the checks flag counts, addressed or not.
_HIDDEN_VIEWS = frozenset({"decoded", "spaced"})
# Hidden text is judged on any finding but an address alone (decoded tokens and data URLs name hosts); text that
# speaks to an AI reader on a flag, or on a borderline skipped safeguard or set-aside rule: a lesson may narrate
# "I answered without checking", but text that tells the agent to act without asking gives an order.
_ORDERED_TO_READER = frozenset({"skip-safeguard", "own-rules"})

# An AI or automated reader, however it is named: in prose, in a key (`assistant_instructions`, `AGENT_MODE`,
# `ai:directive`, `x-llm-note`), as whoever processes the text ("human or automated", "should you be an ..."), or
# as the one handed a persona ("you are now playing the role of ..."): a role prompt speaks to its reader, so what it
# asks is judged like any address — a persona with no harmful ask passes, one that asks for secrets does not.
_READER = re.compile(
    r"\b(?:(?:ai|a\.i\.|llms?|agents?|assistants?|chatbots?|copilots?|gpts?|language models?|automation|automated|"
    r"autonomous|asistente|assistente|assistenten|asystent\w*|agente|msaidizi|어시스턴트)\b"
    r"|human or (?:automated|machine|ai)\b|(?:should|if|when|whenever|in case) you(?:'re| are| be)\s+(?:an?\s+)?"
    r"(?:automated|ai|llm|bot|model|assistant|agent|machine)"
    r"|whoever (?:is\s+)?(?:reads?|reading|process\w*|handl\w*|review\w*|summari[sz]\w*)\b"
    r"|you (?:are|have been) (?:now\s+|hereby\s+)?(?:cleared|authori[sz]ed|permitted|allowed|approved) to\b"
    r"|\byou are (?:now\s+)?(?:playing|acting as|in the role of)\b|\b(?:play|playing|take|taking) the (?:role|part) of\b"
    r"|(?:asks?|tells?|requests?|instructs?) you to (?:summari[sz]e|read|process|review|answer|reply|draft|"
    r"translate|handle)\b)")
_KEY_SPLIT = re.compile(r"(?<=[a-z0-9])_(?=[a-z])")
_RANK_CLAIM = re.compile(rf"\b{_RANK}\b[^.;\n]{{0,80}}?{_READER_ORDERS}")
_RANK_SIGNS = ("outrank", "supersed", "precedence", "priority", "authority", "trust", "signed by")


def _windows(text: str) -> list[str]:
    """The stretches of `text` around the places it names an AI reader, overlapping ones merged."""
    spans: list[list[int]] = []
    for match in _READER.finditer(text):
        lo, hi = max(0, match.start() - BEFORE), match.end() + AFTER
        if spans and lo <= spans[-1][1]:
            spans[-1][1] = hi
        elif len(spans) < MAX_WINDOWS:
            spans.append([lo, hi])
        else:
            break
    return [text[lo:hi] for lo, hi in spans]


def addressed_harms(text: str, task: str, step: int | None, field: str, view: str) -> list[Injection]:
    """Injections (flag severity) where `text` — one normalised view of an untrusted text — addresses an AI
    reader and asks for something no task needs, hides such an order (a decoded or letter-spaced `view`, judged
    whole), or claims that tool text outranks the reader's orders. `task` is the text of the task itself
    (accounts and addresses it names belong to it)."""
    text = _KEY_SPLIT.sub(" ", text) if "_" in text else text
    found: list[Injection] = []
    if any(sign in text for sign in _RANK_SIGNS):
        claim = _RANK_CLAIM.search(text)
        if claim:
            found.append(Injection(step, field, "authority-claim-over-orders", _clip(claim.group(0)), "flag", view))
    hidden = [text[:HIDDEN_CHARS]] if view in _HIDDEN_VIEWS else []
    for i, window in enumerate(hidden + _windows(text)):
        flags = [f for f in structural_findings(window, task, True) if (f.severity == "flag"
                 or (i < len(hidden) and f.kind != "contact") or f.kind in _ORDERED_TO_READER)
                 and (f.kind != "contact" or _sent_to(window, f.excerpt))]
        if flags:
            found.append(Injection(step, field, f"addressed-{flags[0].kind or 'harm'}", _clip(flags[0].excerpt
                                                                                            or window), "flag", view))
            break
    return found


# A verb that sends the task's data (messages, copies, records, credentials ...) — used as a verb, not "my email
# address is ..." — before the address in its sentence; "report such requests to abuse@..." sends nothing of it.
_SEND = (r"(?<!my )(?<!your )(?<!the )(?<!our )(?<!an )(?<!their )\b(?:send|forward|e-?mail|mail|cc|bcc|post|upload|"
         r"report|notify|copy|share|deliver|submit|push|relay|sync|mirror|dm|text|message|transfer|wire|pay|call)\b"
         r"[^.!?\n]{0,60}?\b(?:cop(?:y|ies)|messages?|e-?mails?|threads?|attachments?|data|details|records?|files?|"
         r"transcripts?|conversations?|contents?|everything|all|history|logs?|receipts?|invoices?|documents?|numbers?|"
         r"information|info|summar(?:y|ies)|credentials|passwords?|tokens?|keys?|backups?|exports?|dumps?)\b"
         r"[^.!?\n]{0,60}?")


def _sent_to(window: str, address: str) -> bool:
    """Whether `window` tells its reader to send data to `address`, rather than just mentioning it."""
    return bool(address) and re.search(_SEND + re.escape(address), window) is not None


def _clip(text: str) -> str:
    return " ".join(text.split())[:120]
