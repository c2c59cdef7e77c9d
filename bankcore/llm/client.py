"""The only module that imports `openai`. One client for any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM,
llama.cpp server, LM Studio), with the retries, JSON-mode fallback, audit trail and cache the judge and the
extractor rely on.

Every HTTP attempt — answered, failed or unusable — is one row in `llm_calls`; the API key is never logged or
stored. A temperature-0 request whose prompt hash and model match a successful row is answered from that row
without any HTTP call, so re-running a judge costs nothing and returns the same verdict.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Callable, ClassVar, NamedTuple

from ..errors import BankcoreError
from ..models import LLMCall
from ..settings import Settings, is_local_url, redact_url

if TYPE_CHECKING:
    from ..store.protocols import LLMCallLog

OPENAI_DEFAULT_BASE = "https://api.openai.com/v1"
# No role asks for more than a few thousand tokens: a longer reply is a broken or hostile server. It is stored cut
# to this many characters, as a failed attempt, and never parsed.
MAX_REPLY_CHARS = 100_000
MAX_RETRY_AFTER_S = 60.0
MAX_BACKOFF_S = 30.0
_KEY_LIKE = re.compile(r"\b(sk|key|tok)-[A-Za-z0-9_\-*.]{6,}")


class LLMError(BankcoreError):
    """An LLM call failed for good. The work it was for stays queued; nothing was written.

    `transient`: trying again later may help (timeouts, 429, 5xx, unusable replies). `fatal`: no call to this
    endpoint can succeed (bad key, no access, unknown model), so a batch should stop rather than go on failing.
    """

    def __init__(self, message: str, *, transient: bool, fatal: bool = False):
        super().__init__(message)
        self.transient = transient
        self.fatal = fatal


class StreamStalled(Exception):
    """A streamed reply stopped coming (`why`) after `pieces` had arrived in `elapsed_s` seconds."""

    def __init__(self, why: str, pieces: int, elapsed_s: float):
        super().__init__(f"{why} after {pieces} tokens had arrived in {elapsed_s:.1f} s")
        self.pieces, self.elapsed_s = pieces, elapsed_s


class UnusableReply(ValueError):
    """Raised by a `validate` callback: the reply arrived but cannot be used (prose, truncated JSON, ...)."""


@dataclass(frozen=True)
class LLMResult:
    text: str
    tokens_in: int | None
    tokens_out: int | None
    cached: bool
    call_id: int | None
    model: str


def prompt_hash(messages: list[dict[str, str]], json_mode: bool) -> str:
    """Identity of a request for the cache: the messages and whether JSON output was asked for."""
    blob = json.dumps({"messages": messages, "json_mode": json_mode}, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def backoff_delay(attempt: int, retry_after: float | None, rng: random.Random) -> float:
    """Seconds to wait before attempt `attempt + 1`: the server's Retry-After if it gave one, else exponential."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), MAX_RETRY_AFTER_S)
    return min(0.5 * 2 ** (attempt - 1), MAX_BACKOFF_S) * (1 + rng.random() / 4)


def parse_retry_after(headers: Any) -> float | None:
    """`retry-after-ms`, or `retry-after` as seconds or an HTTP date; None when absent or unreadable."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def require_llm(settings: Settings, offline: str = "choose the heuristic instead") -> None:
    """Refuse early when there is no endpoint or key, saying how to configure one and what works `offline`."""
    if not settings.llm_configured:
        raise BankcoreError("no LLM configured: set OPENAI_API_KEY (OpenAI) or BANKCORE_LLM_BASE_URL / "
                            f"OPENAI_BASE_URL (any OpenAI-compatible server) and BANKCORE_MODEL; offline, {offline}")


@dataclass
class ServerFacts:
    """What a server told us about itself: request parameters it refused and its context window. Shared by every
    client of one (endpoint, model) in the process, so each role's new client does not pay the same refused call."""

    refused: set[str]
    window: int | None = None
    window_probed: bool = False


_SERVER_FACTS: dict[tuple[str, str], ServerFacts] = {}


def server_facts(base_url: str, model: str) -> ServerFacts:
    return _SERVER_FACTS.setdefault((base_url, model), ServerFacts(set()))


