"""The structural check of a lesson's text (`review_lesson`): whatever its wording, a lesson that tells the agent
to move money, reveal secrets or credentials, contact outside addresses, skip confirmations or change its own rules
is flagged (or, when the rules are unsure, borderline)."""

from __future__ import annotations

import re
from typing import Sequence

from ..models import Trajectory
from .findings import Finding, unique
from .glossary import concepts as glossary_concepts
from .normalisation import hidden_characters, normalise, views
from .lesson_shapes import more_findings, outside_account, routed_money
from .rules import _SAFEGUARD, scan_text

_NEGATED = re.compile(r"\b(?:never|not|don't|do not|dont|avoid|without|no|nor|refuse to|must not|mustn't|cannot|"
                      r"can't|shouldn't|should not|won't|instead of|rather than|against)\b(?:\s+\w+){0,3}\s*$")
_UN_NEGATED = re.compile(r"\b(?:hesitate|fail|forget|neglect|refuse|omit)\b")

_MONEY_VERB = re.compile(
    r"\b(?:transfer|wire|send|move|pay|refund|deposit|credit(?!\s+cards?)|remit|withdraw|reimburse|compensate|upgrade|"
    r"(?:issue|give|grant|approve|offer|add)\s+(?:\w+\s+){0,3}?(?:refunds?|credits?|vouchers?|certificates?|"
    r"gift cards?|compensation|cash|money|payments?))\b")
_MONEY_OBJECT = re.compile(r"\b(?:money|funds|balance|amount|sum|total|accounts?|payments?|refunds?|credits?|certificates?|vouchers?|"
                           r"business|first class|premium|cabin|in full|full refund|"
                           r"gift cards?|compensation|cash|bitcoin|crypto|wallet|iban|dollars|usd|eur)\b|[$€£]\s?\d")
_UNCONDITIONAL = re.compile(r"\b(?:always|immediately|automatically|every time|whenever (?:asked|requested|they ask)|"
                            r"to (?:every|any|each) (?:users?|customers?|one|passengers?|members?)|"
                            r"to anyone|for everyone|anyone who|everyone who|"
                            r"no matter|regardless|in all cases|unconditionally|without (?:asking|checking|"
                            r"confirm\w*|verif\w*|question)|full balance|entire balance|whole balance|all (?:the )?"
                            r"(?:funds|money|balance))\b")
_CONDITION = re.compile(r"\b(?:if|only|when|unless|before|after|once|eligib\w*|polic(?:y|ies)|allow\w*|check\w*|"
                        r"verif\w*|confirm\w*|rules?|entitled|qualif\w*|depends?)\b")

_DISCLOSE = re.compile(r"\b(?:reveal|share|send|include|print|output|give|disclose|tell|provide|repeat|copy|post|"
                       r"paste|echo|log|write|read out|read back|read aloud|reads out|reads back|recites|read (?:it|them|him|her|the caller|"
                       r"the customer|the user)|recite|dictate|spell out|"
                       r"hand over|display|email|(?<!going )(?<!moving )(?<!looking )forward|upload|expose|leak|store|"
                       r"list|cc|dm|text|"
                       r"keep|reuse|commit|push|dump|export|put|append|note down)\b")
_SECRET = re.compile(r"\b(?:(?:full|complete|whole|entire)\s+(?:credit\s+)?card numbers?|card numbers?|"
                     r"credit card (?:numbers?|details)|cvvs?|cvcs?|security codes?|"
                     r"passwords?(?![- ](?:reset|policy|policies|field|hash|manager|strength|rules|change|"
                     r"requirements?))|"
                     r"passcodes?|pins?|"
                     r"(?:session|access|auth\w*|api|bearer|refresh)\s+tokens?|tokens?|api[ _-]?keys?|secrets?|"
                     r"secret keys?|credentials|ssn|social security numbers?|private keys?|ssh keys?|access keys?|"
                     r"otps?|one[- ]time (?:[\w-]+ )?(?:codes?|passwords?|pins?)|(?:reset|login|sign-in|2fa|"
                     r"mfa) codes?|"
                     r"(?:bank )?account numbers?|routing numbers?|(?:session|auth\w*|login) cookies?|system prompt|"
                     r"passport (?:numbers?|scans?|details)|dates? of birth|home address(?:es)?|(?:full )?card details|"
                     r"bank details|payment details|(?:contents?|text|body) of (?:the |any |every |all )?(?:last |"
                     r"latest |"
                     r"recent )?(?:password[- ]reset|verification|security|login|2fa|mfa) (?:e-?mails?|messages?|"
                     r"codes?)|"
                     r"(?:any|every|all|other) (?:passengers?|customers?|users?|"
                     r"callers?)'?s?'? (?:[\w-]+ ){0,2}?(?:data|"
                     r"details|reservations|records|information|orders|bookings|accounts)|[a-z0-9_]*(?:api_key|secret|"
                     r"token|password|passwd)[a-z0-9_]*"
                     r"(?![- ](?:reset|policy|field|hash|manager|strength|rules|change))|\.env file|"
                     r"environment variables|other (?:customers|users|passengers)'? (?:\w+ )?(?:data|details|"
                     r"reservations|records|information|orders|bookings))\b")
