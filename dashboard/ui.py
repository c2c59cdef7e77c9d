"""The dashboard's plumbing, in one importable module: pages call these and `Bank`, never SQL.

- One `Bank` per (file, LLM endpoint, model), kept by `st.cache_resource`.
- Every read goes through `reads` (one named, typed function per read, cached by `st.cache_data`), keyed by the bank
  file and a cheap *fingerprint* of the bank (last event id, row counts, ...) taken once per script run: after any
  write — here or by a CLI in another process — the fingerprint changes and the next run reads fresh data; otherwise
  nothing is read twice.
- `page()` frames every screen: it refuses to invent a bank at a wrong path, refuses a file that is not a bankcore
  bank of this schema, and turns "bank busy" and other user-facing errors into a message instead of a traceback.
- Viewing never writes: the `Bank` opens the file for writing (so the same tabs can curate) but with
  `upgrade_on_open` off, so its first connection only checks that the file is a bank of this schema — a foreign
  DuckDB file is refused unchanged, not given bankcore's tables, and an older bank stays as it is until someone with
  curation rights presses Upgrade. Opening the screens' reads read-only instead was not chosen for a DuckDB file:
  DuckDB refuses a read-write connection in a process that holds the file read-only, and all tabs share one `Bank`,
  so every write would first have to wait for every tab's read to close.
- On PostgreSQL there is no such conflict, so the screens read through a second `Bank` opened `read_only`
  (`reader()`): its sessions are read-only on the server (`default_transaction_read_only`), which refuses any write
  a read path sends, by mistake included. Writes (approve, edit, merge, label, upload ...) go through `bank()`.
- Who is curating: `curator()` is `human:<name>` from the login (OIDC via `st.login`, or per-user passwords — or one
  shared password — from Streamlit secrets) or, when no login is configured, from the reviewer name in Settings.
- Trust boundary: with a login configured, a logged-out viewer can read but change nothing — not even which bank
  file or LLM endpoint this session uses. The bank is always one of `allowed_banks()` (the server's configuration),
  never a path typed by a viewer; messages name a bank by its file name, never a server path, PID or credential.
"""

from __future__ import annotations

import contextvars
import getpass
import hashlib
import hmac
import os
import re
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import streamlit as st
from streamlit.errors import StreamlitAPIException, StreamlitSecretNotFoundError
from streamlit.runtime.scriptrunner import get_script_run_ctx

from bankcore.guard import gate
from bankcore.bank import Bank
from bankcore.learn import uploads
from bankcore.learn.importers import FORMATS
from bankcore.errors import BankBusyError, BankcoreError, ConflictError, SchemaError
from bankcore.models import MemoryItem
from bankcore.settings import Settings, redact_url
from bankcore.store import is_server_url
from bankcore.store.core import OutdatedBankError
from bankcore.store.dialect import normalize_url
from .parts import escape_md

# session_state keys (the only state the dashboard keeps between runs)
DB_PATH = "bankcore.db_path"
LLM_BASE_URL = "bankcore.llm_base_url"
LLM_MODEL = "bankcore.llm_model"
REVIEWER = "bankcore.reviewer"
LOGGED_IN = "bankcore.logged_in_as"
FINGERPRINT = "bankcore.fingerprint"
FLASH = "bankcore.flash"

PAGE_SIZE = 25
# Failed logins: after this many for one name (or for everyone together, x5), wait before the next try.
LOGIN_FREE_TRIES = 3
LOGIN_MAX_WAIT_S = 300.0


# ---------------------------------------------------------------------- settings for this session
def settings() -> Settings:
    """The environment's settings with this session's overrides (database path, LLM endpoint and model)."""
    state = st.session_state
    return Settings.load(db_path=state.get(DB_PATH), llm_base_url=state.get(LLM_BASE_URL) or None,
                         llm_model=state.get(LLM_MODEL) or None)


def bank_path() -> Path:
    return Path(settings().db_path).expanduser()


def bank_exists() -> bool:
    """A bank file on disk, or a PostgreSQL bank (whether its server answers is found when the bank opens)."""
    path = bank_path()
    return is_server_url(path) or path.exists()


def bank_on_server() -> bool:
    """A PostgreSQL bank (a URL), not a file: it has no size on this disk."""
    return is_server_url(bank_path())


