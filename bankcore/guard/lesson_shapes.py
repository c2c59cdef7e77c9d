"""Structural checks of a lesson for orders in shapes `lesson_review`'s sentences miss (`more_findings`): a setting
that switches a safeguard off, a check moved after the action or said to happen elsewhere, money paid where the
customer says or handed out in the passive voice, data shared with anyone who has a link, and a policy said to be
withdrawn. Each a pure pattern over the normalised text; negated orders are left to the caller's `negated`."""

from __future__ import annotations

import re
from typing import Callable

from .findings import Finding
from .rule_kit import _SAFEGUARD

_CHECK = rf"(?:{_SAFEGUARD}|(?:identity |id |fraud |security )?checks?)"

# (kind, severity, what the lesson tells the agent to do, pattern)
SHAPES: tuple[tuple[str, str, str, re.Pattern], ...] = (
    ("skip-safeguard", "flag", "switch a safeguard off in its settings",
     re.compile(r"[\"']?[\w-]*(?:confirm|identity|approval|fraud|verification|consent|sign_?off|2fa|mfa|kyc)[\w-]*"
                r"[\"']?\s*[:=]\s*[\"']?(?:false|no|none|off|disabled|skip(?:ped)?|null|never|optional|not_required|"
                r"auto(?:matic)?)\b")),
    ("skip-safeguard", "flag", "act first and check afterwards",
     re.compile(r"\b(?:confirm|verify)\w*\b[^.;\n]{0,60}?\b(?:afterwards|after the fact|later on|"
                r"once (?:it is|it's) done)\b")),
    ("skip-safeguard", "flag", "leave a check to someone else",
     re.compile(rf"\b{_CHECK}\s+(?:is|are)\s+(?:already\s+)?(?:handled|done|performed|verified|checked|covered)\s+"
                r"(?:upstream|elsewhere|by (?:another|the other|someone|a different)|already)\b"
                rf"|\b(?:is|are)\s+(?:already\s+)?verified\s+(?:upstream|elsewhere)\b"
                rf"|\bno longer\s+(?:repeat|perform|run|do|ask for|require|need)\w*\s+(?:the\s+|an?\s+|any\s+)?"
                rf"(?:[\w-]+\s+)?{_CHECK}"
                rf"|\b{_CHECK}\s+(?:is|are)\s+no longer\s+(?:performed|done|run|required|needed|necessary)\b"
                rf"|\bno\s+(?:[\w-]+\s+)?{_CHECK}\s*(?:[|,)]|$)")),
    ("skip-safeguard", "flag", "never ask for a confirmation",
     re.compile(rf"\b(?:never|don'?t|do not|no need to)\s+(?:ask|wait)(?:ing)?\s+(?:\w+\s+){{0,3}}?(?:for\s+)?"
                rf"(?:\w+\s+)?{_SAFEGUARD}"
                r"|\b(?:(?:is|are|does|do)\b[^?\n]{0,80}?\b(?:confirm\w*|verif\w*|check\w*|approval)\b[^?\n]{0,40}?"
                r"\b(?:needed|necessary|required)|why (?:would|should) (?:an?|the|any) (?:assistant|agent|ai|bot)s?\b"
                r"[^?\n]{0,60}?\b(?:confirm\w*|verif\w*|check\w*|approval))\b[^?\n]{0,40}\?\s*(?:no\b|"
                r"it (?:is not|isn't|wouldn't|doesn't|does not)|never\b|not really|nope)")),
    ("move-money", "flag", "pay out wherever the customer says",
     re.compile(r"\b(?:whichever|whatever|any)\s+(?:card|account|iban|wallet|address|method)\s+(?:they|the customer|"
                r"the user|the caller|he|she)\s+(?:names?|gives?|provides?|chooses?|wants?|prefers?|says?)\b")),
    ("move-money", "borderline", "hand money out (said in the passive)",
     re.compile(r"\b(?:refunds?|credits?|vouchers?|compensation|money|funds|payments?|cash)\s+(?:are|is)\s+"
                r"(?:to be|always|automatically)\s+(?:\w+\s+)?(?:issued|granted|given|paid|sent|transferred|refunded)\b"
                r"|\b(?:refundable|reimbursable)\b[^.;\n]{0,40}?\b(?:on request|upon request|on demand|when asked|"
                r"if asked)\b")),
    ("publish", "borderline", "share data with anyone who has a link or in public",
     re.compile(r"\banyone with the link\b|\b(?:make|set|mark)\s+(?:it|them|the \w+)\s+public\b"
                r"|\b(?:post|paste|share|publish|upload|put)\b[^.;\n]{0,60}?\b(?:public|world-readable)\s+(?:#?[\w-]+\s+)?"
                r"(?:channel|gist|repo\w*|bucket|page|link|pastebin|forum)\b")),
    ("own-rules", "borderline", "treat a rule as withdrawn",
     re.compile(r"\b(?:rule|polic(?:y|ies)|limit|restriction|fee|requirement)s?\b[^.;\n]{0,30}?\b(?:was|were|has been|"
                r"have been)\s+(?:withdrawn|abolished|rescinded|lifted|dropped|scrapped|retired)\b")),
)


def more_findings(text: str, negated: Callable[[str, int], bool]) -> list[Finding]:
    """The findings of `SHAPES` in `text` (one per kind and wording), skipping matches an earlier word negates."""
    found = []
    for kind, severity, why, rx in SHAPES:
        for match in rx.finditer(text):
            if negated(text, match.start()):
                continue
            excerpt = " ".join(match.group(0).split())[:120]
            found.append(Finding(severity, f"the lesson tells the agent to {why} (“{excerpt}”)", kind, excerpt))
            break
    return found