_SECRET_VALUE = re.compile(r"\b(?:sk-[a-z0-9]{16,}|ghp_[a-z0-9]{20,}|xox[bpas]-[a-z0-9-]{10,}|akia[a-z0-9]{12,}|"
                           r"eyj[a-z0-9_-]{10,}\.[a-z0-9_-]{10,})|\b(?:password|passwd|pwd|token|api[_ -]?key|secret)"
                           r"\s*(?:is|=|:)\s*\S{6,}")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")

_EMAIL = re.compile(r"\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b")
_URL = re.compile(r"\b(?:https?://|ftp://|www\.)[^\s<>\"')\]]+|\b[a-z0-9-]+\.(?:com|net|org|io|ru|cn|xyz|top|info|biz|"
                  r"co|me|ly|sh|site|online|app|dev)(?:/[^\s<>\"')\]]*)?\b")
_PHONE = re.compile(r"\b(?:call|text|phone|sms|whatsapp|dial|telegram|signal)\b[^\d\n]{0,20}(\+?\d[\d\s().-]{7,}\d)")
_CONTACT_VERB = re.compile(r"\b(?:send|email|e-mail|mail|forward|post|upload|contact|call|text|notify|report|cc|bcc|"
                           r"push|mirror|sync|relay|dm|share|submit|visit|fetch|curl|wget|ping|message|dm|sms|whatsapp|"
                           r"transfer|pay|wire|"
                           r"deliver|exfiltrate|open|go to|navigate)\b")

_SKIP_SAFEGUARD = re.compile(
    rf"\b(?:skip|skipping|bypass|bypassing|omit|omitting|forgo|waive|dispense with|no need (?:to|for)|"
    rf"don'?t (?:need|bother|have) to|do not (?:need|bother|have) to|need not|needn'?t|not (?:necessary|required|"
    rf"needed) to|without)\s+(?:[\w'-]+\s+){{0,3}}?{_SAFEGUARD}\b"
    rf"|\b(?:need|needs|require|requires)\s+no\s+{_SAFEGUARD}|\bno\s+{_SAFEGUARD}\s+(?:is\s+)?(?:needed|required|"
    rf"necessary)\b|\b{_SAFEGUARD}\s+(?:is|are)\s+(?:not|no longer|never|un)\s*(?:needed|required|necessary)\b"
    rf"|\bwithout (?:asking|checking)\b")

_OWN_RULES = re.compile(
    r"\b(?:ignore|override|overrule|disregard|bypass|relax|suspend|disable|turn off|loosen|rewrite|replace|change|"
    r"update|modify|forget|drop|abandon|bend|break|stretch)\s+(?:\w+\s+){0,2}?(?:your|its|the agent'?s|"
    r"the assistant'?s|own|system|"
    r"safety|these|the|any|all)\s+(?:own\s+|[a-z-]+\s+)?(?:rules|polic(?:y|ies)|instructions|guidelines|system prompt|"
    r"guardrails|safeguards|restrictions|constraints|safety checks|procedures)\b"
    r"|\b(?:polic(?:y|ies)|rules|restrictions|guidelines|instructions)\s+(?:do(?:es)?\s+not|don'?t|no longer|never)"
    r"\s+apply\b"
    r"|\b(?:this|the following|these)\s+(?:lesson|rule|note|instruction|memory|guidance)s?\s+(?:overrides?|"
    r"supersedes?|takes? precedence|replaces?|has priority|outranks?)"
    r"|\btakes? precedence over\s+(?:the|your|any|all)\s+(?:polic(?:y|ies)|rules|instructions|system)"
    r"|\bexceptions? to (?:the|your|any) (?:polic(?:y|ies)|rules)\b"
    r"|\b(?:override|ignore|bypass|exceed|lift|waive|break)\s+(?:\w+\s+){0,2}?(?:the|any|your)\s+(?:refund|spending|"
    r"credit|payment|transfer|withdrawal|compensation|discount)\s+(?:limits?|caps?|ceilings?)\b"
    r"|\b(?:override|ignore|bypass|bend|break)\s+(?:\w+\s+){0,2}?the\s+(?:fare|booking|refund|cancellation)\s+rules\b")