def allowed_banks() -> list[Path]:
    """The bank files this server may open: its configured default (`BANKCORE_DB`), then `[bankcore] banks` from
    secrets and `BANKCORE_BANKS` (paths separated by the OS path separator). A viewer chooses among these; a path
    typed in the browser is never opened."""
    default = Path(Settings.load().db_path).expanduser()
    extra = list(_secret("bankcore", "banks") or [])
    extra += [p for p in os.environ.get("BANKCORE_BANKS", "").split(os.pathsep) if p.strip()]
    found = [default]
    for entry in extra:
        path = Path(str(entry).strip()).expanduser()
        if path not in found:
            found.append(path)
    return found


def use_bank(path: str | Path | None = None, *, llm_base_url: str | None = None,
             llm_model: str | None = None) -> None:
    """Point this session at another allowed bank file or LLM endpoint (None keeps the environment's)."""
    if path is not None and Path(path).expanduser() not in allowed_banks():
        raise BankcoreError("that bank is not one this server is configured to open")
    st.session_state[DB_PATH] = str(path) if path else None
    st.session_state[LLM_BASE_URL] = llm_base_url or None
    st.session_state[LLM_MODEL] = llm_model or None
    st.session_state.pop(FINGERPRINT, None)


# The formats a run file may be uploaded in ("auto" detects them, as `bankcore import` does).
IMPORT_FORMATS: tuple[str, ...] = tuple(FORMATS)


def keep_upload(name: str, data: bytes) -> Path:
    """Keep an uploaded run file beside this session's bank (`uploads/<hash>/<name>`) and return its path."""
    return uploads.keep_upload(bank_path(), name, data)


# ---------------------------------------------------------------------- the bank
_last_notice: dict[int, float] = {}


def _toast(message: str) -> None:
    if get_script_run_ctx(suppress_warning=True) is not None:
        st.toast(escape_md(message), icon=":material/hourglass_top:")


def _on_busy(message: str) -> None:  # noqa: ARG001 — the store's text names the lock holder's program and PID
    """The store is waiting for another process's lock: say so, at most every few seconds.

    st.cache_data records the elements created inside a cached function and replays them on every later hit; a
    busy notice raised during a cached read must not become part of that read's result. So the toast is sent from
    a copy of the context in which Streamlit's "inside a cached function" marker is off.
    """
    thread = threading.get_ident()
    now = time.monotonic()
    if now - _last_notice.get(thread, 0.0) < 3.0:
        return
    _last_notice[thread] = now
    text = "bank busy — another process (probably a CLI import) is writing; retrying…"
    contextvars.copy_context().run(_toast_outside_cache, text)


def _toast_outside_cache(message: str) -> None:
    try:
        from streamlit.runtime.caching.cached_message_replay import in_cached_function
    except ImportError:  # Streamlit moved its internals: better no notice than one replayed forever
        return
    in_cached_function.set(False)  # only in this copy of the context
    _toast(message)


@st.cache_resource(show_spinner=False)
def _bank(path: str, llm_base_url: str | None, llm_model: str | None) -> Bank:
    """The bank, writable but never created or upgraded by opening it: see the module's docstring."""
    opened = Bank(path, settings=Settings.load(db_path=path, llm_base_url=llm_base_url, llm_model=llm_model),
                  on_busy=_on_busy)
    opened.store.upgrade_on_open = False
    return opened


@st.cache_resource(show_spinner=False)
def _reader(path: str, llm_base_url: str | None, llm_model: str | None) -> Bank:
    """The bank the screens read through: on PostgreSQL a `Bank` of its own whose sessions the server keeps
    read-only; a DuckDB file is read through the writable `_bank` (see the module's docstring)."""
    if not is_server_url(path):
        return _bank(path, llm_base_url, llm_model)
    return Bank(path, settings=Settings.load(db_path=path, llm_base_url=llm_base_url, llm_model=llm_model),
                on_busy=_on_busy, read_only=True)


BankKey = tuple[str, str | None, str | None]  # (bank file, LLM endpoint, model): one `Bank` each


def bank_key() -> BankKey:
    """Which `Bank` this session uses: what `reads` keys its caches by, beside the fingerprint."""
    s = settings()
    return str(Path(s.db_path).expanduser()), s.llm_base_url, s.llm_model


def bank_for(key: BankKey) -> Bank:
    return _bank(*key)


