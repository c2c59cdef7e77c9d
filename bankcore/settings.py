"""Settings from one place: explicit argument > environment variable > default. No import-time side effects."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_DB = Path("data") / "bank.duckdb"
# Measured by bench/min_similarity.py (τ-bench and HotpotQA queries, MiniLM): at 0.25 every airline query keeps
# its best same-kind lesson (100%), and 95% of queries with nothing relevant in the bank get no memory block;
# 0.35 would drop 11% of the relevant lessons, 0.20 would let 11% of unrelated ones through.
DEFAULT_MIN_SIMILARITY = 0.25


# Credentials people put in an endpoint URL: user:password@ before the host, and key-like query parameters.
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
_URL_SECRET_PARAM = re.compile(r"(?i)([?&](?:api[_-]?key|key|token|access[_-]?token|secret|password|pass|auth)=)[^&#\s]*")


REMOTE_LLM_TIMEOUT_S = 60.0
LOCAL_LLM_TIMEOUT_S = 300.0
_LOCAL_HOST = re.compile(r"^[a-z][a-z0-9+.-]*://(?:[^/@]*@)?(localhost|127(?:\.\d{1,3}){3}|\[::1\]|0\.0\.0\.0)(?::\d+)?(/|$)",
                         re.I)


def llm_role(purpose: str) -> str:
    """The role an LLM call's purpose belongs to: `extract-success` → `extract`, `guard_second_opinion` → `guard`."""
    return re.split(r"[-_:]", purpose.strip().lower(), maxsplit=1)[0]


def _role_timeouts(environ) -> tuple[tuple[str, float], ...]:
    """`BANKCORE_LLM_TIMEOUT_<ROLE>=seconds` variables, as (role, seconds) pairs."""
    prefix = "BANKCORE_LLM_TIMEOUT_"
    return tuple(sorted((name[len(prefix):].lower(), float(value)) for name, value in environ.items()
                        if name.startswith(prefix) and value))


def _flag(value: str | None) -> bool | None:
    """An on/off environment value (1/true/yes, 0/false/no); None when unset."""
    if not value:
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


def is_local_url(url: str | None) -> bool:
    """An endpoint on this machine (loopback): a local model server such as llama.cpp, Ollama or vLLM."""
    return bool(url and _LOCAL_HOST.match(url))


def redact_url(url: str | None) -> str | None:
    """`url` with any credentials in it replaced by `***`: what may be shown, stored, logged or exported."""
    if not url:
        return url
    return _URL_SECRET_PARAM.sub(r"\1***", _URL_USERINFO.sub("***@", url))


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Build with `Settings.load(...)`; pass explicit values to override the environment."""

    db_path: Path = DEFAULT_DB
    llm_base_url: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)  # never printed, logged or stored
    llm_model: str | None = None
    llm_timeout_s: float | None = None  # None: `llm_timeout` picks by where the endpoint is
    # Per role (`judge`, `extract`, `select`, `merge`, `agent`, `guard`): seconds that override `llm_timeout` for it.
    llm_role_timeouts: tuple[tuple[str, float], ...] = ()
    llm_stream: bool | None = None  # None: stream from a server on this machine, not from a hosted API
    llm_max_retries: int = 4
    llm_context_tokens: int | None = None  # the endpoint's context window, when it does not say itself
    llm_fold_system: bool = False  # send system text in the first user turn (chat templates that drop it silently)
    lock_timeout_s: float = 30.0
    actor: str = "cli"
    # Retrieval returns nothing below this cosine (query vs item text, all-MiniLM-L6-v2); see DEFAULT_MIN_SIMILARITY.
    min_similarity: float = DEFAULT_MIN_SIMILARITY
    # Where retrieval searches the vectors: "memory" (every vector in this process), "index" (the bank's HNSW index
    # on PostgreSQL; approximate), or "auto" (the index on a PostgreSQL bank of 20k+ retrievable items).
    vector_search: str = "auto"

    @classmethod
    def load(cls, **overrides) -> "Settings":
        env = cls(
            db_path=Path(_env("BANKCORE_DB") or DEFAULT_DB),
            llm_base_url=_env("BANKCORE_LLM_BASE_URL", "OPENAI_BASE_URL"),
            llm_api_key=_env("OPENAI_API_KEY", "BANKCORE_LLM_API_KEY"),
            llm_model=_env("BANKCORE_MODEL"),
            llm_timeout_s=float(_env("BANKCORE_LLM_TIMEOUT")) if _env("BANKCORE_LLM_TIMEOUT") else None,
            llm_role_timeouts=_role_timeouts(os.environ),
            llm_stream=_flag(_env("BANKCORE_LLM_STREAM")),
            llm_max_retries=int(_env("BANKCORE_LLM_RETRIES") or 4),
            llm_context_tokens=int(_env("BANKCORE_LLM_CONTEXT")) if _env("BANKCORE_LLM_CONTEXT") else None,
            llm_fold_system=(_env("BANKCORE_LLM_NO_SYSTEM") or "").lower() in ("1", "true", "yes"),
            lock_timeout_s=float(_env("BANKCORE_LOCK_TIMEOUT") or 30.0),
            actor=_env("BANKCORE_ACTOR") or "cli",
            min_similarity=float(_env("BANKCORE_MIN_SIMILARITY") or DEFAULT_MIN_SIMILARITY),
            vector_search=_env("BANKCORE_VECTOR_SEARCH") or "auto",
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        if "db_path" in given:
            given["db_path"] = Path(given["db_path"])
        return replace(env, **given)

    @property
    def llm_timeout(self) -> float:
        """Seconds one LLM request may take: as set, else 60 for a hosted API and 300 for a server on this machine
        (a CPU model's first call, loading and prompt processing included, takes minutes)."""
        if self.llm_timeout_s is not None:
            return self.llm_timeout_s
        return LOCAL_LLM_TIMEOUT_S if is_local_url(self.llm_base_url) else REMOTE_LLM_TIMEOUT_S

    def llm_timeout_for(self, purpose: str) -> tuple[float, str]:
        """(seconds, the setting that raises them) for one call: the role's own limit
        (`BANKCORE_LLM_TIMEOUT_JUDGE`, ...) when set, else `llm_timeout`. The role is the purpose's first word."""
        role = llm_role(purpose)
        seconds = dict(self.llm_role_timeouts).get(role)
        if seconds is not None:
            return seconds, f"BANKCORE_LLM_TIMEOUT_{role.upper()}"
        return self.llm_timeout, "BANKCORE_LLM_TIMEOUT"

    @property
    def llm_streams(self) -> bool:
        """Whether replies are streamed: as set (`BANKCORE_LLM_STREAM`), else for a server on this machine, where a
        CPU model is slow and a stream tells a slow server (tokens keep coming) from a dead one (none come)."""
        return self.llm_stream if self.llm_stream is not None else is_local_url(self.llm_base_url)

    @property
    def llm_endpoint_shown(self) -> str | None:
        """The endpoint as it may be shown or stored: credentials in the URL redacted."""
        return redact_url(self.llm_base_url)

    @property
    def llm_configured(self) -> bool:
        """An LLM is usable when there is an endpoint or a key (a key alone means api.openai.com)."""
        return bool(self.llm_base_url or self.llm_api_key)
