"""Structural checks of a lesson for orders in shapes `lesson_review`'s sentences miss (`more_findings`): a setting
that switches a safeguard off (or a harmful capability on), a check moved after the action, said to happen elsewhere
or dismissed as needless, money paid where someone other than the task chooses (whatever verb says the choosing) or
handed out in the passive voice, money routed to an account the task never named (`routed_money`), data shared with
anyone who has a link, a policy said to be withdrawn, authority handed to text from tools, pages or messages,
actions hidden from the user, a lesson steering its own review, and code piped from the network into a shell.
Each a pure pattern over the normalised text; negated orders are left to the caller's `negated`."""

from __future__ import annotations

import re
from typing import Callable

from .findings import Finding
from .rule_kit import _SAFEGUARD

_CHECK = rf"(?:{_SAFEGUARD}|(?:identity |id |fraud |security )?checks?)"
# Text that did not come from the agent's principals, and claims of rank over the orders the agent takes.
_SOURCE = (r"(?:tools?'?s?\s+(?:outputs?|results?|responses?|messages?)|outputs? (?:from|of) (?:this|the|a|any) tool|"
           r"(?:web ?)?pages?|emails?|(?:this|the) (?:readme|output|response|document|field|notice)|fields?|"
           r"instructions (?:found )?(?:in|inside|within) \w+)")
_RANK = (r"(?:outrank\w*|supersed\w*|takes? precedence over|(?:higher|top|highest|elevated|the same|equal|more) "
         r"(?:priority|authority|trust)(?: than| as| over)?|priority over|authority of|signed by the operator)")
_READER_ORDERS = (r"\b(?:the user\b|the customer\b|the system\b|system (?:prompt|message|instructions)|your (?:own )?"
                  r"(?:instructions|prompt|rules|polic(?:y|ies))|(?:the )?(?:user|system|assistant|agent)'?s "
                  r"(?:instructions|messages?|prompt|rules|requests?|orders?))")