def bank() -> Bank:
    """The bank writes go through (and `Bank` steps that may write, such as a retrieval embedding lessons)."""
    return bank_for(bank_key())


def reader_for(key: BankKey) -> Bank:
    return _reader(*key)


def reader() -> Bank:
    """The bank the screens' reads go through: server-enforced read-only on PostgreSQL."""
    return reader_for(bank_key())


def fingerprint() -> tuple:
    """This run's bank fingerprint (taken by `page()`)."""
    return st.session_state.get(FINGERPRINT) or refresh_fingerprint()


def refresh_fingerprint() -> tuple:
    fp = reader().views.fingerprint()
    st.session_state[FINGERPRINT] = fp
    return fp


# ---------------------------------------------------------------------- the page frame
@st.cache_resource(show_spinner=False)
def favicon() -> Any:
    """A small drawn icon (three stacked disks, a database), served by Streamlit itself: a `:material/` favicon
    would be fetched from Google's font servers, and an emoji needs a font the machine may lack."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for top in (20, 12, 4):
        draw.ellipse((4, top, 28, top + 10), fill=(25, 103, 210, 255), outline=(255, 255, 255, 255))
    return image



@contextmanager
def page(title: str, icon: str = ":material/dashboard:", *, require_bank: bool = True) -> Iterator[Bank]:
    """Frame one screen: page config, sidebar, bank checks; user-facing errors become messages, not tracebacks.

    With `require_bank=False` (Settings) the screen renders even when there is no bank at the configured path.
    """
    st.set_page_config(page_title=f"{title} · bankcore", page_icon=favicon(), layout="wide")
    with _reading(require_bank or bank_exists()):
        if require_bank:
            _open_or_stop()
        elif bank_exists():
            try:
                refresh_fingerprint()  # this screen's reads must not key on an earlier screen's fingerprint
            except SchemaError as exc:  # Settings still renders, to point the dashboard at a bank
                st.warning(f"This file cannot be opened as a bank: {shown_error(exc)}")
        _sidebar()
        st.title(f"{icon} {title}")
        _show_flash()
        try:
            yield bank()
        except BankBusyError:
            _busy_screen()
        except ConflictError as exc:
            st.warning(f"Someone else changed this meanwhile: {shown_error(exc)}")
        except BankcoreError as exc:
            st.error(shown_error(exc))


@contextmanager
def _reading(enabled: bool) -> Iterator[None]:
    """One connection for the whole screen (`Store.reading`), opened only once the file is known to exist."""
    with ExitStack() as stack:
        if enabled and bank_exists():
            try:
                stack.enter_context(reader().store.reading())
            except BankBusyError:
                _busy_screen()
                st.stop()
            except SchemaError:
                pass  # not a bank: `_open_or_stop` says so
        yield


def _open_or_stop() -> None:
    path = bank_path()
    if not bank_exists():
        _missing_bank_screen(path)
        st.stop()
    try:
        refresh_fingerprint()
    except BankBusyError:
        _busy_screen()
        st.stop()
    except OutdatedBankError as exc:
        _outdated_bank_screen(exc)
        st.stop()
    except SchemaError as exc:
        st.error(f"This file cannot be opened as a bank: {shown_error(exc)}")
        st.markdown("Point the dashboard at another file on the **Settings** page, or set `BANKCORE_DB`.")
        _settings_link()
        st.stop()


def _outdated_bank_screen(exc: OutdatedBankError) -> None:
    """An older bank is not upgraded by viewing it: upgrading is a write (older bankcore versions can no longer open
    the file afterwards), so it waits for someone with curation rights to ask for it."""
    st.warning(f"This bank was written by an older bankcore (schema v{exc.version}); this dashboard shows banks of "
               f"schema v{exc.latest}. It has been left as it is: nothing is changed by viewing.",
               icon=":material/upgrade:")
    st.markdown("Upgrading adds what the newer schema needs and removes nothing, but older bankcore versions can no "
                "longer open the file afterwards.")
    if curator() is None:
        st.info("View only until someone with curation rights upgrades it: log in on the **Settings** page, or run "
                "`bankcore init` on the server.", icon=":material/lock:")
    elif st.button(f"Upgrade this bank to schema v{exc.latest}", key="upgrade_bank"):
        act(lambda: bank().store.upgrade(),
            lambda version: f"Upgraded this bank from schema v{exc.version} to v{version}. Nothing was removed.")
    _settings_link()


def _missing_bank_screen(path: Path) -> None:
    st.title(":material/database: No bank here yet")
    shown = shown_path(path)
    st.error(f"There is no bank file at `{shown}`.")
    st.markdown(
        "A bank is one DuckDB file. To get one:\n\n"
        f"- build the synthetic demo bank: `bankcore demo --db {shown}`\n"
        f"- or import your agent's trajectories and learn from them: `bankcore import FILE --db {shown}`\n"
        "- or point the dashboard at an existing bank: set `BANKCORE_DB`, or choose another on **Settings**.")
    if curator() is None:
        st.info("Log in on the **Settings** page to create it.", icon=":material/lock:")
    elif st.button("Create an empty bank at this path", key="create_empty_bank"):
        bank().store.upgrade()
        st.rerun()
    _settings_link()


def _busy_screen() -> None:
    # The store's message names the lock holder's program and PID: the server's business, not every viewer's.
    st.error(f"The bank is busy and stayed busy: another process holds its lock; gave up after "
             f"{settings().lock_timeout_s:.0f} s.")
    st.markdown("Another process — usually a `bankcore import` or `learn` — is writing to the bank file. "
                "The dashboard waits for it and retries. Nothing was changed here.")
    if st.button("Try again", key="retry_busy"):
        st.rerun()


def _settings_link() -> None:
    try:
        st.page_link("screens/7_Settings.py", label="Open Settings", icon=":material/settings:")
    except StreamlitAPIException:  # a page run on its own (not through app.py's navigation) has no link targets
        pass


def _sidebar() -> None:
    with st.sidebar:
        st.caption(f"Bank: `{shown_path(bank_path())}`")
        who = curator()
        if who:
            st.caption(f"Curating as **{escape_md(who.removeprefix('human:'))}**")
        elif login_mode() != "none":
            st.caption("Browsing read-only — log in on Settings to curate")


def shown_path(path: Path) -> str:
    """How a bank file is named on screen: in full on a dashboard with no login (one person, their own machine);
    by file name only where a login is configured, so viewers learn nothing of the server's folders."""
    if is_server_url(path):  # never the password; no server address either where viewers log in
        return redact_url(normalize_url(path)) if login_mode() == "none" else "a PostgreSQL bank"
    return str(path) if login_mode() == "none" else path.name


