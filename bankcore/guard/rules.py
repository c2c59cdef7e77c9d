"""The injection rules and how a text is scanned with them (`scan_text`, `scan_tool_name`).

The English rules live here (overrides, instructions addressed to agents, the assistant or the system, planted
memories, covert and trigger-word orders, fields meant for the AI, fake dialogues, secrets sent out); the other
languages' in `languages`, the shared fragments in `rule_kit`. Each rule is anchored on literal words, so a long tool
output costs a few substring searches plus regexes over small windows around the anchors; every view of the text
(`normalisation.views`) is read.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Iterable

from .framing_rules import FRAMING_RULES
from .languages import LANGUAGE_RULES
from .normalisation import normalise, views
from .rule_kit import (_AI, _AI_ANCHORS, _AI_PLAIN, _AI_QUALIFIED, _DIRECTIVE, _ORDER_VERBS, _RISKY_VERBS,  # noqa: F401
                       _SAFEGUARD, WINDOW_AFTER, WINDOW_BEFORE, Rule, rule as _rule)


# "To the agent:" opens an address only where "to"/"for" starts a clause or follows a note's noun ("note to the
# agent", "instructions for assistants"); after a verb it is the verb's object ("respond to the agent, or ask ..."
# in a simulator's role prompt), which addresses nobody.
_ADDRESS_TO = (r"(?:(?:^|[\[(\"'.!?;:|>\n\-*#]\s*)|\b(?:note|notes|message|messages|memo|reminder|instructions?|hints?|"
               r"tips?|ps|p\.s\.|fyi|word|request|warning|notice|update|hello|hi|greetings|attention|important)\s+)"
               r"(?:to|for)")


# One character of a sending order's own clause: a later clause that reports or contacts ("send credentials, report
# it to security@...") takes the address for its own verb, and the send no longer reaches it.
_OWN_CLAUSE = (r"(?:(?![,;:]\s*(?:and\s+|then\s+|please\s+)?(?:report|contact|notify|tell|alert|call|flag|escalate)\b)"
               r"[^.\n])")


RULES: tuple[Rule, ...] = (
    # --- English: overriding the agent's instructions
    _rule("ignore-instructions", "flag", "ignore|ignoring|disregard|forget|override|bypass|aside|discard|neglect",
          r"\b(?:ignore|ignoring|disregard|forget|override|bypass|set aside|discard|neglect)\b"
          r"(?:\s+(?:all|any|every|of|the|your|my|these|those|its|prior|previous|above|earlier|preceding|original|"
          r"existing|initial|system|developer|safety|other|former|old|current))*\s+"
          r"(?:instructions?|directions?|directives?|prompts?|system prompt|guidelines?|guardrails?|programming)\b"
          r"|\b(?:ignore|disregard|forget|override|bypass)\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+)?"
          r"(?:previous|prior|above|earlier|preceding|original|initial|system|developer|safety|your)\s+"
          r"(?:rules?|polic(?:y|ies)|constraints?|context|messages?|commands?|orders?|restrictions?|training)\b"
          r"|\b(?:ignore|disregard|forget|override)\s+(?:all\s+)?(?:of\s+)?(?:the|your)\s+(?:rules|instructions|"
          r"guidelines|polic(?:y|ies)|prompt)\s+(?:you were given|you've been given|you have been given|you received|"
          r"given to you|you were told|you follow|so far)\b"
          r"|\b(?:ignore|disregard|forget)\s+(?:everything|anything|all|whatever|what)\s+(?:else\s+)?(?:you were|"
          r"you've been|you have been|you got|i|we|they|the system)\s+(?:told|given|instructed|said|asked)"),
    _rule("from-now-on", "flag", "now|henceforth|forward|hereafter",
          r"\b(?:from now on|henceforth|going forward|hereafter|from this point (?:on|forward))\b,?\s+"
          r"(?:you|always|never|the (?:agent|assistant|ai|model)|agents?|assistants?|do not|don't|skip|all)\b"),
    _rule("you-must-now", "flag", "must|shall|need|required|instructed|ordered",
          r"\byou (?:must|shall|need to|are required to|are instructed to) (?:now |from now on |henceforth )?"
          r"(?:always|never|ignore|disregard|obey|comply|forget)\b|\byou are (?:now |hereby )?(?:instructed|ordered)"
          r" to\b"),
    _rule("you-must-now-weak", "borderline", "must|shall|need|required",
          r"\byou (?:must|shall|need to|are required to) (?:now|immediately)\b"),
    _rule("agents-must", "flag", _AI_ANCHORS,
          rf"\b(?:the|this|an?|any|every|all|each|our|future|next|other|subsequent|later)\s+(?:ai\s+)?{_AI}\s+"
          r"(?:(?:handling|reading|processing|viewing|working on|assigned to|modifying|editing|summari[sz]ing|"
          r"answering|serving|helping with)\s+(?:this|these|the|that)\s+[a-z-]+\s+)?"
          r"(?:must|should|shall|has to|have to|needs? to|is to|are to|(?:is|are) (?:required|expected|instructed|"
          r"authori[sz]ed|allowed|permitted|supposed|advised|cleared) to|will now|may now|can now|may skip|can skip|"
          r"does not need|doesn't need|do not need|don't need|need not|needn't|never|always)\b"
          r"|\b(?:ai|llm|automated)\s+(?:agents|assistants|models|systems|[a-z]+ers|[a-z]+ots)\s+(?:must|should|shall|"
          r"need to|have to|may now|can now|are (?:required|expected|instructed|allowed|permitted|authori[sz]ed|"
          r"cleared|to))\b"
          rf"|(?:^|[:.!?]\s+)(?:{_AI_QUALIFIED})\s+(?:must|should|shall|are to|is to|need to|have to|"
          r"are (?:cleared|allowed|permitted|authori[sz]ed) to)\b"
          r"|\b(?:agents|assistants)\s+(?:may now|can now|must now|should now|are now (?:allowed|permitted|"
          r"authori[sz]ed|required)|are (?:hereby )?(?:instructed|authori[sz]ed) to)\b"),
    _rule("addressed-note", "flag", _AI_ANCHORS,
          r"\b(?:note|notes|message|memo|reminder|tip|instructions?|notice|attention|directive|psa|hints?|advice|"
          r"warning|workflow|procedure|guidance|best practices?|recommendations?|protocol|checklist|"
          r"p\.\s?s\.?|ps)\s+(?:for|to)\s+(?:(?:all|any|the|future|next|later|other|subsequent|every|incoming|"
          rf"our|every)\s+)*(?:{_AI_QUALIFIED})\b(?!\s+(?:\w+\s+)?(?:tests?|class|module|docs|string|header)\b)"),
    _rule("salutation", "flag", _AI_ANCHORS,
          rf"\b(?:dear|hey|hi|hello|attention|psst|calling all|yo|greetings)(?:\s+there|\s+friendly|\s+helpful)?,?\s+"
          rf"{_AI}\s*[,:!]"
          rf"|\b(?:note|notes|note to self|message|memo|reminder|instructions?|attention|tip|hint|ps|p\.s\.)\s*"
          rf"[(\[](?:for |to |attn:? )?(?:the |all |any )?{_AI}[)\]]\s*:"
          rf"|\b{_AI}\s+(?:instructions?|directives?|orders?|guidance|notes?)\s*(?:\([^)\n]{{0,20}}\))?\s*[:\-\u2014]"
          rf"|\bto (?:all|any|every)\s+(?:ai\s+)?{_AI}\b\s*(?:[,:!]|reading|processing|who)"),
    _rule("if-you-are-ai", "flag", "agent|agents|assistant|assistants|ai|llm|llms|bot|bots|chatbot|chatbots|gpt|gpts|copilot|copilots|language|claude|gemini|automated",
          r"\bif you(?:'re| are)\s+(?:an?\s+)?(?:ai|a\.i\.|llm|large language model|language model|ai assistant|"
          r"ai agent|assistant|agent|automated (?:agent|system|assistant)|bot|chatbot|ai model)\b"),
    _rule("ai-reading-this", "flag", "ai|llm|automated|language",
          r"\b(?:ai|llm|automated|language)\s+(?:agents?|assistants?|systems?|models?|crawlers?|readers?)\s+"
          r"(?:reading|processing|parsing|summari[sz]ing|viewing|handling|seeing)\s+(?:this|these)\b"),
    _rule("whoever-reads", "flag", "whoever|anyone|anybody",
          r"\b(?:whoever|anyone|anybody)\s+(?:(?:is\s+)?reading|reads|processes|processing|handles|handling|parses|"
          r"summari[sz]es|receives)\s+this\b[^.\n]{0,40}?\b(?:should|must|shall|needs? to|has to|is to|will)\b"),
    _rule("when-you-read-this", "flag", "summarise|summarize|read|process|parse|analyse|analyze|review|respond|answer|"
          "translate",
          r"\b(?:when|while|if|after|before|as|once) you(?:'re| are)? (?:summari[sz]e|summari[sz]ing|read|reading|"
          r"process|processing|parse|parsing|analy[sz]e|analy[sz]ing|review|reviewing|translate|translating|"
          r"respond to|answer about)\s+this\s+(?:page|document|e-?mail|message|text|review|file|content|site|"
          r"result|output|ticket)\b"),
    _rule("your-new-task", "flag", "task|job|goal|objective|instructions|instruction|mission|purpose|priority|"
          "guidelines|rules|policy|programming|directives",
          r"\byour (?:new|real|actual|only|true|updated|revised|next|primary) (?:task|job|goal|objective|"
          r"instructions?|mission|purpose|priority)\b\s*(?:is|are|:|now|has)"
          r"|\b(?:update|change|amendment|addendum|correction|override|exception)s?\s+(?:to|of|for)\s+your\s+"
          r"(?:guidelines|instructions|rules|polic(?:y|ies)|system prompt|programming|directives)\b"),
    _rule("authority-claim", "borderline", "system|administrator|admin|operator|developer|team|owner",
          r"\b(?:i am|i'm|this is|we are|as)\s+(?:the|your|a|an)\s+(?:system (?:operator|administrator|admin|owner)|"
          r"administrator|admin|sysadmin|operator|developer|it team|security team|owner of this (?:system|assistant|"
          r"bot))(?:\s*[,.;:!]|\s+(?:i|we|here|speaking)\b|$)"),
    _rule("authorise-you", "borderline", "authorise|authorize|authorized|authorised|permit|permission|allow",
          r"\b(?:i|we)\s+(?:hereby\s+)?(?:authori[sz]e|permit|allow)\s+you\s+to\s+(?:disclose|share|reveal|"
          r"transfer|refund|cancel|bypass|ignore|skip|override|send|give|delete|waive)\b"
          r"|\byou (?:are|have been) (?:hereby )?(?:authori[sz]ed|permitted|cleared) to\s+(?:disclose|share|reveal|"
          r"transfer|refund|cancel|bypass|ignore|skip|override|send|give|delete|waive)\b"),
    _rule("rules-do-not-apply", "borderline", "apply",
          r"\b(?:rules?|polic(?:y|ies)|restrictions?|limits?|guidelines)\b[^.\n]{0,40}?\b(?:do(?:es)?n'?t|do(?:es)? "
          r"not|no longer|never)\s+apply\s+(?:to|for|here|in)"),
    _rule("role-prefix", "flag", "system|assistant|developer|admin|administrator|operator",
          r"(?:^|[.!?]\s+)[ \t>*#\[(<-]*(?:system|assistant|developer|admin|administrator|operator)"
          r"(?:\s+(?:message|note|notice|prompt|instructions?|override|update|directive|alert))?\s*[:\]>)]"
          rf"\s*(?=[^\n]{{0,120}}\b{_DIRECTIVE}\b)"),
    # --- English: planting a memory
    _rule("plant-memory", "flag", "next|future|subsequent|memory|memories|memorize|memorise|knowledge|playbook|lesson|lessons|rule|rules|strategy|insight|instruction|instructions|policy|notes",
          r"\b(?:remember|memori[sz]e|keep in mind|note|retain|learn)\b[^.\n]{0,40}?"
          r"\b(?:for|in|into|to)\s+(?:(?:the\s+)?next\s+(?:time|tasks?|runs?|sessions?|conversations?|customers?|"
          r"users?)|(?:all\s+)?(?:future|subsequent)\s+(?:tasks?|runs?|sessions?|conversations?|interactions?|"
          r"episodes?|customers?|requests?|queries|agents?|assistants?)|your\s+(?:long[- ]term\s+)?(?:memory|"
          r"memories|notes|knowledge(?: base)?|lessons?|rules?|playbook|instructions))\b"
          r"|\b(?:add|append|write|save|store|put|insert|commit|include|record)\b[^.\n]{0,30}?\b(?:to|in|into)\s+"
          r"(?:your|the agent'?s|the assistant'?s|long[- ]term|the long[- ]term|(?:the\s+)?shared)\s+"
          r"(?:long[- ]term\s+)?(?:memory|memories|memory bank|knowledge base|lessons?|playbook|rules)\b"
          r"|\b(?:store|save|remember|memori[sz]e|record|add|learn)\s+(?:this|the following|it)\s+(?:as\s+)?"
          r"(?:an?\s+)?(?:lesson|rule|memory|instruction|strategy|insight|policy)\b"
          r"|\b(?:lessons? (?:learned|learnt)|memory (?:update|entry)|new (?:lesson|memory))\s*"
          r"(?:for (?:future|the next|all|other) \w+\s*)?:"),
    _rule("next-time", "flag", "next|future|subsequent|later",
          r"\b(?:next time|in (?:the )?future|for (?:all )?(?:future|subsequent|later) (?:tasks?|requests?|runs?|"
          r"sessions?|conversations?|interactions?|customers?|users?|bookings?|orders?|tickets?))\b,?\s+"
          r"(?:(?:you|agents?|assistants?|the (?:agent|assistant|ai))\s+(?:should|must|can|may|need|needn't|"
          r"don't|do not|shall|are)|always|never|skip|no need|do not|don't)\b"),
    # --- English: roles, modes, secrecy, exfiltration, judges
    _rule("role-change", "flag", "now|pretend|imagine|act|behave|respond|roleplay|role",
          r"\byou(?: are|'re) now (?:an?|the|my|in|acting|operating|authori[sz]ed|allowed|permitted|free|"
          r"unrestricted|jailbroken|dan)\b(?:\s+\w+){0,3}?\s*\b(?:ai|assistant|agent|bot|model|persona|character|"
          r"system|admin|administrator|developer|mode|as|to|from|unrestricted|unfiltered|jailbroken|dan)\b"
          r"|\bpretend (?:that )?you(?:'re| are)\b|\bimagine (?:that )?you(?:'re| are) (?:an?|the) (?:\w+ )?"
          r"(?:ai|assistant|agent|bot|model)\b"
          r"|\b(?:act|behave|respond|roleplay|role-play) as (?:if you(?:'re| are| were)|though you|an? (?:unrestricted|"
          r"unfiltered|jailbroken|evil|different|new) |dan\b)|\b(?:roleplay|role-play) as\b"),
    _rule("mode-switch", "flag", "mode",
          r"\b(?:enable|enter|activate|switch to|turn on)\s+(?:developer|god|jailbreak|dan|admin|debug|"
          r"unrestricted|maintenance)\s+mode\b"),
    _rule("hide-from-user", "flag", "tell|telling|inform|informing|mention|mentioning|reveal|revealing|notify|notifying|alert|alerting|secret|hidden|confidential",
          r"\b(?:do not|don't|never|without)\s+(?:tell|telling|inform|informing|mention|mentioning|reveal|"
          r"revealing|notify|notifying|alert|alerting)\b[^.\n]{0,20}\b(?:the )?(?:user|customer|human|operator)\b"
          r"|\bkeep (?:this|it|these) (?:secret|hidden|confidential) from (?:the )?(?:user|customer|human)\b"),
    _rule("exfiltrate", "flag", "prompt|instructions|api|credentials|token|tokens|password|passwords|card number|"
          "card numbers|cvv|cvvs|secret|secrets|rules|private key|ssh key|pin|pins|passcode|ssn|social security|"
          "phone number|home address|date of birth|security answer",
          r"\b(?:reveal|print|output|show|repeat|send|share|leak|disclose|email|post|forward|upload|append|paste|"
          r"copy|provide|give|reply with|respond with|answer with|include|write down|read out)"
          r"\s+(?:me\s+|us\s+|back\s+)?(?:your|the|all|any|their|his|her|the (?:user|customer|account holder)'s|"
          r"this (?:user|customer)'s)\s+(?:\w+\s+)?(?:full\s+|complete\s+|entire\s+|original\s+|hidden\s+)?"
          r"(?:system prompt|initial prompt|hidden prompt|(?:system|hidden|initial|original|secret) instructions|"
          r"api[ _-]?keys?|credentials|session tokens?|access tokens?|auth(?:entication)? tokens?|"
          r"private keys?|(?:full |credit )?card numbers?|cvvs?|ssh keys?|passwords? (?:of|for) (?:the|this) "
          r"(?:user|customer|account))\b"
          r"|\b(?:reveal|print|output|repeat|send|share|leak|disclose|email)\s+(?:me\s+)?your\s+(?:instructions|"
          r"rules|prompt|passwords?|secrets?|tokens?)\b"
          r"|\b(?:reveal|print|output|repeat|send|share|leak|disclose|email|forward|post|copy|give|provide|tell)\s+"
          r"(?:me\s+|us\s+)?(?:the (?:user|customer|account holder|other passenger|passenger|client)'s|their|his|her)"
          r"\s+(?:\w+\s+)?(?:passwords?|pins?|passcodes?|card numbers?|cvvs?|tokens?|credentials|ssn|"
          r"social security numbers?|phone numbers?|home address|date of birth|security answers?)\b"),
    _rule("chat-template", "flag", ("<|", "|>", "[inst]", "[/inst]", "<<sys>>", "<</sys>>", "_of_turn>",
                                   "<system>", "</system>", "<instructions>", "</instructions>", "tool_result>",
                                   "function_results>", "<admin>", "</admin>", "<system_prompt>"),
          r"[<\[](?:\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|"
          r"begin_of_text|developer)\|>|/?inst\]|</?sys>>|(?:start|end)_of_turn>|"
          r"/?(?:system|system_prompt|instructions|tool_result|function_results|admin)>)"),
    _rule("json-role", "borderline", "role",
          r"\\?\"role\\?\"\s*:\s*\\?\"(?:system|developer)\\?\"\s*,\s*\\?\"content\\?\"\s*:\s*\\?\"[^\"]{0,120}"
          rf"\b{_DIRECTIVE}\b"),
    _rule("send-to-address", "borderline", "send|email|forward|post|upload|transfer|wire|cc|bcc|copy|mail",
          rf"\b(?:send|email|e-mail|mail|forward|post|upload|transfer|wire|cc|bcc|copy)\b{_OWN_CLAUSE}{{0,80}}?\bto\s+"
          r"[\w.+-]+@[\w-]+\.[\w.-]+"),
    _rule("steer-judge", "flag", "mark|label|rate|judge|grade|score|report|evaluate",
          r"\b(?:mark|label|rate|judge|grade|score|report|evaluate)\s+(?:this|the)\s+(?:task|trajectory|run|"
          r"answer|attempt|episode|conversation)\s+as\s+(?:a\s+)?(?:success|successful|correct|passed|complete|"
          r"resolved)"),
    _rule("absolute-rule", "flag", "always|never",
          rf"(?:^|[.!:;]\s*|\b(?:please|important|note|rule|remember)\s*[:,-]?\s*)(?:always\s+(?:{_RISKY_VERBS})|"
          r"never\s+(?:verify|confirm|check|question|escalate|refuse|decline|deny|report|log|mask))\b"),
    _rule("new-instructions", "flag", "instruction|instructions|directive|directives|prompt|override|order|orders|policy|policies",
          r"\b(?:new|updated|revised|system|important|admin(?:istrator)?|developer|hidden|secret|urgent)"
          r"\s+(?:instructions?|directives?|prompt|override|polic(?:y|ies) for (?:agents?|assistants?|ai))"
          r"\s*[:\-]"),
    _rule("skip-safeguard", "borderline", "confirm|confirmation|confirming|confirmations|verify|verification|verifying|verifications|authenticate|authentication|authenticating|identity|consent|approval|permission|2fa|mfa|otp",
          rf"\b(?:skip|skipping|bypass|bypassing|omit|omitting|forgo|waive|no need (?:to|for)|don'?t (?:need|bother)"
          rf" to|do not (?:need|bother) to|need not|needn'?t|not (?:necessary|required|needed) to)\s+"
          rf"(?:\w+\s+){{0,3}}?{_SAFEGUARD}\b"
          rf"|\b(?:need|needs|require|requires)\s+no\s+{_SAFEGUARD}|\bno\s+{_SAFEGUARD}\s+(?:is\s+)?(?:needed|"
          rf"required|necessary)\b|\b{_SAFEGUARD}\s+(?:is|are)\s+(?:not|no longer|never)\s+(?:needed|required|"
          rf"necessary)\b"),
    # --- English: a reader addressed by role and told what to do; data fields meant for the AI
    _rule("addressed-order", "flag", _AI_ANCHORS + "|automated|readers|fixers|shoppers|helpers",
          rf"(?:^|[\[(\"'.!?;:|>\n]\s*|\b(?:dear|hey|attention|psst)\s+(?:the\s+|all\s+|any\s+)?"
          rf"|{_ADDRESS_TO}\s+(?:the\s+|all\s+|any\s+)?)"
          rf"(?:{_AI_QUALIFIED})\s*[:,\u2014]\s*[^.\n]{{0,80}}?\b(?:{_ORDER_VERBS})\b"
          rf"|\b(?:{_AI_QUALIFIED})\s+(?:(?:handling|reading|processing|viewing|working on|assigned to|modifying|"
          r"editing|summari[sz]ing|answering|serving|that reads?|who reads?)\s+(?:this|these|the|that|any)\s+"
          r"[a-z-]+\s+)(?:must|should|shall|is to|are to|need to|needs to|may|can|are (?:cleared|allowed|"
          r"permitted|authori[sz]ed) to)\b"
          rf"|\b(?:any|every|all|each)\s+(?:{_AI_QUALIFIED})\s+(?:that|who|which)\s+(?:reads?|processes|sees|"
          r"parses|loads|opens|uses)\s+(?:this|these|it)\b"),
    _rule("field-for-ai", "flag", "assistant|assistants|agent|agents|llm|llms|ai|bot|bots|copilot|model|models",
          r"(?:assistant|agent|llm|\bai|bot|copilot|model)s?[_-](?:directives?|instructions?|hints?|notes?|"
          r"polic(?:y|ies)|prompts?|messages?|rules|guidance|commands?|orders?|overrides?)\b[\"']?\s*[:|=]"
          r"|(?:directives?|instructions?|hints?|notes?|polic(?:y|ies)|prompts?|rules|guidance|commands?|"
          r"orders?)[_-](?:for|to)[_-](?:the[_-])?(?:assistants?|agents?|llms?|ai|bots?|models?)\b"),
    _rule("covert-action", "flag", "quietly|silently|secretly|covertly|discreetly|telling|informing|notifying|questions",
          rf"\b(?:quietly|silently|secretly|covertly|discreetly)\s+(?:{_ORDER_VERBS})\s+(?:the|a|an|their|his|her|"
          r"all|every|it|them)\b"
          r"|\bwithout (?:telling|informing|notifying|alerting) (?:the )?(?:user|customer|shopper|passenger|them|"
          r"anyone|him|her|the account holder)\b|\bno questions asked\b"),
    _rule("trigger-word", "flag", "means|mean|code|codeword|passphrase|magic",
          r"\bwhen(?:ever)? (?:i|we|the user|the customer|they|someone|anyone) (?:say|says|type|types|write|writes|"
          r"use|uses|mention|mentions)\b[^.\n]{0,60}?\b(?:it )?means?\b"
          r"|\b(?:code ?word|secret word|password phrase|magic word|passphrase)\b[^.\n]{0,60}?\b(?:means?|"
          r"verified|authori[sz]ed|skip|unlock|grant|treat)\b"),
    _rule("treat-as-trusted", "flag", "treat|regard|consider|trust",
          r"\b(?:treat|regard|consider)\s+(?:me|my messages|these messages|this user|the user|them|the caller|"
          r"their messages|this (?:text|message|page|content|note)|text (?:inside|in|from) [a-z ]{3,30}?)\s+as\s+"
          r"(?:(?:if\s+)?(?:coming|written|sent)\s+(?:from|by)\s+)?(?:the\s+|an?\s+|already\s+|having\s+)?"
          r"(?:same\s+|store\s+|site\s+|shop\s+|account\s+|system\s+|company\s+)?(?:verified|authori[sz]ed|authenticated|trusted|admins?|administrators?|staff|management|"
          r"the system|system|developer|operator|owner|authority|authoritative|system messages?|instructions|"
          r"store management)\b"),
    _rule("rules-relaxed", "flag", "relaxed|lifted|disabled|removed|suspended|off|waived|outdated|obsolete|suggestion|void",
          r"\byour\s+(?:safety\s+|content\s+|usual\s+)?(?:settings|rules|restrictions|filters|guardrails|"
          r"polic(?:y|ies)|limits|guidelines|instructions|system prompt|safeguards)\s+(?:are|is|have been|has been)"
          r"\s+(?:now\s+|temporarily\s+)?(?:relaxed|lifted|disabled|removed|suspended|turned off|switched off|"
          r"waived|outdated|obsolete|void|only a suggestion|optional|overridden)\b"),
    _rule("prompt-template", "flag", ("###", "[system", "[assistant", "[user"),
          r"(?:^|\n|[.!?]\s+)\s*(?:###|\[)\s*(?:instruction|instructions|system|system prompt|response|assistant|human|"
          r"user|input)"
          r"\s*(?::|\])\s*\n[\s\S]{0,400}?(?:^|\n)\s*(?:###|\[)\s*(?:response|assistant|output|answer)\s*(?::|\])"),
    _rule("fake-dialogue", "flag", "user|human|customer",
          r"(?:^|\n)[ \t>*#-]*(?:user|human|customer)\s*:[^\n]{1,300}\n+[ \t>*#-]*(?:assistant|ai|agent|bot|"
          r"chatbot|gpt)\s*:"),
    _rule("hijack-order", "flag", "before|first",
          r"\bbefore (?:any|every|each|all) other (?:calls?|tools?|actions?|steps?|requests?|tasks?)\b[^.\n]{0,40}?"
          rf"\b(?:{_ORDER_VERBS})\b"),
    _rule("secret-file", "flag", "ssh|rsa|aws|env|netrc|shadow|npmrc|pypirc",
          r"\b(?:read|cat|open|pass|send|copy|include|upload|post|attach|commit|paste|print|forward|exfiltrate|"
          r"append|add)\b[^.\n]{0,60}?(?:~?/?\.ssh/|id_rsa|id_ed25519|\.aws/credentials|(?<![\w.])\.env\b|\.netrc|"
          r"/etc/shadow|\.npmrc|\.pypirc)"),
    _rule("secret-to-address", "flag", "send|email|forward|post|upload|cc|paste|share|include|dm|text|mail",
          r"\b(?:send|email|e-mail|mail|forward|post|upload|cc|bcc|paste|share|include|dm|text|copy)\b[^.\n]{0,100}?"
          r"\b(?:passwords?|pins?|card numbers?|cvvs?|ssns?|social security|passports?|date of birth|"
          r"tokens?|api keys?|credentials|customer records|full records|saved cards?|payment details)\b"
          rf"{_OWN_CLAUSE}{{0,60}}?(?:\bto\s+[\w.+-]+@[\w-]+\.[\w.-]+|https?://)"),
    _rule("pii-into-url", "flag", "replace|replaced|replacing|substitute|substituted|fill|append|encode",
          r"\b(?:replace[ds]?|replacing|substitut\w*|fill\w*|append\w*|encod\w*)\b[^.\n]{0,60}?\b(?:the )?"
          r"(?:user|customer|client|account holder)'?s?'?\s+(?:email|e-mail|phone|address|name|password|token|card|"
          r"ssn|date of birth|location|messages?)"),
    _rule("authority-says", "borderline", "says|said|wants|instructs|instructed|approved|authorised|authorized|orders|desk",
          r"\b(?:the\s+)?(?:system\s+)?(?:administrator|admin|sysadmin|operator|it department|it team|security "
          r"team|security operations|management|ceo|cto|developers?|owner|trust (?:&|and) safety(?: team)?|model "
          r"provider)\s+(?:says|said|wants|instructs|instructed|has approved|has authori[sz]ed|orders)\b"
          r"|\bfrom the desk of\b|\bper (?:our|the) (?:administrator|admin|management|it department|security team)\b"),
    _rule("you-are-cleared", "borderline", "cleared|authorised|authorized|permitted|allowed",
          r"\byou(?:'re| are| have been)\s+(?:now\s+|hereby\s+)?(?:cleared|authori[sz]ed|permitted|allowed)\s+to\b"),
    _rule("ml-move-money", "flag", "transfira|transferir|transfiera|transfiere|trasferisci|trasferire|virez|vire|"
          "uberweise|uberweisen|overmaken|maak|переведите|перевести|переведи|振り込|送金",
          r"\b(?:transfira|transferir|transfiera|transfiere|trasferisci|trasferire|virez|vire|uberweise|uberweisen|"
          r"maak|overmaken|переведите|перевести|переведи)\b[^.\n]{0,80}?\b(?:conta|cuenta|compte|konto|conto|"
          r"rekening|счет|счёт)\b[^.\n]{0,12}?\d[\d -]{2,}"
          r"|(?:口座)[^。\n]{0,20}?(?:振り込|送金)"),
) + LANGUAGE_RULES + FRAMING_RULES

_LETTERS_ONLY_STR = {c: None for c in range(128) if not 97 <= c <= 122 and c != 32}
_LETTERS_ONLY = bytes.maketrans(bytes(range(256)), bytes(c if (97 <= c <= 122 or c >= 128) else 32 for c in range(256)))
# Letter-spaced text evenly spaced loses its word gaps: the commonest orders, read without any.
_SQUASHED = re.compile(
    r"(?:ignore|disregard|forget|override)(?:all|any|the|your|of)*(?:previous|prior|above|earlier|preceding|system|"
    r"original)?(?:instructions?|prompts?|rules|guidelines)|notefor(?:all|future|the|next)*(?:ai)?(?:agents?|"
    r"assistants?|models?|llms?)|fromnowon|youarenow|henceforth|(?:add|save|store|write)(?:this|it)?(?:to|in|into)"
    r"(?:your|the)memory|remember(?:this)?for(?:next|future)|newinstructions|systemprompt|(?:developer|jailbreak|god)"
    r"mode|theassistantmust|theagentmust|(?:skip|no|without)(?:the)?(?:confirmation|verification|authentication)|"
    r"transferallfunds|revealyour|lessons?learn|always(?:send|transfer|refund|approve|share|forward|email|skip)|"
    r"never(?:ask|verify|confirm|check)|forfuture(?:tasks|agents|runs|conversations)|nexttime|"
    r"(?:note|message|memo|reminder|tip)(?:for|to)(?:the|all|any|future|next)*(?:ai)?(?:agents?|assistants?)")


# Orders a warning names to forbid them ("never share your password with anyone"): the rule's match is then only a cue.
_FORBIDDABLE = frozenset({"exfiltrate", "send-to-address", "secret-to-address", "secret-file"})
_FORBIDDEN_BEFORE = re.compile(r"\b(?:never|not|don't|do not|dont|must not|mustn't|shouldn't|should not|avoid|"
                               r"refuse to|decline to)\b(?:\s+\w+){0,3}\s*$")


# Words broken by spaces ("ig nore all pre vious in struc tions"): the override order read with no gaps at all.
_SQUASHED_OVERRIDE = re.compile(r"(?:ignore|disregard|forget|override)(?:all|any|the|your|of|previous|prior|above|"
                                r"earlier|system|these|my)*(?:instructions?|prompt|rules)")


def _broken_override(text: str) -> str | None:
    """The override order in `text` read without spaces, when its words were broken apart (not already whole)."""
    body = normalise(text)
    if "struc" not in body and "rompt" not in body:
        return None
    squashed = body.translate(_LETTERS_ONLY_STR)
    match = _SQUASHED_OVERRIDE.search(squashed.replace(" ", ""))
    if not match:
        return None
    words = set(squashed.split())
    verb = next(v for v in ("ignore", "disregard", "forget", "override") if match.group(0).startswith(v))
    noun = next(n for n in ("instructions", "instruction", "prompt", "rules") if match.group(0).endswith(n))
    return None if verb in words and noun in words else match.group(0)[:120]


def _occurrences(text: str, anchor: str, word: bool) -> Iterable[int]:
    at = text.find(anchor)
    while at != -1:
        end = at + len(anchor)
        if not word or ((at == 0 or not text[at - 1].isalpha()) and (end == len(text) or not text[end].isalpha())):
            yield at
        at = text.find(anchor, end)


class _Body:
    """A view's text with its word set, computed once and shared by every rule."""

    def __init__(self, text: str):
        self.text = text
        self.words = set(text.encode("utf-8", "replace").translate(_LETTERS_ONLY).split())

    def candidates(self) -> list[Rule]:
        """The rules whose anchors occur in the text (most texts leave only a few to run)."""
        picked = set()
        for word in self.words & _ANCHOR_WORDS.keys():
            picked.update(_ANCHOR_WORDS[word])
        picked.update(i for anchor, i in _ANCHOR_SUBSTRINGS if i not in picked and anchor in self.text)
        return [RULES[i] for i in sorted(picked)]

    def search(self, rule: Rule) -> re.Match | None:
        words = rule.words & self.words
        subs = [a for a in rule.substrings if a in self.text]
        if not words and not subs:
            return None
        text = self.text
        if len(text) <= WINDOW_BEFORE + WINDOW_AFTER:
            return rule.rx.search(text)
        points = sorted([at for a in words for at in _occurrences(text, a.decode(), True)] +
                        [at for a in subs for at in _occurrences(text, a, False)])
        lo = hi = -1
        for at in points + [None]:
            if at is not None and at - WINDOW_BEFORE <= hi:
                hi = at + WINDOW_AFTER
                continue
            if hi > 0:
                match = rule.rx.search(text, lo, min(hi, len(text)))
                if match:
                    return match
            if at is not None:
                lo, hi = max(0, at - WINDOW_BEFORE), at + WINDOW_AFTER
        return None