def forget_server_facts() -> None:
    """For a server that was restarted or reconfigured in this process (and between tests)."""
    _SERVER_FACTS.clear()


class LLMClient:
    """Calls one model at one endpoint. Cheap to build; the `openai` client is created on the first real call."""

    # Where a streamed reply's progress goes when a client is given no `progress`: the CLI points it at its bar.
    default_progress: ClassVar[Callable[[str, int, float], None] | None] = None

    def __init__(self, settings: Settings, store: LLMCallLog, *, model: str | None = None,
                 sleep: Callable[[float], None] = time.sleep, seed: int | None = None,
                 progress: Callable[[str, int, float], None] | None = None):
        require_llm(settings)
        self.model = model or settings.llm_model
        if not self.model:
            raise BankcoreError("no LLM model: pass --model or set BANKCORE_MODEL")
        self.settings = settings
        self.store = store
        self.base_url = settings.llm_base_url or OPENAI_DEFAULT_BASE
        self.shown_url = redact_url(self.base_url)  # what messages and llm_calls say: never the URL's credentials
        self.sleep = sleep
        self._rng = random.Random(seed)
        self._facts = server_facts(self.base_url, self.model)
        self._rejected = self._facts.refused  # request parameters this server refused; sent without them from then on
        self._client = None
        # While a reply streams in: progress(purpose, pieces so far, seconds since the request), e.g. for tokens/s.
        self.progress = progress or LLMClient.default_progress

    # ------------------------------------------------------------------ public
    def complete(self, purpose: str, messages: list[dict[str, str]], *, temperature: float = 0.0,
                 json_mode: bool = False, max_tokens: int = 1024, traj_id: str | None = None,
                 validate: Callable[[str], Any] | None = None,
                 fit: Callable[[float], list[dict[str, str]]] | None = None,
                 schema: dict[str, Any] | None = None, seed: int | None = None,
                 stop: list[str] | None = None) -> LLMResult:
        """One chat completion. Raises LLMError when it cannot get a usable reply within the retry budget.

        `validate(text)` raises `UnusableReply` for a reply that arrived but cannot be used; such a reply is
        recorded with its error (so it is never served from the cache) and the request is retried.
        `fit(scale)` rebuilds the prompt with its history budgets scaled by `scale` (0–1]: with it, a prompt that
        would not fit the endpoint's context window (`context_window`) is shortened before it is sent, and again if
        the server rejects it for length. `schema` (a JSON schema) asks the server to constrain the reply to it
        (`response_format` json_schema: llama.cpp, vLLM, OpenAI); a server without it gets plain JSON mode, and a
        server without that gets neither — `validate` still checks every reply. `stop`: strings that end the reply
        where the server supports them (the agent's "Observation:", which a base model writes on after its action).
        """
        json_mode = json_mode or schema is not None
        fitted_to = self.context_window() if fit is not None else None
        if fitted_to is not None:
            messages = fit_prompt(fit, fitted_to, max_tokens, messages)
        key = prompt_hash(messages, json_mode)
        if temperature == 0:
            cached = self._from_cache(key, validate)
            if cached is not None:
                return cached
        failures = 0
        attempt = _Attempt(messages, temperature, key)
        unusable: list[_Attempt] = []  # attempts whose reply arrived but could not be used
        while True:
            params = self._params(attempt.temperature, max_tokens, json_mode, schema, purpose)
            if seed is not None and "seed" not in self._rejected:
                params["seed"] = seed  # a sampling seed (agent runs record theirs); dropped if the server refuses it
            if stop and "stop" not in self._rejected:
                params["stop"] = list(stop)
            sent = self._roles(attempt.messages)
            request = {"messages": sent, **params}
            started = time.monotonic()
            try:
                text, tokens = self._ask(purpose, sent, params)
            except Exception as exc:  # noqa: BLE001 — classified below, re-raised if not an API error
                outcome = self._classify(exc, {**params, **self._stream_params()}, purpose)
                if outcome is None:
                    raise
                kind, retry_after, message = outcome
                self._record(purpose, attempt.key, attempt.temperature, request, None, None, started, message,
                             traj_id)
                if kind.startswith("too_long"):
                    window = int(kind.split(":", 1)[1]) if ":" in kind else None  # as the server stated it
                    if window:
                        self._facts.window = window
                    if fit is None or not window or fitted_to == window:
                        raise LLMError(self._too_long(purpose, window, message), transient=False)
                    messages, fitted_to = fit_prompt(fit, window, max_tokens), window
                    attempt = _Attempt(messages, temperature, prompt_hash(messages, json_mode))
                    continue
                if kind.startswith("rejected:"):
                    self._rejected.add(kind.split(":", 1)[1])  # send without it from now on; not a retry
                    continue
                if kind != "retry":
                    raise LLMError(f"LLM {purpose} call to {self.model} at {self.shown_url} failed: {message}",
                                   transient=False, fatal=kind == "fatal")
                failures += 1
                if failures > self.settings.llm_max_retries:
                    raise LLMError(f"LLM {purpose} call to {self.model} failed after {failures} attempts: "
                                   f"{message}", transient=True)
                self.sleep(backoff_delay(failures, retry_after, self._rng))
                continue
            problem = _oversized(text) or _validation_error(validate, text)
            if problem is not None:
                problem += _cut_off(tokens[1], max_tokens)
            if problem is None:
                call = self._record(purpose, attempt.key, attempt.temperature, request, text, tokens, started, None,
                                    traj_id)
                return LLMResult(text, tokens[0], tokens[1], False, call.call_id, self.model)
            self._record(purpose, attempt.key, attempt.temperature, request, text[:MAX_REPLY_CHARS], tokens,
                         started, problem, traj_id)
            failures += 1
            unusable.append(attempt._replace(reply=text))
            if _stuck(unusable):
                raise LLMError(f"LLM {purpose}: {self.model} gave the same unusable reply {len(unusable)} times, "
                               f"even when shown what was wrong and sampled more freely ({problem}); it cannot do "
                               "this role reliably — try a larger model", transient=False)
            if failures > self.settings.llm_max_retries:
                raise LLMError(f"LLM {purpose} reply from {self.model} unusable after {failures} attempts: "
                               f"{problem}", transient=True)
            attempt = _repair(messages, temperature, json_mode, text, problem, len(unusable))
            if (attempt.key, attempt.temperature) == (unusable[-1].key, unusable[-1].temperature):
                # the same reply again at the top repair temperature: the next request would be the last one,
                # byte for byte, and nothing is left to change
                raise LLMError(f"LLM {purpose}: {self.model} gave the same unusable reply twice in a row, the second "
                               f"time at temperature {attempt.temperature:g} ({problem}); a retry would repeat the "
                               "same request — it cannot do this role reliably, try a larger model",
                               transient=False)
            if attempt.temperature == 0:
                cached = self._from_cache(attempt.key, validate)  # this repair was asked and answered before
                if cached is not None:
                    return cached

    def context_window(self) -> int | None:
        """The endpoint's context window in tokens: configured (`BANKCORE_LLM_CONTEXT`), else stated by a local
        server (llama.cpp's /props, or a /models entry's max_model_len or n_ctx, as vLLM and llama-cpp-python
        give it), else learned from a length rejection; None while unknown. Asked of the server once."""
        if self.settings.llm_context_tokens:
            return self.settings.llm_context_tokens
        facts = self._facts
        if facts.window is None and not facts.window_probed and is_local_url(self.base_url):
            facts.window_probed = True
            facts.window = probe_context_window(self.base_url)
        return facts.window

    def _too_long(self, purpose: str, window: int | None, message: str) -> str:
        size = f"the model's {window}-token context window" if window else "the model's context window"
        return (f"LLM {purpose} prompt is too long for {size} at {self.shown_url} ({message}). Set "
                f"BANKCORE_LLM_CONTEXT={window or 'TOKENS'} so bankcore shortens prompts to fit, or serve the model "
                "with a larger context (llama.cpp: --n_ctx / -c; vLLM: --max-model-len; Ollama: num_ctx)")

    # ------------------------------------------------------------------ internals
    def _ask(self, purpose: str, sent: list[dict[str, str]], params: dict[str, Any]
             ) -> tuple[str, tuple[int | None, int | None]]:
        """One HTTP request: the reply text and its (prompt, completion) token counts. Streamed where `_streams`,
        so the timeout bounds the silence between tokens rather than the whole reply."""
        timeout, _ = self.settings.llm_timeout_for(purpose)
        stream = self._stream_params()
        response = self._openai().chat.completions.create(model=self.model, messages=sent, timeout=timeout,
                                                          **stream, **params)
        if not stream:
            usage = getattr(response, "usage", None)
            return _reply_text(response), (getattr(usage, "prompt_tokens", None),
                                           getattr(usage, "completion_tokens", None))
        report = (lambda pieces, elapsed: self.progress(purpose, pieces, elapsed)) if self.progress else None
        return read_stream(response, timeout, report)

    def _stream_params(self) -> dict[str, Any]:
        """What asks for a streamed reply, minus what this server refused (then the reply comes whole)."""
        if not self.settings.llm_streams or "stream" in self._rejected:
            return {}
        if "stream_options" in self._rejected:
            return {"stream": True}
        return {"stream": True, "stream_options": {"include_usage": True}}  # token counts in the last chunk

    def _from_cache(self, key: str, validate: Callable[[str], Any] | None) -> LLMResult | None:
        hit = self.store.cached_llm_call(key, self.model)
        if hit is None or hit.response is None or _validation_error(validate, hit.response) is not None:
            return None
        return LLMResult(hit.response, hit.tokens_in, hit.tokens_out, True, hit.call_id, self.model)

    def _openai(self):
        if self._client is None:
            import openai

            self._client = openai.OpenAI(base_url=self.base_url, api_key=self.settings.llm_api_key or "not-needed",
                                         timeout=self.settings.llm_timeout, max_retries=0)
        return self._client

    def _roles(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        """The messages as this server takes them: where it refuses a system role (Gemma's chat template), or the
        settings say it drops one silently (or the model has no chat template), the system text opens the first user
        turn instead, and its reply format is said again at the end of the last one."""
        if "system" not in self._rejected and not self.settings.llm_fold_system:
            return messages
        return fold_system(messages)

    def _params(self, temperature: float, max_tokens: int, json_mode: bool, schema: dict[str, Any] | None = None,
                purpose: str = "reply") -> dict[str, Any]:
        """Request parameters, minus those this server has refused: a JSON schema, else JSON mode, where supported;
        the server's own temperature for models that only allow their default; `max_completion_tokens` for models
        that refuse `max_tokens` (OpenAI's reasoning models)."""
        params: dict[str, Any] = {}
        if "temperature" not in self._rejected:
            params["temperature"] = temperature
        params["max_completion_tokens" if "max_tokens" in self._rejected else "max_tokens"] = max_tokens
        if json_mode and "response_format" not in self._rejected:
            if schema is not None and "json_schema" not in self._rejected:
                params["response_format"] = {"type": "json_schema",
                                             "json_schema": {"name": re.sub(r"\W", "_", purpose), "schema": schema}}
            elif schema is not None and "json_object_schema" not in self._rejected:
                # llama-cpp-python's server constrains JSON mode to a schema this way (and refuses "json_schema")
                params["response_format"] = {"type": "json_object", "schema": schema}
            else:
                params["response_format"] = {"type": "json_object"}
        return params

    def _classify(self, exc: Exception, params: dict[str, Any], purpose: str = "reply"
                  ) -> tuple[str, float | None, str] | None:
        """(what to do, Retry-After seconds, redacted message) for an API error; None for anything else."""
        import openai

        message = self._redact(f"{type(exc).__name__}: {exc}")
        timeout, setting = self.settings.llm_timeout_for(purpose)
        if isinstance(exc, StreamStalled):
            rate = exc.pieces / exc.elapsed_s if exc.elapsed_s else 0.0
            return "retry", None, (f"the reply from {self.shown_url} stopped: {exc} (~{rate:.1f} tokens/s until "
                                   f"then); the server is stuck or overloaded — raise {setting} if it is only slow")
        if isinstance(exc, openai.APITimeoutError):
            if params.get("stream"):
                return "retry", None, (f"{message} (no first token within {timeout:g} s: the server at "
                                       f"{self.shown_url} read the prompt but did not start answering — a CPU model "
                                       f"with a long prompt may need more; raise {setting})")
            return "retry", None, f"{message} (no reply within {timeout:g} s; raise {setting} for a slow model)"
        if isinstance(exc, openai.APIConnectionError):
            return "retry", None, f"{message} (is a server listening at {self.shown_url}?)"
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if status == 429:
                return "retry", parse_retry_after(exc.response.headers), message
            if status >= 500 and _REQUEST_INVALID.search(str(exc)):
                refused = _refused_param(str(exc), params)  # llama-cpp-python answers an invalid request with a 500
                if refused:
                    return f"rejected:{refused}", None, message
            if status >= 500 or status == 408:
                return "retry", parse_retry_after(exc.response.headers), message
            if status in (400, 413, 422):
                too_long = _CONTEXT_EXCEEDED.search(str(exc))
                if too_long:
                    stated = next((g for g in too_long.groups() if g), None)
                    return f"too_long:{stated}" if stated else "too_long", None, message
                if "system" not in self._rejected and _SYSTEM_REFUSED.search(str(exc)):
                    return "rejected:system", None, message
                refused = _refused_param(str(exc), params)
                if refused:
                    return f"rejected:{refused}", None, message
            if status in (401, 403, 404):
                return "fatal", None, message
            return "fail", None, message
        if isinstance(exc, openai.APIError):
            return "retry", None, message  # e.g. a body that is not valid JSON: transient on real servers
        return None

    def _redact(self, text: str) -> str:
        key = self.settings.llm_api_key
        if key:
            text = text.replace(key, "[redacted]")
        return _KEY_LIKE.sub("[redacted]", text)

    def _record(self, purpose, key, temperature, request, response, tokens, started, error, traj_id) -> LLMCall:
        tokens = tokens or (None, None)
        return self.store.add_llm_call(LLMCall(
            purpose=purpose, model=self.model, prompt_hash=key, temperature=temperature, request=request,
            response=response, tokens_in=tokens[0], tokens_out=tokens[1],
            latency_ms=round((time.monotonic() - started) * 1000, 1), error=error, base_url=self.shown_url,
            traj_id=traj_id))


class _Attempt(NamedTuple):
    """One request of a `complete` call: what is sent, and its cache key; `reply` once an unusable one came back."""

    messages: list[dict[str, str]]
    temperature: float
    key: str
    reply: str | None = None


# A retry after an unusable reply must differ from what got it, or a greedy model answers the same bytes again:
# the first shows the model its reply and what was wrong with it; later ones also sample more freely.
REPAIR_TEMPERATURES = (None, 0.4, 0.7)  # by unusable replies so far (1, 2, 3+); None keeps the asked temperature
REPAIR_QUOTE_CHARS = 1500
UNUSABLE = "unusable reply: "  # how llm_calls.error starts for a reply that arrived but could not be used


def _repair(messages: list[dict[str, str]], temperature: float, json_mode: bool, reply: str, problem: str,
            unusable: int) -> _Attempt:
    """The next attempt after `unusable` unusable replies: the conversation plus the last reply and a note saying
    what was wrong with it, at the same temperature the first time and a higher one after."""
    floor = REPAIR_TEMPERATURES[min(unusable, len(REPAIR_TEMPERATURES)) - 1]
    reply = reply.strip()  # replies that differ only in a trailing space make the same repair, which `complete` sees
    quoted = reply if len(reply) <= REPAIR_QUOTE_CHARS else reply[:REPAIR_QUOTE_CHARS] + " […]"
    repaired = [*messages, {"role": "assistant", "content": quoted},
                {"role": "user", "content": f"That reply could not be used: {problem.removeprefix(UNUSABLE)}. "
                                            "Answer again: the whole answer, in exactly the format the "
                                            "instructions above ask for, and nothing else."}]
    chosen = temperature if floor is None else max(temperature, floor)
    return _Attempt(repaired, chosen, prompt_hash(repaired, json_mode))


def _stuck(unusable: list[_Attempt]) -> bool:
    """The model keeps giving the very same unusable reply (spacing aside) although the retries differed — shown
    what was wrong, then sampled more freely: no further attempt will help."""
    last = unusable[-3:]
    return len(last) == 3 and len({_spaced(a.reply) for a in last}) == 1 and last[-1].temperature > 0


def _spaced(reply: str | None) -> str:
    """A reply with its spacing normalised: Gemma 3 270M sampled `{…"..."}` and `{…"..."} ` by turns, at 0.4 and
    0.7 alike — the same answer, which must not pass for a different one."""
    return " ".join((reply or "").split())


# "maximum context length is 8192 tokens" (OpenAI, vLLM, llama-cpp-python), "exceeds the available context size
# (8192 tokens)" / "context size … n_ctx: 8192" (llama.cpp server), "context_length_exceeded".
_CONTEXT_EXCEEDED = re.compile(r"maximum context length is (\d+)|context (?:size|window|length)[^0-9]{0,40}?(\d{3,})|"
                               r"n_ctx[\s:=]+(\d+)|context_length_exceeded|too many tokens", re.I)
# Characters per token when sizing a prompt: English prose runs ~4, code and JSON nearer 3; err on the short side.
CHARS_PER_TOKEN = 3.0
PROMPT_MARGIN_TOKENS = 64  # chat-template tokens around the messages
MIN_HISTORY_SCALE = 0.05  # below this the history is a few steps: send it and let the server decide


def fit_prompt(build: Callable[[float], list[dict[str, str]]], window: int, max_tokens: int,
               messages: list[dict[str, str]] | None = None) -> list[dict[str, str]]:
    """The prompt `build(scale)` makes — `scale` (0–1] shrinks the builder's history budgets — at the largest
    scale that leaves room for the reply (`max_tokens`) in a `window`-token context, sized at CHARS_PER_TOKEN.
    `messages`: the full-scale prompt when the caller has it already."""
    limit = max(int((window - max_tokens - PROMPT_MARGIN_TOKENS) * CHARS_PER_TOKEN), 1)
    scale = 1.0
    while True:
        messages = messages if scale == 1.0 and messages is not None else build(scale)
        size = sum(len(m.get("content") or "") for m in messages)
        if size <= limit or scale <= MIN_HISTORY_SCALE:
            return messages
        scale = max(MIN_HISTORY_SCALE, scale * limit / size * 0.95)


def probe_context_window(base_url: str, timeout_s: float = 5.0) -> int | None:
    """Ask a local server for its context window; None when it does not say."""
    import urllib.request

    root = re.sub(r"/v1/?$", "", base_url.rstrip("/"))
    for url, paths in ((f"{root}/props", (("default_generation_settings", "n_ctx"), ("n_ctx",))),
                       (f"{base_url.rstrip('/')}/models", (("data", 0, "max_model_len"), ("data", 0, "meta", "n_ctx"),
                                                          ("data", 0, "meta", "n_ctx_train")))):
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as reply:
                data = json.loads(reply.read(1_000_000))
        except (OSError, ValueError):
            continue
        for path in paths:
            node: Any = data
            for step in path:
                try:
                    node = node[step]
                except (KeyError, IndexError, TypeError):
                    node = None
                    break
            if isinstance(node, int) and not isinstance(node, bool) and node > 0:
                return node
    return None


_SYSTEM_REFUSED = re.compile(r"system role|role[^a-z]{0,3}system|roles must alternate", re.I)


# The paragraph of a system prompt that says how to reply: every role's prompt has one ("Answer in exactly this
# format: …", "Reply with JSON only, in this shape: …"), from that sentence to the next blank line.
_REPLY_FORMAT = re.compile(r"(?:^|(?<=[.!?] ))(?:Answer|Reply|Respond)\b[^\n]*?(?:format|JSON|shape)\b.*?(?=\n\s*\n|\Z)",
                           re.S | re.M)


def reply_format(system: str) -> str | None:
    """The last paragraph of `system` that states the reply format; None when it states none."""
    found = _REPLY_FORMAT.findall(system or "")
    return found[-1].strip() if found else None


def fold_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """System messages moved into the first user turn, for chat templates without a system role (or a base model
    without any template). The reply format is said again at the end of the last user turn: without a system role
    the instructions sit before a long history, and a small model answers the end of what it reads."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system" and m.get("content"))
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if not system:
        return rest
    first_user = next((m for m in rest if m["role"] == "user"), None)
    if first_user is None:
        return [{"role": "user", "content": system}, *rest]
    first_user["content"] = f"{system}\n\n{first_user['content']}"
    last_user = next(m for m in reversed(rest) if m["role"] == "user")
    reminder = reply_format(system)
    if reminder and not last_user["content"].rstrip().endswith(reminder):
        last_user["content"] = f"{last_user['content']}\n\n{reminder}"
    return rest


# A server's words for "your request is malformed" — checked before a 5xx is retried, since llama-cpp-python answers
# a request field it does not accept ("Input should be 'text' or 'json_object'") with a 500 validation error.
_REQUEST_INVALID = re.compile(r"validation error|Input should be|not supported|unsupported|unrecognized|"
                              r"extra inputs are not permitted|unexpected", re.I)


def _refused_param(error: str, params: dict[str, Any]) -> str | None:
    """The parameter a 400/422 says the server does not support, if it is one we can do without."""
    response_format = params.get("response_format", {})
    if response_format.get("type") == "json_schema" and re.search(r"json_schema|schema", error, re.I):
        return "json_schema"  # fall back to a schema in JSON mode, then plain JSON mode, not to no format at all
    if "schema" in response_format and re.search(r"schema", error, re.I):
        return "json_object_schema"
    for name, pattern in (("stream_options", r"stream_options|include_usage"), ("stream", r"\bstream"),
                          ("response_format", r"response_format|json_object|json mode"),
                          ("max_tokens", r"max_tokens"), ("temperature", r"temperature"), ("seed", r"\bseed\b"),
                          ("stop", r"\bstop\b")):
        if name in params and re.search(pattern, error, re.I):
            return name
    return None


def read_stream(stream: Any, silence_s: float, progress: Callable[[int, float], None] | None = None
                ) -> tuple[str, tuple[int | None, int | None]]:
    """A streamed chat completion read to its end: (text, (prompt tokens, completion tokens)). Raises
    `StreamStalled` when the stream goes silent past `silence_s` after its first token (the HTTP client's read
    timeout fires) or the connection drops mid-reply, and stops reading a reply past `MAX_REPLY_CHARS` (a broken or hostile server; `_oversized` reports it)."""
    import openai

    pieces: list[str] = []
    size, usage, started = 0, None, time.monotonic()
    try:
        for chunk in stream:
            usage = getattr(chunk, "usage", None) or usage
            for choice in getattr(chunk, "choices", None) or []:
                piece = getattr(getattr(choice, "delta", None), "content", None)
                if piece:
                    pieces.append(piece)
                    size += len(piece)
            if progress is not None and pieces:
                progress(len(pieces), time.monotonic() - started)
            if size > MAX_REPLY_CHARS:
                break
    except openai.APIConnectionError as exc:  # a read timeout mid-stream arrives as APITimeoutError, a subclass
        if not pieces:
            raise  # nothing came at all: the caller says "no first token"
        why = f"no token for {silence_s:g} s" if isinstance(exc, openai.APITimeoutError) else \
            "the connection closed mid-reply"
        raise StreamStalled(why, len(pieces), time.monotonic() - started) from exc
    finally:
        stream.close()
    tokens = (getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None))
    return "".join(pieces), tokens


def _cut_off(completion_tokens: int | None, max_tokens: int) -> str:
    """What to add to an unusable reply's problem when the reply used its whole token budget: it was cut off, and the
    problem (a missing field, unclosed JSON) is that, not what the model meant (Gemma 3 270M's judge echoed the
    trajectory to its 1024-token limit and was told only "no 'Status:' line")."""
    if completion_tokens is None or completion_tokens < max_tokens:
        return ""
    return f" (the reply was cut off at its {max_tokens}-token limit: answer briefly)"


def _reply_text(response: Any) -> str:
    choices = getattr(response, "choices", None) or []
    if not choices:
        return ""
    return getattr(choices[0].message, "content", None) or ""


def _oversized(text: str) -> str | None:
    if len(text) <= MAX_REPLY_CHARS:
        return None
    return f"reply of {len(text):,} characters is over the {MAX_REPLY_CHARS:,} a reply may have (kept cut)"


def _validation_error(validate: Callable[[str], Any] | None, text: str) -> str | None:
    if validate is None:
        return None
    try:
        validate(text)
    except UnusableReply as exc:
        return f"{UNUSABLE}{exc}"
    return None