_ABSOLUTE_PATH = re.compile(r"(?<![\w:/])/(?:[^\s/'\"`:]+/)+([^\s/'\"`:]+)")


def shown_error(exc: BaseException) -> str:
    """An error's message fit for the screen: Markdown made inert and, with a login configured, server paths cut to
    file names."""
    text = str(exc)
    if login_mode() != "none":
        text = _ABSOLUTE_PATH.sub(r"\1", text)
    return escape_md(text)


def flash(message: str, *, held: list[str] | None = None, undo: Undo | None = None, tone: str = "success") -> None:
    """A message shown once at the top of the next run (after a write and its rerun); with `held`, the injection
    gate's reasons for holding back what was written, shown as a warning instead of a success; with `undo`, an Undo
    button beside it that reverses exactly that write."""
    st.session_state[FLASH] = (message, list(held or []), undo, tone)


def _show_flash() -> None:
    message, held, undo, tone = st.session_state.pop(FLASH, None) or (None, [], None, "success")
    if not message:
        return
    show = st
    if undo is not None and curator():  # reversing a write is a curation act like the write itself
        show, right = st.columns([6, 1], vertical_alignment="center")
        right.button("Undo", icon=":material/undo:", key="undo_last", on_click=_undo, args=(undo,),
                     help=f"Reverse {undo.what}: written as new events in each lesson's history; refused if "
                          "anything changed them since")
    if held:  # plain escaped text: the reasons quote the lesson, which is untrusted
        with show.container(key="gate_held"):
            st.warning(escape_md(message), icon=":material/gpp_maybe:")
            for reason in held:
                st.caption(escape_md(f"• {reason}"))
    elif tone == "warning":
        show.warning(escape_md(message), icon=":material/warning:")
    elif tone == "error":
        show.error(escape_md(message), icon=":material/error:")
    else:
        show.success(escape_md(message), icon=":material/check:")