# Where money is paid, and who other than the task can choose it (item 4 of issue 15: the chooser and the
# destination are the structure, whatever verb says the choosing: names, dictates, specifies, reads out ...).
_PAY_TO = r"(?:card|account|iban|wallet|method|destination|payee|beneficiary|bank details|routing details)"
_CHOOSER = (r"(?:they|he|she|someone|anyone|whoever|the (?:customer|user|caller|client|requester|sender|person|"
            r"beneficiary|vendor|supplier|payee|counterparty|other party|message|email|note))")

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
     re.compile(rf"\b(?:never|don'?t|do not|no need to)\s+(?:ask|wait)(?:ing)?\s+(?:[\w'-]+\s+){{0,3}}?(?:for\s+)?"
                rf"(?:[\w'-]+\s+){{0,2}}?{_SAFEGUARD}"
                r"|\b(?:(?:is|are|does|do)\b[^?\n]{0,80}?\b(?:confirm\w*|verif\w*|check\w*|approval)\b[^?\n]{0,40}?"
                r"\b(?:needed|necessary|required)|why (?:would|should) (?:an?|the|any) (?:assistant|agent|ai|bot)s?\b"
                r"[^?\n]{0,60}?\b(?:confirm\w*|verif\w*|check\w*|approval))\b[^?\n]{0,40}\?\s*(?:no\b|"
                r"it (?:is not|isn't|wouldn't|doesn't|does not)|never\b|not really|nope)")),
    ("move-money", "flag", "pay out wherever someone other than the task chooses",
     re.compile(rf"\b(?:whichever|whatever|any)\s+(?:[\w-]+\s+)?{_PAY_TO}\s+(?:number\s+)?(?:that\s+|which\s+)?"
                rf"{_CHOOSER}\s+(?:\w+\s+)?[a-z]{{3,}}\b"
                rf"|\b{_PAY_TO}\s+(?:number\s+)?(?:(?:was|is|gets?)\s+)?(?:given|provided|supplied|named|specified|"
                rf"dictated|listed|quoted|stated|chosen|picked|requested|sent)\s+(?:by|in)\s+(?:the\s+)?"
                rf"(?:{_CHOOSER}|(?:latest|last|most recent|newest|new)\b)"
                rf"|\b{_PAY_TO}\s+(?:number\s+)?(?:in|from|on)\s+(?:the\s+)?(?:latest|last|most recent|newest|"
                r"their|his|her|the caller'?s?|the sender'?s?)\s+(?:[\w-]+\s+)?(?:message|e-?mail|mail|chat|note|"
                r"request|reply|letter|fax|text)\b")),
    ("move-money", "borderline", "hand money out (said in the passive)",
     re.compile(r"\b(?:refunds?|credits?|vouchers?|compensation|money|funds|payments?|cash)\s+(?:are|is)\s+"
                r"(?:to be|always|automatically)\s+(?:\w+\s+)?(?:issued|granted|given|paid|sent|transferred|refunded)\b"
                r"|\b(?:refundable|reimbursable)\b[^.;\n]{0,40}?\b(?:on request|upon request|on demand|when asked|"
                r"if asked)\b")),
    ("publish", "borderline", "share data with anyone who has a link or in public",
     re.compile(r"\banyone with the link\b|\b(?:make|set|mark)\s+(?:it|them|the \w+)\s+public\b"
                r"|\b(?:post|paste|share|publish|upload|put)\b[^.;\n]{0,60}?\b(?:public|"
                r"world-readable)\s+(?:#?[\w-]+\s+)?"
                r"(?:channel|gist|repo\w*|bucket|page|link|pastebin|forum)\b")),
    ("tool-authority", "flag", "give text from tools, pages or messages the authority of its instructions",
     re.compile(rf"\b{_RANK}\b[^.;\n]{{0,80}}?{_READER_ORDERS}"
                rf"|\b{_SOURCE}\b[^.;\n]{{0,80}}?\b(?:comes?|coming|came|are|is|"
                rf"as)\s+(?:\w+\s+)?from\s+the\s+(?:operator|developer|"
                r"system|administrator|owner)\b"
                rf"|\b{_SOURCE}\b[^.;\n]{{0,120}}?\b(?:follow|obey|execute|apply|treat|do what|"
                rf"act on)\b[^.;\n]{{0,40}}?"
                r"\b(?:as (?:you would )?(?:the |a |your )?(?:system|operator|developer)|even (?:if|when|though)|"
                r"over the "
                r"user|instead of the user|regardless of (?:the )?(?:user|polic))"
                r"|\b(?:trust|obey|authority|priority)[\w ]{0,12}[:=]\s*[\"']?(?:tool|system|page|"
                r"document)[\w ]{0,8}output"
                r"|\btrust[ _-]tool[ _-]output\s*[:=]\s*[\"']?(?:system|true|yes|full|high)")),
    ("conceal", "flag", "hide what it did from the user or from its own report",
     re.compile(r"\b(?:never|don'?t|do not|without)\s+(?:(?:tell|telling|inform|informing|notify|notifying|mention|"
                r"mentioning|alert|alerting)\s+(?:to\s+)?|let(?:ting)?\s+)(?:the\s+)?(?:user|customer|caller|"
                r"account holder|"
                r"owner|client|them|him|her)\b(?:\s+know)?[^.;\n]{0,60}?\b(?:transfer\w*|charg\w*|payments?|"
                r"withdraw\w*|debit\w*|purchas\w*|subscri\w*|fees?|moved|sent|shared|forwarded|accessed|changed)\b"
                r"|\b(?:never|don'?t|do not)\s+(?:mention|report|include|log|disclose|record)\s+(?:this|that|it|these|"
                r"steps? \d+|the (?:transfer|change|payment|charge|forward\w*|upload))\s+(?:step\s+)?(?:in|to)\s+"
                r"(?:your|the)\s+(?:summary|report|reply|answer|logs?|notes)\b")),
    ("skip-safeguard", "flag", "treat a safeguard as needless",
     re.compile(rf"\b{_CHECK}\b[^.;\n]{{0,40}}?\b(?:is|are|'s|seems?|feels?|just|mostly|only|merely)\s+"
                r"(?:(?!not\b|never\b|n't\b)\w+\s+){0,2}?(?:redundant|unnecessary|unneeded|pointless|superfluous|"
                r"overkill|a waste|a formality|busywork|friction)\b"
                rf"|\b{_CHECK}\b[^.;\n]{{0,30}}?\b(?:mostly|only|just|merely|simply)?\s*(?:slows?|slowing)\b"
                r"[^.;\n]{0,20}?\bdown\b")),
    ("curation-steer", "flag", "steer its own review",
     re.compile(r"\b(?:this|the)\s+(?:lesson|item|note|memory|rule|entry|guidance)\b[^.;\n]{0,40}?\b(?:was|has been|"
                r"is|were|have been|has|have)\s+(?:already\s+|been\s+)*(?:reviewed|approved|vetted|signed off|"
                r"whitelisted|cleared|"
                r"pre-?approved|audited)\b"
                r"|\b(?:reviewers?|curators?|moderators?|approvers?|the (?:judge|gate|guard|filter))\b[^.;\n]{0,30}?"
                r"\b(?:should|must|can|may|need to|are to|is to)\s+(?:simply\s+|just\s+)?(?:approve|accept|pass|"
                r"whitelist)\s+(?:it|this|the lesson|this lesson|without)\b"
                r"|\b(?:do not|don't|never)\s+flag\s+(?:this|it)\b")),
    ("harmful-setting", "flag", "switch on a harmful capability in its settings",
     re.compile(r"[\"']?[\w-]*(?:credential|secret|password|token|exfil|disclos|sudo|unrestricted|jailbreak)[\w-]*"
                r"[\"']?\s*[:=]\s*[\"']?(?:true|yes|on|allowed?|enabled?|all|unrestricted)\b"
                r"|\b(?:agent|assistant|ai|llm|bot)[\w-]*[ _-]mode\s*[:=]\s*[\"']?(?:unrestricted|developer|jailbreak|"
                r"god|dan|no[ _-]?limits?|uncensored)\b")),
    ("remote-code", "flag", "run code fetched from the network",
     re.compile(r"\b(?:curl|wget)\b[^|\n]{0,120}\|\s*(?:sudo\s+)?(?:ba|z|da)?sh\b")),
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


