"""What a rule is (`Rule`, built by `rule`) and the pattern fragments the rules of every language share: who an AI
reader is, which verbs give orders, which words name a safeguard."""

from __future__ import annotations

import re
from dataclasses import dataclass

WINDOW_BEFORE, WINDOW_AFTER = 160, 360  # how far a rule's match may reach around its anchor word


@dataclass(frozen=True)
class Rule:
    """A pattern, the words (or, for scripts without spaces and for markup, substrings) it cannot match without,
    and how sure a match is."""

    name: str
    severity: str
    words: frozenset[bytes]
    substrings: tuple[str, ...]
    rx: re.Pattern


def _is_word(anchor: str) -> bool:
    return bool(re.fullmatch(r"[^\W\d_]+", anchor)) and all(c < "\u2e80" for c in anchor)


def rule(name: str, severity: str, anchors: str | tuple[str, ...], rx: str) -> Rule:
    split = anchors.split("|") if isinstance(anchors, str) else list(anchors)
    return Rule(name, severity, frozenset(a.encode() for a in split if _is_word(a)),
                tuple(a for a in split if not _is_word(a)), re.compile(rx, re.M))


_AI = (r"(?:ai|a\.i\.|llms?|agents?|assistants?|chatbots?|bots?|copilots?|language models?|ai models?|"
       r"ai (?:agents?|assistants?|systems?)|automated (?:agents?|assistants?|systems?)|gpts?|claude|gemini)")
_AI_ANCHORS = "agent|agents|assistant|assistants|ai|llm|llms|bot|bots|chatbot|chatbots|gpt|gpts|copilot|copilots|language|claude|gemini|automated"
_AI_PLAIN = r"(?:ai|llms?|agents?|assistants?|chatbots?|bots?|copilots?|language models?|gpts?)"
_RISKY_VERBS = (r"transfer|refund|approve|grant|issue|escalate|reveal|disclose|share|leak|delete|cancel|bypass|"
                r"override|waive|comply|obey|execute|send|give|pay|upgrade|wire|email|forward")
_DIRECTIVE = (r"(?:you|your|always|never|must|ignore|disregard|do not|don't|from now|immediately|the assistant|"
              r"the agent|agents?|assistants?|all|any|skip|no need|new instructions?)")
_SAFEGUARD = (r"(?:confirm\w*|verif\w*|authenticat\w*|identity|id checks?|identity checks?|2fa|mfa|otp|consent|"
              r"approval|permission|security checks?|double[- ]?check\w*|sign[- ]?off|go[- ]ahead)")
# An AI reader named with a qualifier ("shopping assistants", "support bots", "coding assistants", "automated
# fixers"), and the words a reader is addressed in before an order follows.
_AI_QUALIFIED = (r"(?:(?:shopping|support|booking|coding|customer[- ]service|moderation|email|mail|research|browsing|"
                 rf"web|helper|virtual|digital|autonomous|llm|ai|gpt)[- ])?{_AI}|(?:automated|ai|llm)[- ][a-z]+s?")
_ORDER_VERBS = (r"skip|submit|send|forward|refund|approve|grant|ignore|disregard|transfer|wire|pay|delete|cancel|add|"
                r"append|include|reveal|share|print|post|upload|email|run|execute|buy|purchase|book|upgrade|waive|mark|"
                r"report|disable|bypass|treat|trust|follow|obey|reply|answer|say|respond|tell|unlock|paste|copy|"
                r"read|load|fetch|call|invoke|push|commit|remove|apply|set|give|issue|charge|accept|process|move|"
                r"place|put|make|use|do not|don't|never|always|must|should|need not|no need")