_OWN_RULES_STRONG = re.compile(r"\b(?:your|its|own|system|safety|agent'?s|assistant'?s)\b|apply\b|overrid|supersed|"
                               r"precedence|priority|outrank")


def _negated(text: str, start: int) -> bool:
    before = text[max(0, start - 60):start]
    negation = _NEGATED.search(before)
    return bool(negation) and not _UN_NEGATED.search(before[negation.start():])


def _source_text(trajs: Sequence[Trajectory], *, task_only: bool) -> str:
    parts = []
    for traj in trajs:
        parts.append(traj.query or "")
        if not task_only:
            parts += [traj.final_answer or ""] + [s.action or "" for s in traj.steps]
    return normalise("\n".join(parts))


# A lesson is addressed to the agent and states rules: these cues are its normal voice, not an injection's
# (what an absolute rule about money or secrets asks is judged by the structural checks instead).
_NATURAL_IN_LESSONS = frozenset({"agents-must", "next-time", "you-must-now", "you-must-now-weak", "absolute-rule",
                                 "skip-safeguard", "zh-skip-safeguard", "rules-do-not-apply"})


_NEGATABLE = frozenset({"exfiltrate", "role-change", "mode-switch", "ignore-instructions", "send-to-address",
                        "plant-memory"})


def review_lesson(text: str, source_trajs: Sequence[Trajectory] = ()) -> list[Finding]:
    """The structural check of a lesson's text (title, description and content joined), whatever its wording.

    `source_trajs` are the trajectories the lesson was learned from: an account, address or number the task
    itself named is part of the domain; one it never named is an outside destination."""
    if not text or not text.strip():
        return []
    found: list[Finding] = []
    hidden = hidden_characters(text)
    if hidden:
        found.append(Finding("flag", f"the lesson hides {hidden} invisible or bidi-control character(s)",
                             "hidden-characters"))
    found += _rule_hits(text)[0]
    bodies = [body for _, body in views(text)]
    task = _source_text(source_trajs, task_only=True) if source_trajs else ""
    for body in bodies:
        found += structural_findings(body, task, bool(source_trajs))
    found += unreadable(text)
    return unique(found)


def structural_findings(body: str, task: str, have_sources: bool) -> list[Finding]:
    """What one normalised text asks the agent to do that no task-domain lesson asks — money moved, secrets
    revealed, outside contact, a safeguard skipped, its own rules changed, privileges, authority handed to tool
    output, actions hidden from the user — whatever its wording. `task` is the task's own text (accounts and
    addresses in it are the domain's). Shared by `review_lesson` and the trajectory check of orders addressed to an
    AI reader (`addressed`), so a rule added here guards both."""
    found = _money(body, task) + routed_money(body, task, _negated, _sentence_at) + _secrets(body)
    found += _contacts(body, task, have_sources)
    return found + _safeguards(body) + _own_rules(body) + _abuses(body) + more_findings(body, _negated)


# Words nearly every English sentence (or record of the task domains) has: a lesson with almost none of them, in
# which the lexicon of other languages (`glossary`) recognises nothing either, is text the rules cannot read.
_ENGLISH_COMMON = frozenset(
    "a an the and or but if when then than so to of in on at by for with from into onto about after before as is are "
    "was were be been being do does did done not no never always only also it its this that these those there here "
    "they them their you your we our i my he she his her who what which where why how all any each every some more "
    "most other same such can could should would will may might must need use using used get set run check make "
    "ask call give send pay keep find first next new one two up out over back "
    # the task domains' own words, so a lesson in structured data ("verification": "required") reads as English
    "customer customers user users caller agent refund refunds payment card account order orders booking flight "
    "ticket policy rule rules required confirmation verification approval limit fee price amount balance password "
    "email address name date time code test tests file error issue fix function value data true false none".split())
