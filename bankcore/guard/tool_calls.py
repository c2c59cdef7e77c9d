"""Tool calls that untrusted text suggests (`suggested_calls`): an order with no words.

A tool result can carry a call for the agent to make — `transfer_funds(to="...", confirm=false)`, a JSON object
`{"name": ..., "arguments": ...}`, a `next_action` or `tool_call` field. No wording rule sees an order in it, yet
an agent that copies it moves money. A suggested call is read as the sentence it stands for (its name's words, then
each argument: `confirm=false` reads "without confirm", `skip_review: true` reads "skip review") and that sentence
goes through the same structural checks as a lesson (`lesson_review.structural_findings`): money to an account
the task never named, secrets exported, privileges granted, a safeguard skipped. A call that destroys data or
moves money with a safeguard switched off in its own arguments is flagged too. Calls the agent itself made, with
arguments the task holds, are the task's own.

Only calls whose name carries a cheap sign of an action class that can do harm (`_RISK_WORDS`) are judged, so code
and logs full of ordinary calls pay a regex scan and a set lookup per call; a safeguard switched off in a call that
does nothing risky (`requests.get(url, verify=False)`) is not an order to harm.
"""

from __future__ import annotations

import re

from .findings import Injection
from .lesson_review import structural_findings

MAX_CALLS = 16  # risky-looking calls judged per text
ARGS_CHARS = 400  # of a call's arguments read

# name(args): a dotted or snake/camel identifier right before "(", arguments on one line.
_NAMED_CALL = re.compile(r"(?<![\w.$])([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\(([^()\n]{0,400})\)")
# A call as data: a name field of a call-shaped key, the arguments after it.
# (the key's words first, so the search skips ahead on their letters; "first_name" is no call key)
_CALL_FIELD = re.compile(r"(name|function|function_name|tool|tool_name|action|method|call|next_action|tool_call|"
                         r"suggested_\w+|recommended_\w+)[\"']?\s*[:=]\s*[\"']([A-Za-z_][\w.]{2,80})[\"']")
_CALL_SIGN = re.compile(r"\w\(")  # cheap sign first: a name right before "("
# A key that only names a thing ("name", "action") makes a call with an arguments key beside it; the call keys do
# on their own.
_PLAIN_KEYS = frozenset({"name", "action", "method", "call"})
_ARGS_KEY = re.compile(r"[\"']?(?:arguments|args|parameters|params|input|kwargs)[\"']?\s*[:=]")
_SPLIT = re.compile(r"[_.\-]+|(?<=[a-z0-9])(?=[A-Z])")
_PAIR = re.compile(r"[\"']?([A-Za-z_][\w-]{0,40})[\"']?\s*[:=]\s*"
                   r"(\"[^\"]{0,120}\"|'[^']{0,120}'|[^,\s{}()\[\]]{1,120})")

# Words of an action class that can do harm when a tool result picks it: money, secrets, deletion, privileges.
_RISK_WORDS = frozenset(
    "transfer transfers wire pay payout payouts payment send refund refunds remit withdraw disburse reimburse credit "
    "deposit move export exports dump reveal leak share upload forward email post publish delete remove drop purge "
    "wipe destroy erase truncate rm revoke cancel close grant elevate promote role roles permission permissions "
    "admin sudo chmod owner disable bypass override approve secret secrets credential credentials password passwords "
    "token tokens key keys apikey ssn card cards".split())
# Argument keys that name a safeguard, and keys that switch one off when true.
_GUARD_KEY = re.compile(r"confirm|verif|approv|review|consent|notif|2fa|mfa|auth|check|validat|audit|dry_?run|"
                        r"safe|prompt|ask")
_OFF_KEY = re.compile(r"skip|bypass|force|silent|quiet|no_?confirm|no_?verify|no_?notif|unattended|auto_?approve|"
                      r"suppress|override")
_FALSE = frozenset({"false", "no", "off", "none", "null", "0", "skip", "skipped", "disabled", "never", "n"})
_TRUE = frozenset({"true", "yes", "on", "1", "y", "all", "always"})
_DESTINATION_KEY = frozenset("to dest destination recipient payee account iban beneficiary target wallet".split())