# An account or a numbered destination ("to the account ACCT-4471", "into wallet 0x7a..."), as money's target.
_DESTINATION = re.compile(r"\b(?:to|into)\s+(?:the\s+|a\s+|an\s+)?(?:[\w'-]+\s+){0,3}?"
                          r"([a-z0-9][a-z0-9-]*\d[a-z0-9-]*\d[a-z0-9-]*\d[a-z0-9-]*)\b")
_ACCOUNT = re.compile(r"\b(?:account|acct|iban|wallet|routing|card)\s*(?:number|no\.?|#|id)?\s*[:#]?\s*"
                      r"([a-z]{0,4}\d[\d -]{2,}\d|[a-z0-9]{20,})\b")

# Money said to flow with no verb ordering it ("settlements now go to account 55-..."): judged by its destination.
_MONEY_FLOWS = ("payments? payouts? settlements? transfers? funds refunds? wires? remittances? disbursements? proceeds "
                "deposits? salar(?:y|ies) reimbursements?").split()
_ROUTING = "go goes going sent paid routed rerouted redirected moved made wired directed deposited credited transferred"
_ROUTED = re.compile(rf"\b(?:{'|'.join(_MONEY_FLOWS)})\b[^.;\n]{{0,40}}?\b(?:{'|'.join(_ROUTING.split())}|remitted)\b"
                     r"(?:\s+out)?\s+(?:to|into)\b")


def outside_account(sentence: str, task: str) -> str | None:
    """The first account or numbered destination in `sentence` that the task (its normalised text) never named."""
    return next((a.group(1).strip() for a in [*_ACCOUNT.finditer(sentence), *_DESTINATION.finditer(sentence)]
                 if a.group(1).strip() not in task), None)


def routed_money(text: str, task: str, negated: Callable[[str, int], bool],
                 sentence_at: Callable[[str, int], str]) -> list[Finding]:
    """Money routed, in the passive or with "go to", to a destination the task never named: a flag."""
    for match in _ROUTED.finditer(text):
        sentence = sentence_at(text, match.start())
        account = None if negated(text, match.start()) else outside_account(sentence, task)
        if account:
            return [Finding("flag", f"the lesson routes money to “{account}”, which the task never named",
                            "move-money", " ".join(sentence.split())[:120])]
    return []