@dataclass(frozen=True)
class Undo:
    """How to reverse one write from the page that did it: the events to put back (`Bank.undo`) and the merged
    items to un-merge, each with the event it was last seen at (the optimistic check: changed since, refused)."""

    what: str
    events: tuple[int, ...] = ()
    merges: tuple[tuple[int, int], ...] = ()


def undo_bulk(result: Any, kind: str, what: str) -> Undo | None:
    """The Undo of a bulk decision: the `kind` events of its batch on the items it decided."""
    decided = list(getattr(result, "decided", None) or [])
    batch = getattr(result, "batch_id", None)
    if not decided or batch is None:
        return None
    latest = bank().store.latest_events_of(decided, [kind])
    return Undo(what, tuple(e.event_id for events in latest.values() for e in events if e.batch_id == batch))


def undo_merges(children: Iterable[int], what: str) -> Undo | None:
    """The Undo of a consolidation: un-merge each item it wrote, if none changed after this."""
    children = list(children)
    if not children:
        return None
    return Undo(what, merges=tuple((i.item_id, i.last_event_id) for i in bank().store.get_items(children)))


def event_mark() -> int:
    """The bank's last event id now: a write's own events are those after it."""
    return bank().store.last_event_id()


def undo_flips(flips: Iterable[Any], since_event_id: int, what: str) -> Undo | None:
    """The Undo of what a label flip did to the lessons resting on it (re-judging, a person's label): their
    SOURCE_REJUDGED events after `since_event_id`. The verdicts themselves stay (the engine appends verdicts and
    has no way to withdraw one): the undo takes back the flags and withdrawals, not the new label."""
    item_ids = sorted({i for flip in flips for i in getattr(flip, "items", [])})
    latest = bank().store.latest_events_of(item_ids, ["SOURCE_REJUDGED"]) if item_ids else {}
    events = tuple(e.event_id for found in latest.values() for e in found if e.event_id > since_event_id)
    return Undo(what, events) if events else None


def _undo(undo: Undo) -> None:
    """The Undo button's callback: reverse the write through `Bank` (new events, the actor recorded), or say why not."""
    who = curator()
    if who is None:
        flash("Not undone: log in on the Settings page first.", tone="error")
        return
    changed = 0
    try:
        for child, seen in undo.merges:
            changed += len(bank().unmerge(child, actor=who, reason=f"undo of {undo.what}", expected_event_id=seen))
        if undo.events:
            changed += len(bank().undo(list(undo.events), actor=who, reason=f"undo of {undo.what}"))
    except ConflictError as exc:
        flash(f"Not undone — it changed since, and an undo never overwrites a later change: {exc}",
              tone="warning")
        return
    except BankBusyError:
        flash("Not undone — the bank stayed busy: another process holds its lock.", tone="error")
        return
    except BankcoreError as exc:
        flash(f"Not undone: {exc}", tone="error")  # escaped where the flash is shown
        return
    flash(f"Undid {undo.what} ({changed} lesson{'s' * (changed != 1)} put back; the history keeps both)")


def held_by_gate(result: Any) -> list[str]:
    """Why the injection gate held back the item a write returned (flagged or borderline: it stays out of prompts
    until a reviewer approves it): the gate's reasons, or its flags when it gave none. Empty when not held."""
    if not isinstance(result, MemoryItem):
        return []
    held = [f for f in result.flags if f in gate.HOLDING_FLAGS]
    return (list(result.meta.get(gate.REASONS) or []) or held) if held else []


# ---------------------------------------------------------------------- who is curating
def _secret(*path: str) -> Any:
    try:
        node: Any = st.secrets
        for key in path:
            if key not in node:
                return None
            node = node[key]
        return node
    except (FileNotFoundError, StreamlitSecretNotFoundError):
        return None


def login_mode() -> str:
    """'oidc' when `[auth]` is configured in secrets; 'users' for per-user passwords (`[bankcore.users]`, name =
    password or "sha256:<hex>"); 'password' for one shared `[bankcore] password`; else 'none'."""
    if _secret("auth") is not None:
        return "oidc"
    if _secret("bankcore", "users"):
        return "users"
    if _secret("bankcore", "password"):
        return "password"
    return "none"


def default_reviewer() -> str:
    actor = os.environ.get("BANKCORE_REVIEWER") or os.environ.get("BANKCORE_ACTOR")
    if actor and actor != "cli":
        return actor
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 — no user database entry (containers)
        return "reviewer"