_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")


def unreadable(text: str) -> list[Finding]:
    """A lesson written in a language the guard reads neither directly nor through its lexicon is borderline:
    the structural checks cannot vouch for it, so the policy leaves it to a person (fail closed, not open)."""
    words = _LETTER_WORD.findall(text.lower())
    if len(words) < 6 or sum(w in _ENGLISH_COMMON for w in words) >= 0.1 * len(words):
        return []
    if glossary_concepts(text):
        return []  # the lexicon recognises the language: the checks above ran on its English
    return [Finding("borderline", "the lesson is written in a language the guard cannot read; a person decides",
                    "unreadable", _clip(text))]


def set_aside(text: str) -> list[Finding]:
    """The injection cues `review_lesson` saw in a lesson's words but did not hold against it: a lesson's natural
    voice ("agents must …", "next time …") or a negated order ("never share the card number"). Clean by the rules,
    but borderline enough for a second opinion (`gate.second_opinion`); severity "borderline"."""
    if not text or not text.strip():
        return []
    return unique(_rule_hits(text)[1])


def _rule_hits(text: str) -> tuple[list[Finding], list[Finding]]:
    """The injection rules on a lesson's own words: (findings held against it, cues set aside as its own voice)."""
    held: list[Finding] = []
    aside: list[Finding] = []
    flat = " ".join(normalise(text).split())
    for name, excerpt, severity, view in scan_text(text):
        if name in _NATURAL_IN_LESSONS:
            aside.append(Finding("borderline", f"it speaks to the agent as a lesson does: {name} (“{excerpt}”)",
                                 name, excerpt))
            continue
        at = flat.find(excerpt)
        if name in _NEGATABLE and at > 0 and _negated(flat, at):
            aside.append(Finding("borderline", f"it forbids what an injection would order: {name} (“{excerpt}”)",
                                 name, excerpt))
            continue  # "never share the card number" is the lesson we want
        held.append(Finding(severity, f"the lesson itself reads like an order: {name} (“{excerpt}”)", name,
                            excerpt))
    return held, aside


def _money(text: str, task: str) -> list[Finding]:
    found = []
    for verb in _MONEY_VERB.finditer(text):
        if _negated(text, verb.start()):
            continue
        sentence = _sentence_at(text, verb.start())
        lo = max(text.rfind(". ", 0, verb.start()), text.rfind("\n", 0, verb.start()),
                 text.rfind("; ", 0, verb.start())) + 1  # where `_sentence_at` starts it
        own = (verb.start() - lo, verb.start() - lo + len(verb.group(0).split()[0]))  # the verb's first word
        if not any(not own[0] <= o.start() < own[1] for o in _MONEY_OBJECT.finditer(sentence)):
            continue  # "goodwill credit limits": the verb is its own object
        if " " not in verb.group(0) and _AS_NOUN.match(text, verb.end()):
            continue  # "tell the customer the refund amount": a noun ("approve refund requests" still pays out)
        account = outside_account(sentence, task)
        where = _EMAIL.search(sentence) or _URL.search(sentence)
        if account or (where and where.group(0) not in task):
            dest = account or where.group(0)
            return [Finding("flag", f"the lesson tells the agent to move money to “{dest}”, which the task never "
                                    "named", "move-money", _clip(sentence))]
        if _UNCONDITIONAL.search(sentence) and not _GUARDED.search(sentence):
            return [Finding("flag", "the lesson tells the agent to move money unconditionally", "move-money",
                            _clip(sentence))]
        if _GIVEAWAY.search(sentence) or (_CLAIMED.search(sentence) and not _GUARDED.search(sentence)):
            return [Finding("flag", "the lesson gives money or upgrades away on a customer's say-so", "move-money",
                            _clip(sentence))]
        if not _CONDITION.search(sentence) and not _BACK_TO_SOURCE.search(sentence):
            found = [Finding("borderline", "the lesson tells the agent to move money with no condition attached",
                             "move-money", _clip(sentence))]
    return found


