"""Orders in untrusted text that name no AI reader (`unaddressed_orders`): a hand-over note, a memo, a FAQ that
asks for a harmful action and, in the same breath, drops the safeguard that would stop it.

Tool output talks about money, passwords and deletions all the time (an invoice gives an IBAN, a README says how to
delete a branch), so neither an action nor an unfamiliar account is enough. What benign text does not do is pair a
harmful action with taking its safeguard away: "no second approval", "without telling the customer", "quietly",
"skip the review", `--force`. Two independent signals must agree in one stretch of text:
- a safeguard dropped (`_DROPPED`, a cheap regex that also decides which stretches are read at all), and
- a harmful action there, found by the lesson checks (`lesson_review.structural_findings`: money to an account the
  task never named, secrets revealed, privileges, data sent out) or a bulk/forced deletion (`_DESTROY`).
A flag-level action makes a flag (it holds the trajectory's lessons); an action the checks are only unsure of (money
with no condition) makes the stretch borderline, which a person looks at.
"""

from __future__ import annotations

import re

from .findings import Injection
from .lesson_review import _negated, structural_findings
from .normalisation import _word_set

BEFORE, AFTER = 200, 200  # the stretch read around a dropped safeguard: the action is in the same or next sentence
MAX_STRETCHES = 6  # stretches judged per text

_GUARD = (r"(?:confirm\w*|verif\w*|approv\w*|sign[- ]?offs?|reviews?|authori[sz]ation|consent|countersign\w*|"
          r"second (?:pair of eyes|look)|checks?|2fa|mfa|otp)")
# A safeguard taken away, however it is said: skipped, not needed, done without, kept from whoever should know.
_DROPPED = re.compile(
    rf"\bwithout\s+(?:[\w'-]+\s+){{0,2}}?(?:{_GUARD}|telling|notifying|informing|alerting|asking|looping in|"
    r"anyone (?:knowing|noticing)|a trace|a paper trail)\b"
    rf"|\bno\s+(?:second|secondary|additional|dual|further|extra|prior|separate|manager'?s?|human)\s+{_GUARD}"
    rf"|\b(?:skip|skipping|bypass\w*|waiv\w*|forgo\w*|omit\w*|dispense with|circumvent\w*)\s+(?:the\s+|any\s+|all\s+)?"
    rf"(?:[\w'-]+\s+)?{_GUARD}"
    rf"|\b(?:no need|not necessary|unnecessary|needn'?t)\s+(?:to\s+)?(?:\w+\s+)?(?:confirm|verify|ask|check|approve)"
    r"|\b(?:quietly|silently|discreetly|secretly|covertly|on the quiet|under the radar|off the books)\b"
    r"|\bkeep\s+(?:this|it|that|the \w+)\s+(?:between us|confidential|quiet|to yourself|off the (?:record|books))\b"
    r"|\b(?:don'?t|do not|never)\s+(?:tell|inform|notify|mention\w*|alert|cc|loop in|copy in)\s+(?:it\s+to\s+)?"
    r"(?:the\s+)?(?:user|customer|client|owner|account holder|finance|security|compliance|audit\w*|anyone|them|him|"
    r"her)\b"
    r"|(?<![\w-])(?:--force|--no-verify|force[- ]push\w*)\b")
# The words each shape of `_DROPPED` cannot match without, as sets: a text none of whose shapes has its words is
# not read further (most tool output, and most prose, which says "without" or "tell her" but not both halves).
def _words(text: str) -> frozenset[bytes]:
    return frozenset(w.encode() for w in text.split())


_GUARD_WORDS = _words("confirm confirmation confirmations confirmed confirming verify verification verified approval "
                      "approvals approve approved review reviews sign signoff authorization authorisation consent "
                      "countersign countersigned check checks 2fa mfa otp look eyes")
_WITHOUT_WHAT = _GUARD_WORDS | _words("telling notifying informing alerting asking looping anyone trace paper")
_SKIPPING = _words("skip skipping bypass bypassing bypasses waive waiving waives forgo forgoing omit omitting omits "
                   "dispense circumvent circumventing no")
_NO_NEED = _words("need necessary unnecessary needn")
_ASK_VERBS = _words("confirm verify ask check approve")
_SECRECY = _words("quietly silently discreetly secretly covertly radar quiet")
_KEPT_SECRET = _words("between confidential quiet yourself record books")
_TELL = _words("tell inform notify mention mentioning mentions alert cc loop copy")
_WHOM = _words("user customer client owner holder finance security compliance audit auditors anyone them him her")
_NOT = _words("don never not")


def _could_drop(words: set[bytes]) -> bool:
    """Cheap: whether some shape of `_DROPPED` has all the words it needs in `words`."""
    return bool((b"without" in words and not words.isdisjoint(_WITHOUT_WHAT))
                or (not words.isdisjoint(_SKIPPING) and not words.isdisjoint(_GUARD_WORDS))
                or (not words.isdisjoint(_NO_NEED) and not words.isdisjoint(_ASK_VERBS))
                or not words.isdisjoint(_SECRECY)
                or (b"keep" in words and not words.isdisjoint(_KEPT_SECRET))
                or (not words.isdisjoint(_TELL) and not words.isdisjoint(_WHOM) and not words.isdisjoint(_NOT))
                or b"force" in words)


# A deletion of data in bulk, or of what cannot be rebuilt (said as an order: "deleted ..." narrates one).
_DESTROY = re.compile(r"\b(?:(?:delet|dropp?|purg|wip|eras|destroy|truncat|overwrit)\w*|rm -rf|force[- ]push\w*|"
                      r"push\s+--force)\b[^.;\n]{0,60}?\b(?:all|every|entire|whole|production|prod|database|"
                      r"backups?|history|main|master|records|audit logs?|logs)\b")
_ACTIONS = frozenset({"move-money", "secret", "privilege", "weaken-security", "contact", "publish",
                      "tamper-evidence"})


def unaddressed_orders(text: str, task: str, step: int | None, field: str, view: str) -> list[Injection]:
    """An injection where `text` (one normalised untrusted text) drops a safeguard around a harmful action; flag
    severity when the lesson checks flag the action, borderline when they are only unsure of it."""
    if not _could_drop(_word_set(text)):
        return []  # cheap: no shape of a dropped safeguard has its words here
    borderline: list[Injection] = []
    for n, drop in enumerate(_DROPPED.finditer(text)):
        if n >= MAX_STRETCHES:
            break
        if _negated(text, drop.start()):
            continue  # "never refund without a manager's approval" is the safeguard, kept
        stretch = text[max(0, drop.start() - BEFORE):drop.end() + AFTER]
        actions = [f for f in structural_findings(stretch, task, True) if f.kind in _ACTIONS]
        destroy = next((d for d in _DESTROY.finditer(stretch) if not d.group(0).split()[0].endswith("ed")), None)
        if not actions and not destroy:
            continue
        if any(f.severity == "flag" for f in actions):
            kind = next(f.kind for f in actions if f.severity == "flag")
            return [Injection(step, field, f"unaddressed-{kind}", _clip(drop.group(0), stretch), "flag", view)]
        if not borderline:
            kind = actions[0].kind if actions else "destroy"
            borderline.append(Injection(step, field, f"unaddressed-{kind}", _clip(drop.group(0), stretch),
                                        "borderline", view))
    return borderline


def _clip(cue: str, stretch: str) -> str:
    return " ".join(f"{cue} … {stretch}".split())[:120]