def curator() -> str | None:
    """The actor curation events record (`human:<name>`), or None while a configured login is pending."""
    mode = login_mode()
    if mode == "oidc":
        if not getattr(st.user, "is_logged_in", False):
            return None
        name = st.user.get("email") or st.user.get("name") or "user"
    elif mode in ("users", "password"):
        name = st.session_state.get(LOGGED_IN)
        if not name:
            return None
    else:
        name = st.session_state.get(REVIEWER) or default_reviewer()
    return f"human:{' '.join(str(name).split())}"


class LoginThrottled(BankcoreError):
    """Too many failed logins: the next try must wait."""


_failed_logins: dict[str, tuple[int, float]] = {}  # per name (lower case) and "*" for all: (failures, last time)
_failed_logins_lock = threading.Lock()


def _login_wait(key: str, free: int) -> float:
    """Seconds until `key` may try again: none for the first `free` failures, then doubling up to a cap."""
    failures, last = _failed_logins.get(key, (0, 0.0))
    if failures < free:
        return 0.0
    return max(0.0, min(LOGIN_MAX_WAIT_S, 2.0 ** (failures - free)) - (time.monotonic() - last))


def _note_login(key: str, ok: bool) -> None:
    if ok:
        _failed_logins.pop(key, None)
    else:
        failures, _ = _failed_logins.get(key, (0, 0.0))
        _failed_logins[key] = (failures + 1, time.monotonic())


def _password_matches(given: str, expected: str) -> bool:
    if expected.startswith("sha256:"):
        given, expected = "sha256:" + hashlib.sha256(given.encode()).hexdigest(), expected.lower()
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def password_login(name: str, password: str) -> bool:
    """Log this session in. Per-user passwords (`[bankcore.users]`) tie the name to its password; a shared password
    accepts any name. Failures are throttled per name and across all names; a throttled try raises
    LoginThrottled without looking at the password."""
    name = " ".join(name.split())
    with _failed_logins_lock:
        wait = max(_login_wait(name.lower(), LOGIN_FREE_TRIES), _login_wait("*", 5 * LOGIN_FREE_TRIES))
        if wait > 0:
            raise LoginThrottled(f"Too many failed logins: try again in {wait:.0f} s.")
        users = _secret("bankcore", "users")
        if users:
            expected = next((str(v) for k, v in users.items() if str(k).lower() == name.lower()), "")
            name = next((str(k) for k in users if str(k).lower() == name.lower()), name)
        else:
            expected = str(_secret("bankcore", "password") or "")
        ok = bool(name) and _password_matches(password, expected)
        _note_login(name.lower(), ok)
        if not ok:
            _note_login("*", False)
    if ok:
        st.session_state[LOGGED_IN] = name
    return ok


def logout() -> None:
    st.session_state.pop(LOGGED_IN, None)


def need_curator() -> str | None:
    """The curator, or a short note where the curation controls would be."""
    who = curator()
    if who is None:
        st.info("Log in on the **Settings** page to approve, edit, reject or label.", icon=":material/lock:")
    return who


# ---------------------------------------------------------------------- writes
def act(write: Callable[[], Any], done: str | Callable[[Any], str],
        undo: Callable[[Any], Undo | None] | None = None) -> bool:
    """Run one write through `Bank`; on success flash `done` (or `done(result)`) and rerun (fresh fingerprint),
    else show why not. When the write returns an item the injection gate held back, the flash says so and why.
    `undo(result)` says how to reverse the write: the flash then carries an Undo button."""
    try:
        result = write()
    except ConflictError as exc:
        st.warning(f"Not saved — someone changed it meanwhile. {shown_error(exc)}")
        return False
    except BankBusyError:
        st.error("Not saved — the bank stayed busy: another process holds its lock.")
        return False
    except BankcoreError as exc:
        st.error(f"Not saved: {shown_error(exc)}")
        return False
    message = done(result) if callable(done) else done
    held = held_by_gate(result)
    if held:
        message += (f" — held back by the injection gate ({result.status}): it reaches no agent's prompt until a "
                    "reviewer approves it. Why:")
    flash(message, held=held, undo=undo(result) if undo else None)
    st.rerun()
    return True  # not reached: st.rerun() ends the run