def _anchor_index() -> tuple[dict[bytes, list[int]], list[tuple[str, int]]]:
    words: dict[bytes, list[int]] = defaultdict(list)
    for i, rule in enumerate(RULES):
        for word in rule.words:
            words[word].append(i)
    return dict(words), [(a, i) for i, rule in enumerate(RULES) for a in rule.substrings]


_ANCHOR_WORDS, _ANCHOR_SUBSTRINGS = _anchor_index()


def _excerpt(match: re.Match) -> str:
    return " ".join(match.group(0).split())[:120]


def scan_text(text: str | None) -> list[tuple[str, str, str, str]]:
    """(rule, excerpt, severity, view) for every rule that `text` trips, each rule once, strongest view first.

    A cue found only in what obfuscation hid (decoded, letter-spaced, invisible-character or lookalike text) is
    a flag even when the rule alone is borderline: benign text does not hide its directives."""
    if not text:
        return []
    found: dict[str, tuple[str, str, str, str]] = {}
    for view, body in views(text):
        if view == "squashed":
            match = _SQUASHED.search(body)
            if match:
                found.setdefault("spaced-letters", ("spaced-letters", _excerpt(match), "flag", view))
            continue
        body = _Body(body)
        for rule in body.candidates():
            if rule.name in found and found[rule.name][2] == "flag":
                continue
            match = body.search(rule)
            if not match:
                continue
            excerpt = _excerpt(match)
            plain = view == "text" or (view == "unicode" and excerpt in " ".join(text.lower().split()))
            severity = rule.severity if plain else "flag"
            if rule.name in _FORBIDDABLE and _FORBIDDEN_BEFORE.search(body.text[max(0, match.start() - 40):
                                                                               match.start()]):
                severity = "borderline"  # "never share your password" warns against what an injection orders
            if rule.name not in found or severity == "flag":
                found[rule.name] = (rule.name, excerpt, severity, view)
    if "ignore-instructions" not in found:
        broken = _broken_override(text)
        if broken:
            found["broken-words"] = ("broken-words", broken, "flag", "squashed")
    weak = [name for name, hit in found.items() if hit[2] == "borderline"]
    if len(weak) >= 2:  # two different weak cues in one text: benign text rarely has both
        for name in weak:
            found[name] = (*found[name][:2], "flag", found[name][3])
    return list(found.values())


_TOOL_STRONG = frozenset("ignore override bypass disregard always never instructions instruction remember memory "
                         "forget skip".split())
_TOOL_WEAK = frozenset("system policy note future agents agent assistant without confirmation verification "
                       "transfer refund funds approve all".split())


def scan_tool_name(name: str) -> list[tuple[str, str, str, str]]:
    """A tool name (already split into words) that reads as a sentence of orders rather than a verb and noun."""
    found = scan_text(name)
    words = normalise(name).split()
    strong, weak = _TOOL_STRONG.intersection(words), _TOOL_WEAK.intersection(words)
    if not found and len(words) >= 4 and (strong or len(weak) >= 3):
        found.append(("instruction-in-tool-name", " ".join(words)[:120], "flag", "text"))
    return found