def suggested_calls(text: str, task: str, step: int | None, field: str, view: str) -> list[Injection]:
    """Flags for the risky calls `text` (one untrusted text, raw or decoded) suggests that the task never asked
    for; `task` is the task's own normalised text (the user's words and the agent's actions)."""
    if "(" not in text and ":" not in text and "=" not in text:
        return []
    for name, args in _calls(text):
        words = [w.lower() for w in _SPLIT.split(name) if w]
        pairs = [(k.lower(), v.strip("\"'").lower()) for k, v in _PAIR.findall(args.replace("\\", ""))]
        if not _RISK_WORDS.intersection(words):
            continue  # `requests.get(url, verify=False)`: a safeguard off in a call that does nothing risky
        off = [k for k, v in pairs if _switches_off(k, v)]
        if _the_tasks_own(name, pairs, task):
            continue
        sentence = _sentence(words, pairs)
        flags = [f for f in structural_findings(sentence, task, True) if f.severity == "flag"]
        if flags:
            return [Injection(step, field, f"suggested-call-{flags[0].kind or 'harm'}", _clip(f"{name}({args})"),
                              "flag", view)]
        if off:
            return [Injection(step, field, "suggested-call-safeguard-off", _clip(f"{name}({args})"), "flag", view)]
    return []


def _calls(text: str) -> list[tuple[str, str]]:
    """(name, arguments) for each call `text` spells out, at most `MAX_CALLS` of the risky-looking ones."""
    found = []
    for match in _NAMED_CALL.finditer(text) if _CALL_SIGN.search(text) else ():
        name = match.group(1)
        if ("_" in name or "." in name or not name.islower() or "=" in match.group(2) or ":" in match.group(2)) \
                and _risky_looking(name):
            found.append((name, match.group(2)))
            if len(found) >= MAX_CALLS:
                return found
    for match in _CALL_FIELD.finditer(text):
        name = match.group(2)
        if (match.start() and (text[match.start() - 1].isalnum() or text[match.start() - 1] == "_")) \
                or not _risky_looking(name):
            continue
        args = _object_rest(text, match.end())
        if match.group(1).lower() in _PLAIN_KEYS and not _ARGS_KEY.search(text, max(0, match.start() - 200),
                                                                         match.end() + len(args)):
            continue  # {"name": "Jo", "account": ...} is a record, not a call
        found.append((name, args))
        if len(found) >= MAX_CALLS:
            break
    return found


def _risky_looking(name: str) -> bool:
    if name.isalpha() and name[1:].islower():  # one word: most values in a JSON record
        return name.lower() in _RISK_WORDS
    return not _RISK_WORDS.isdisjoint(w.lower() for w in _SPLIT.split(name) if w)


def _object_rest(text: str, at: int) -> str:
    """The rest of the object a call's name field sits in (up to `ARGS_CHARS`, until its braces close)."""
    depth = 0
    for i, c in enumerate(text[at:at + ARGS_CHARS]):
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth < 0:
                return text[at:at + i]
    return text[at:at + ARGS_CHARS]


def _switches_off(key: str, value: str) -> bool:
    """Whether an argument turns a safeguard off: `confirm=false`, `skip_verification=true`, `force: true`."""
    if _OFF_KEY.search(key):
        return value in _TRUE
    return bool(_GUARD_KEY.search(key)) and value in _FALSE


def _the_tasks_own(name: str, pairs: list[tuple[str, str]], task: str) -> bool:
    """A call the agent itself made (its name in the task's text) whose argument values the task holds too."""
    return name.lower() in task and all(v in task for _, v in pairs if len(v) >= 3)


def _sentence(words: list[str], pairs: list[tuple[str, str]]) -> str:
    """The call as the order it stands for: "transfer funds to acct 99 amount all without confirm"."""
    parts = [" ".join(words)]
    for key, value in pairs:
        key_words = " ".join(w for w in _SPLIT.split(key) if w)
        if _switches_off(key, value):
            parts.append(key_words if _OFF_KEY.search(key) else f"without {key_words}")
        elif value in _TRUE:
            parts.append(key_words)
        elif value not in _FALSE:
            parts.append(f"{'to' if _DESTINATION_KEY.intersection(key_words.split()) else key_words} {value}")
    return " ".join(parts)


def _clip(text: str) -> str:
    return " ".join(text.split())[:120]