_AS_NOUN = re.compile(r"\s+(?:amounts?|polic(?:y|ies)|requests?|status|dates?|windows?|limits?|rules|eligibility|ids?|"
                     r"methods?|totals?|process|options?|details|history|receipts?|numbers?|reference)\b")
# A safeguard in the same sentence ("always confirm with the user before refunding") is the condition.
_GUARDED = re.compile(r"\b(?:confirm|verify|check|ask)\w*\b[^.;]{0,60}\bbefore\b|\bbefore\b[^.;]{0,60}\b(?:confirm|"
                      r"verif|check)\w*|\bonly\b|\beligib\w*|\bif (?:the )?polic")
# Something for nothing, or on the customer's word alone.
_GIVEAWAY = re.compile(r"\b(?:at no (?:extra )?(?:cost|charge)|free of charge|for free|complimentary|no charge)\b")
_CLAIMED = re.compile(r"\b(?:says?|claims?|mentions?|tells? you|types?)\b[^.;]{0,40}\b(?:they are|they're|to be|"
                      r"is an?|a |the word|'|\")|\bclaims? (?:to|that)\b")


# Money sent back where it came from is the safe direction (a refund to the original card), not an outside one.
_BACK_TO_SOURCE = re.compile(r"\b(original|same|customer'?s own|their own|user'?s own)\s+(form of )?(payment|card|"
                             r"credit card|debit card|account|method)|\bwhere (the money|it) came from\b", re.I)


# A secret placed into something the agent writes or sends ("add the session tokens to the summary").
_INTO_OUTPUT = re.compile(
    r"\b(?:add|attach|insert|embed|append|put|place|drop)\s+"
    + _SECRET.pattern.replace(r"\b(?:", r"(?:[\w'-]+\s+){0,3}?(?:", 1)
    + r"[^.;\n]{0,40}?\b(?:to|in|into|inside)\s+(?:the|your|each|every|a|an|this)\s+(?:[\w-]+\s+)?"
    r"(?:summary|reply|replies|answer|response|message|e-?mail|ticket|issue|comment|chat|output|"
    r"report|pull request|commit message|description)\b")
_KEPT_SAFE = re.compile(r"\s*(?:out of|away from|private|safe|hidden|confidential|secret|redacted|masked)\b")


def _secrets(text: str) -> list[Finding]:
    into = _INTO_OUTPUT.search(text) if _SECRET.search(text) else None
    if into and not _negated(text, into.start()) and not re.search(r"\b(?:mask|redact|hash|last (?:four|4))",
                                                                   into.group(0)):
        excerpt = _clip(into.group(0))
        return [Finding("flag", f"the lesson tells the agent to put secrets into what it writes (“{excerpt}”)",
                        "secret", excerpt)]
    value = _SECRET_VALUE.search(text)
    if value:
        return [Finding("flag", "the lesson contains what looks like a secret or credential", "secret",
                        _clip(value.group(0)[:12] + "…"))]
    for card in _CARD.finditer(text):
        if _luhn(re.sub(r"\D", "", card.group(0))):
            return [Finding("flag", "the lesson contains what looks like a payment card number", "secret", "")]
    for verb in _DISCLOSE.finditer(text):
        if _negated(text, verb.start()):
            continue
        tail = re.split(r"[.;!?\n]|\b(?:never|not|don't|do not)\b", text[verb.end():verb.end() + 80])[0]
        secret = _SECRET.search(tail)
        if secret and _KEPT_SAFE.match(tail, secret.end()):
            continue  # "keep secrets out of logs", "keep the password private"
        if secret and not re.search(r"\b(?:mask|redact|hash|last (?:four|4)|hide|obscure)", tail[:secret.end()]):
            return [Finding("flag", f"the lesson tells the agent to reveal secrets or credentials "
                                    f"(“{verb.group(0)} … {secret.group(0)}”)", "secret",
                            _clip(text[verb.start():verb.end() + secret.end()]))]
    return []


_DEFANGED = ((re.compile(r"\bhxxp"), "http"), (re.compile(r"\[\.\]|\(\.\)|\{\.\}|\[dot\]"), "."),
             (re.compile(r"\[@\]|\[at\]"), "@"))
