"""Settings: which bank file, which LLM endpoint and model, who is reviewing (and logging in where configured).

Changes here last for this browser session; the environment (BANKCORE_DB, BANKCORE_LLM_BASE_URL, BANKCORE_MODEL,
OPENAI_API_KEY) sets the defaults. The bank is chosen among the files the server allows (`ui.allowed_banks`), never
typed; with a login configured, only a logged-in curator may switch bank or endpoint. The API key is never shown,
only whether one is set, and credentials in an endpoint URL are redacted.
"""

import os

import streamlit as st

from bankcore.read import describe_policy
from dashboard import parts, reads, ui

with ui.page("Settings", ":material/settings:", require_bank=False) as bank:
    current = ui.settings()

    may_configure = ui.curator() is not None  # with a login configured: logged in
    st.subheader("Bank")
    allowed = ui.allowed_banks()
    if not may_configure:
        st.caption(f"Using {parts.md(ui.shown_path(ui.bank_path()))}. Log in below to switch banks or endpoints.")
    elif len(allowed) > 1:
        with st.form("bank_form"):
            here = ui.bank_path()
            chosen = st.selectbox("Bank", allowed, index=allowed.index(here) if here in allowed else 0,
                                  format_func=ui.shown_path, key="set_db",
                                  help="The banks this server is configured to open: $BANKCORE_DB, then "
                                       "`[bankcore] banks` in secrets and $BANKCORE_BANKS.")
            if st.form_submit_button("Use this bank", key="set_db_go"):
                ui.use_bank(chosen, llm_base_url=current.llm_base_url, llm_model=current.llm_model)
                ui.flash(f"Now using {ui.shown_path(chosen)}")
                st.rerun()
    else:
        st.caption(f"Using {parts.md(ui.shown_path(ui.bank_path()))}, the one bank this server is configured to "
                   "open. To offer more, list them in `[bankcore] banks` (secrets) or $BANKCORE_BANKS.")
    if not ui.bank_exists():
        st.warning(f"There is no bank at {parts.md(ui.shown_path(ui.bank_path()))} yet — the other pages explain "
                   "how to make one.")
    else:
        size = "" if ui.bank_on_server() else f"{ui.bank_path().stat().st_size / 1e6:,.1f} MB · "
        history = reads.schema_history()
        st.caption(f"{size}schema v{history[-1]['version'] if history else '?'} · "
                   + ", ".join(f"v{h['version']} {h['name']} ({h['applied_at']:%Y-%m-%d})" for h in history))
        bank_settings = reads.bank_settings()
        if bank_settings:
            with st.expander("Settings stored in the bank"):
                st.json(bank_settings)
        policy = reads.policy()
        st.markdown("**Approval policy** (stored in the bank; applies to every process using it)")
        # A Markdown table wraps each explanation in full, where a data grid would cut it at the column's edge.
        st.markdown("| rule | value | what it means |\n|---|---|---|\n" + "\n".join(
            f"| `{key}` | {parts.md(parts.whole(parts.value_in_words(value)))} | {parts.md_with_code(meaning)} |"
            for key, value, meaning in describe_policy(policy)))
        st.caption("Flagged items (suspected injection, open contradictions) are never approved automatically. "
                   "Change a rule with `bankcore policy set KEY VALUE`.")
        if st.button("Check the bank's consistency", icon=":material/verified:", key="set_check",
                     help="Read-only: every item is the last state of its history, merges and provenance link up "
                          "(the same audit as `bankcore check`)."):
            report = ui.reader().check()  # not cached: it looks for changes the fingerprint cannot see
            if report.ok:
                st.success(f"Consistent: {report.items:,} items and {report.events:,} events pass all "
                           f"{report.checks} checks — every item is the last state of its history.",
                           icon=":material/verified:")
            else:
                st.error(f"{sum(f.count for f in report.findings)} problems found", icon=":material/error:")
                # plain text: `where` and `detail` quote the bank
                st.code(report.summary(), language=None, wrap_lines=True)

    st.subheader("LLM")
    if may_configure:
        with st.form("llm_form"):
            base_url = st.text_input("Endpoint (OpenAI-compatible base URL)", current.llm_base_url or "",
                                     key="set_llm_url", placeholder="empty: api.openai.com when a key is set, "
                                     "else the offline heuristic", help="e.g. http://127.0.0.1:11434/v1 for Ollama")
            model = st.text_input("Model", current.llm_model or "", key="set_llm_model")
            if st.form_submit_button("Apply", key="set_llm_go"):
                ui.use_bank(ui.bank_path(), llm_base_url=base_url.strip() or None, llm_model=model.strip() or None)
                ui.flash("LLM settings applied for this session")
                st.rerun()
    key_source = next((n for n in ("OPENAI_API_KEY", "BANKCORE_LLM_API_KEY") if os.environ.get(n)), None)
    st.caption(f"API key: {'set (from ' + key_source + ')' if key_source else 'not set'} — it is read from the "
               "environment only, and never displayed, logged or stored in the bank.")
    st.caption("In use: " + ("an LLM at " + parts.md(current.llm_endpoint_shown or "api.openai.com")
                             + (f", model {parts.md(current.llm_model)}" if current.llm_model else "")
                             if current.llm_configured else "no LLM — the offline heuristic judge and extractor"))

    st.subheader("Reviewer")
    mode = ui.login_mode()
    who = ui.curator()
    if mode == "oidc":
        if who:
            st.markdown(f"Logged in as **{parts.md(who.removeprefix('human:'))}**.")
            if st.button("Log out", key="oidc_logout"):
                st.logout()
        else:
            st.markdown("Curation needs a login (configured in `.streamlit/secrets.toml`, `[auth]`).")
            if st.button("Log in", key="oidc_login", type="primary"):
                st.login()
    elif mode in ("users", "password"):
        if who:
            st.markdown(f"Logged in as **{parts.md(who.removeprefix('human:'))}**.")
            if st.button("Log out", key="pw_logout"):
                ui.logout()
                st.rerun()
        else:
            with st.form("login_form"):
                name = st.text_input("Your name", key="login_name")
                password = st.text_input("Password", type="password", key="login_password")
                if st.form_submit_button("Log in", type="primary", key="login_go"):
                    try:
                        if ui.password_login(name, password):
                            ui.flash(f"Logged in as {' '.join(name.split())}")
                            st.rerun()
                        st.error("Wrong name or password.")
                    except ui.LoginThrottled as exc:
                        st.error(str(exc))
        if mode == "password":
            st.caption("One shared password is configured, so the name you log in with is not checked. For "
                       "names that are, give each reviewer a password under `[bankcore.users]` in "
                       "`.streamlit/secrets.toml`.")
    else:
        with st.form("reviewer_form"):
            name = st.text_input("Your name (recorded on every approval, edit, rejection and label)",
                                 st.session_state.get(ui.REVIEWER) or ui.default_reviewer(), key="set_reviewer")
            if st.form_submit_button("Save", key="set_reviewer_go"):
                if not name.strip():
                    st.error("A reviewer name cannot be empty.")
                else:
                    st.session_state[ui.REVIEWER] = " ".join(name.split())
                    ui.flash(f"Reviewing as {name.strip()}")
                    st.rerun()
        st.caption("No login is configured: anyone who can open this page can curate. To require one, give each "
                   "reviewer a password under `[bankcore.users]` (name = \"password\" or \"sha256:<hex>\") or set "
                   "an OIDC provider under `[auth]` in `.streamlit/secrets.toml`.")
    st.caption(f"Curation events are recorded as {parts.md(who) if who else 'nobody until you log in'}.")
