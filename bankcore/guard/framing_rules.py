"""Injection rules for orders dressed as something else: settings that switch a safeguard off, override keys and
attributes meant for the AI, any chat template's turn tokens, notices that an agent's checks are disabled, standing
orders ("going forward, … skip …"), game and no-rules personas, and requests for the conversation itself."""

from __future__ import annotations

from .rule_kit import _AI_PLAIN, _ORDER_VERBS, _SAFEGUARD, Rule, rule as _rule

_OFF = (r"(?:disabled|turned off|switched off|suspended|waived|lifted|removed|optional|not required|no longer "
        r"(?:required|needed|performed|done))")
_SAFEGUARD_KEY = r"[\w-]*(?:confirm|identity|approval|fraud|verification|consent|sign_?off|2fa|mfa|kyc)[\w-]*"
_Q = r"\\{0,2}[\"']?"  # a quote, JSON-escaped or not
_OFF_VALUE = r"(?:false|no|none|off|disabled|skip(?:ped)?|null|never|optional|not_required|auto(?:matic)?)\b"

FRAMING_RULES: tuple[Rule, ...] = (
    _rule("safeguard-setting-off", "flag",
          "confirm|confirmation|confirmations|identity|approval|fraud|verification|consent|signoff|mfa|kyc",
          rf"(?:\b(?:agents?|assistants?|llms?|ai|bots?|polic(?:y|ies)|overrides?|defaults|runtime|scope)\b"
          rf"[\s\S]{{0,200}}?{_SAFEGUARD_KEY}{_Q}\s*[:=]\s*{_Q}{_OFF_VALUE}"
          rf"|{_SAFEGUARD_KEY}{_Q}\s*[:=]\s*{_Q}{_OFF_VALUE}[\s\S]{{0,200}}?\b(?:agents?|assistants?|"
          r"llms?|ai|bots?|all_agents|overrides?)\b)"),
    _rule("override-key", "flag", "override|overrides|defaults|directive|directives|behaviour|behavior",
          r"[\"'\s{,](?:x[-_])?(?:polic(?:y|ies)|rules?|guard(?:rails?)?|safety|system|instructions?|prompt)[-_]?"
          rf"overrides?{_Q}\s*[:=]"
          r"|[\"'\s{,](?:x[-_])?(?:assistant|agent|llm|bot)s?[-_](?:defaults|overrides?|behaviou?r|directives?)"
          rf"{_Q}\s*[:=]"),
    _rule("ai-attribute", "flag", "ai|llm|agent|agents|assistant|assistants|bot|bots",
          r"\b(?:name|property|id|class|data-[\w-]+)\s*=\s*[\"'](?:[\w-]*[-_])?(?:ai|llm|agent|assistant|bot)s?[-_]"
          r"(?:instructions?|directives?|prompts?|notes?|polic(?:y|ies)|rules|orders?)[\"']"),
    _rule("turn-token", "flag", ("<|", "|>"),
          r"<\|[a-z_\u2581]{0,20}(?:system|user|assistant|developer|chatbot|start|message|turn|header)"
          r"[a-z_\u2581]{0,20}\|>"),
    _rule("safeguards-disabled", "flag", "disabled|off|suspended|waived|lifted|removed|optional|required|needed|"
          "performed|done",
          rf"\b{_AI_PLAIN}\s+(?:[\w-]+\s+)?{_SAFEGUARD}s?\s+(?:(?:are|is|have been|has been)\s+)?(?:now\s+)?{_OFF}\b"
          rf"|\b{_SAFEGUARD}s?\s+(?:are|is|have been|has been)\s+(?:now\s+)?{_OFF}\s+(?:for|by)\s+(?:all\s+|this\s+|any\s+)?"
          rf"(?:{_AI_PLAIN}|automated)"),
    _rule("standing-order", "flag", "now|forward|henceforth|effective|further|starting",
          r"\b(?:from now on|going forward|henceforth|effective immediately|as of (?:today|now)|until further notice|"
          r"starting (?:today|now))\b[^.\n]{0,120}?\b(?:skip\w*|waiv\w*|bypass\w*|disabl\w*|"
          r"without (?:asking|checking|confirm\w*|verif\w*|review\w*|reading)|no (?:[\w-]+ ){0,2}(?:review|check|"
          r"confirmation|verification|reading|approval)s? (?:is |are )?(?:needed|required|necessary)|on sight|"
          r"auto-?approv\w*|(?:refund|credit|transfer|grant|approve|pay)\w* (?:\w+ ){0,3}?(?:first|immediately|"
          r"directly|without)|(?:ask|confirm)\w* (?:\w+ ){0,4}?(?:afterwards|later|after the fact))"),
    _rule("fake-tool-call", "flag", ("tool_calls", "function_call", "<invoke", "<tool_call>"),
          r"\\{0,3}[\"'](?:tool_calls|function_call)\\{0,3}[\"']\s*:\s*[\[{]|<function_calls>|<invoke\s+name\s*=|"
          r"<tool_call>"),
    _rule("addressed-by-role", "flag", "assistant|assistants|agent|agents|bot|bots|copilot|copilots|ai|llm|llms",
          r"\b(?:note|notes|message|memo|reminder|tip|instructions?|notice|hint)\s+(?:for|to)\s+(?:the|all|any|our|"
          r"every)\s+(?!user\b|travel\b|real\b)[a-z]+[- ]?(?:assistants?|agents?|bots?|copilots?|ai|llms?)\b"
          r"|(?:^|[\n.!?;>|]\s*)(?!user\b|travel\b|real\b|human\b)[a-z]+[- ](?:assistants?|agents?|bots?|copilots?)"
          rf"\s*:\s*[^.\n]{{0,80}}?\b(?:{_ORDER_VERBS})\b"),
    _rule("ignore-the-rules", "borderline", "ignore|disregard|forget|bypass|override",
          r"\b(?:ignore|disregard|forget|bypass|override)\s+(?:all\s+)?(?:the|your|these|any)\s+(?:[a-z-]+\s+){0,2}?"
          r"(?:rules|polic(?:y|ies)|guidelines|restrictions|instructions)\b"),
    _rule("skip-asking", "borderline", "ask|wait|asking|waiting",
          rf"\b(?:do not|don't|never|no need to)\s+(?:ask|wait)(?:ing)?\s+(?:\w+\s+){{0,3}}?(?:for\s+)?(?:\w+\s+)?"
          rf"{_SAFEGUARD}"),
    _rule("rhetorical-skip", "flag", "confirm|confirmation|verify|verification|check|approval|ask",
          r"\b(?:(?:is|are|does|do)\b[^?\n]{0,80}?\b(?:confirm\w*|verif\w*|check\w*|approval)\b[^?\n]{0,40}?"
          r"\b(?:needed|necessary|required)|why (?:would|should) (?:an?|the|any) (?:assistant|agent|ai|bot)s?\b"
          r"[^?\n]{0,60}?\b(?:confirm\w*|verif\w*|check\w*|approval))\b[^?\n]{0,40}\?\s*(?:no\b|"
          r"it (?:is not|isn't|wouldn't|doesn't|does not)|never\b|not really|nope)"),
    _rule("game-frame", "borderline", "let|lets|play|pretend",
          r"\blet'?s (?:play (?:a )?(?:game|pretend)|pretend|role-?play)\b"),
    _rule("no-rules-persona", "borderline", "no|without|unrestricted|unfiltered",
          r"\b(?:who|which|that) (?:has|have) no (?:rules|restrictions|limits|filters|guidelines|polic(?:y|ies))\b"
          r"|\bwithout any (?:rules|restrictions|filters|guidelines)\b"),
    _rule("echo-conversation", "flag", "conversation|chat|transcript|instructions|prompt|messages|history|context",
          r"\b(?:verbatim|word[- ]for[- ]word|exact|full|complete|entire|whole)\s+(?:copy|transcript|text|contents?|"
          r"record|dump)\s+of\s+(?:your|the|this)\s+(?:(?:system|initial|original|hidden)\s+)?(?:instructions|prompt|"
          r"conversation|chat|messages|context|session)\b"
          r"|\b(?:include|append|end|send|forward|attach|paste|copy|post|share|add|output|print|repeat|quote)\b"
          r"[^.\n]{0,60}?\b(?:the|this|your)\s+(?:whole|entire|full|complete)\s+(?:conversation|chat|transcript|"
          r"chat history|conversation history|message history)\b"),
)