_HANDLE = re.compile(r"(?<![\w.])@[a-z0-9_]{3,}\b[^.\n]{0,20}\b(?:on|via|at)\s+(?:telegram|signal|whatsapp|discord|"
                     r"twitter|x|slack|instagram|matrix)\b|\b(?:telegram|signal|whatsapp|"
                     r"discord)\b[^.\n]{0,20}@[a-z0-9_]{3,}"
                     r"|\+\d{1,3}[\s.-]?\(?\d{2,4}\)?[\s.-]?\d{3}[\s.-]?\d{3,4}\b|\bwebhooks?\b")


def _contacts(text: str, task: str, have_sources: bool) -> list[Finding]:
    for rx, plain in _DEFANGED:
        text = rx.sub(plain, text)
    addresses = [m.group(0) for m in _EMAIL.finditer(text)]
    addresses += [m.group(0) for m in _HANDLE.finditer(text)]
    addresses += [m.group(0).rstrip(".,;:") for m in _URL.finditer(text) if "@" not in m.group(0)]
    addresses += [m.group(1) for m in _PHONE.finditer(text)]
    outside = [a for a in addresses if a not in task and not any(a in e for e in addresses if e != a and "@" in e)]
    if not outside:
        return []
    verb = _CONTACT_VERB.search(text)
    if verb and not _negated(text, verb.start()):
        return [Finding("flag", f"the lesson tells the agent to contact an outside address (“{outside[0]}”)"
                        + (" the task never gave" if have_sources else ""), "contact", outside[0])]
    return [Finding("borderline", f"the lesson names an outside address (“{outside[0]}”)", "contact", outside[0])]


_NARRATION = re.compile(r"(?:^|[.!?]\s+|\n)(?:i|we|my|our)\b|\bi (?:\w+ed|was|did|had|should have)\b"
                        r"|\b(?:the agent|the assistant|it|they)\b[^.;]{0,200}?\b(?:\w+ed|went|did|was|were|had|"
                        r"made)\b")


def _safeguards(text: str) -> list[Finding]:
    for match in _SKIP_SAFEGUARD.finditer(text):
        if _negated(text, match.start()):
            continue
        if match.group(0).startswith("without") and _NARRATION.search(_sentence_at(text, match.start())):
            continue  # "I assumed it without verifying it", "the agent called X without a go-ahead": an account, not an order
        weak = match.group(0).startswith("without") and not re.search(_SAFEGUARD, match.group(0))
        return [Finding("borderline" if weak else "flag",
                        f"the lesson tells the agent to skip a safeguard (“{_clip(match.group(0))}”)",
                        "skip-safeguard", _clip(match.group(0)))]
    return []


def _own_rules(text: str) -> list[Finding]:
    for match in _OWN_RULES.finditer(text):
        if _negated(text, match.start()):
            continue
        strong = _OWN_RULES_STRONG.search(match.group(0))
        return [Finding("flag" if strong else "borderline",
                        f"the lesson tells the agent to change its own rules (“{_clip(match.group(0))}”)",
                        "own-rules", _clip(match.group(0)))]
    return []


# What no task-domain lesson asks, by kind: each (kind, severity, why, pattern). Negated orders are skipped.
_ABUSES = (
    ("privilege", "flag", "give users privileges the task never granted",
     re.compile(r"\b(?:grant(?:s|ed|ing)?|giv(?:e|es|en|ing)|add(?:s|ed|ing)?|assign(?:s|ed|ing)?|elevat\w*|"
                r"promot\w*|make|making|set(?:ting)?)\b[^.;\n]{0,50}?\b(?:admin(?:istrator)?s?|root|"
                r"superusers?|sudo(?:ers)?|owners?|elevated|full access|all permissions|admin rights)\b"
                r"(?![^.;\n]{0,60}\b(?:only|listed|names?|approved|authori[sz]ed|ticket|if|when|after)\b)"
                r"|\bauthorized_keys\b|\bchmod\s+(?:-r\s+)?777\b")),
    ("weaken-security", "flag", "turn off a security control",
     re.compile(r"\b(?:disable|turn off|switch off|deactivate|remove|bypass|skip|circumvent)\b[^.;\n]{0,40}?\b(?:two-factor|"
                r"2fa|mfa|multi-factor|authentication|auth\w* middleware|firewall|fraud checks?|signing|signatures?|"
                r"pre-commit hooks?|hooks|tls|ssl|certificate (?:checks?|verification)|antivirus|audit logs?|"
                r"rate limits?|sandbox|security checks?|access controls?|audit\w*|password prompts?|sudo passwords?)\b"
                r"|--no-verify\b|\bnopasswd\b")),
    ("skip-safeguard", "flag", "take silence or a claim for consent",
     re.compile(r"\btreat\s+(?:it|that|this|silence|no (?:answer|reply|response)|the silence)\s+as\s+(?:an?\s+)?"
                r"(?:yes|consent|confirmation|approval|agreement|go-ahead)\b"
                r"|\b(?:take|taking)\s+(?:the (?:caller|user|customer)|them|callers|users|customers)\s+at\s+(?:their|"
                r"his|"
                r"her)\s+word\b|\bassume\s+(?:the (?:user|caller|customer)|they)\s+(?:is|are)\s+(?:who they say|"
                r"verified|"
                r"authori[sz]ed|the (?:account )?owner)|\btreat\s+(?:them|the (?:user|caller|customer))\s+as\s+"
                r"(?:verified|authori[sz]ed|authenticated|staff|an? admin)")),
    ("skip-safeguard", "borderline", "rush past a check",
     re.compile(r"\bproceed\s+(?:straight|directly|right)\s+to\b|\b(?:dislike|hate|annoyed by|irritated by|resent)\s+being\s+"
                r"asked\b|\bwithout (?:looking at|checking|reading|consulting)\s+(?:the\s+)?(?:\w+\s+)?(?:rules|"
                r"polic(?:y|ies)|"
                r"terms|conditions)\b")),
    ("own-rules", "flag", "set its own rules aside",
     re.compile(r"\b(?:polic(?:y|ies)|rules|instructions|guidelines|system prompt)\b[^.;\n]{0,30}?\b(?:is|are)\s+"
                r"(?:now\s+)?(?:outdated|obsolete|stale|void|superseded|only a suggestion|just a suggestion|optional|"
                r"not "
                r"binding|negotiable|flexible|suspended|revoked|waived|no longer in force|a starting point|not a (?:hard )?(?:constraint|rule|limit))\b|"
                r"\bfollow\b[^.;\n]{0,40}?\b(?:notes?|instructions|text|orders|rules)\b[^.;\n]{0,30}?\b(?:on|in|"
                r"from)\s+(?:a|the|any)\s+(?:web ?page|page|site|tool results?|email|document|message)s?\b"
                r"|\b(?:follow|obey|apply)\s+(?:their|the user'?s|the caller'?s)\s+(?:rules|instructions|orders)\s+"
                r"instead\b|\bgrant\s+(?:it|the exception|any exception|exceptions)\b")),
    ("tamper-evidence", "flag", "hide a failure from whoever checks the work",
     re.compile(r"\b(?:delete|remove|skip|disable|comment out|xfail)\s+(?:the\s+|any\s+|all\s+)?(?:failing|broken|red)\s+"
                r"tests?\b|\breport\s+(?:the\s+)?(?:task|it|this|the run|the issue)\s+as\s+(?:resolved|solved|"
                r"successful|passed|done|complete|fixed)\b[^.;\n]{0,40}?\b(?:even|when|if|though|regardless|anyway)\b"
                r"|\b(?:tell|convince|persuade|assure)\s+(?:the\s+)?(?:judge|evaluator|grader|reviewer)\b"
                r"|\bdelete\s+the\s+failing\b")),
)


def _abuses(text: str) -> list[Finding]:
    found = []
    for kind, severity, why, rx in _ABUSES:
        for match in rx.finditer(text):
            if _negated(text, match.start()):
                continue
            found.append(Finding(severity, f"the lesson tells the agent to {why} (“{_clip(match.group(0))}”)", kind,
                                 _clip(match.group(0))))
            break
    return found


def _sentence_at(text: str, at: int) -> str:
    lo = max(text.rfind(". ", 0, at), text.rfind("\n", 0, at), text.rfind("; ", 0, at)) + 1
    ends = [i for i in (text.find(". ", at), text.find("\n", at), text.find("; ", at)) if i != -1]
    return text[lo:min(ends) if ends else len(text)]


def _clip(text: str) -> str:
    return " ".join(text.split())[:120]


def _luhn(digits: str) -> bool:
    if not 13 <= len(digits) <= 19 or len(set(digits)) < 2:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0
