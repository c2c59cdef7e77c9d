"""Deep links on a fresh server (issue 19, streamlit issue #9624): the very first request after `streamlit run` may
be a link to a screen or an item, and it must open that screen — no "Page not found" dialog — fetching nothing from
outside 127.0.0.1 (fonts and icons included) on the way.

The cause was a `pages/` folder beside app.py: Streamlit then runs a fresh server's first session through its old
folder-based navigation (screen names from file names, `/Memory_bank`), which does not know `/memory`, before
app.py's `st.navigation` takes over. The screens live in `screens/`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import wide_item_bank
from browser import chromium, chromium_path, settle, streamlit_server

ROOT = Path(__file__).resolve().parent.parent


def test_no_pages_folder_beside_the_app():
    assert not (ROOT / "pages").exists(), ("a pages/ folder beside app.py makes a fresh server's first deep link "
                                           "show 'Page not found': keep the screens in screens/")


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    if chromium_path() is None:
        pytest.skip("chromium is not installed (make browser)")
    pytest.importorskip("playwright.sync_api")
    db = tmp_path_factory.mktemp("deeplink") / "bank.duckdb"
    return db, wide_item_bank.build(db, n_evidence=3, steps=4)


@pytest.mark.browser
@pytest.mark.parametrize("path, heading, text", [
    ("memory?item={narrow}", "Memory bank", "Read the failing test before editing"),
    ("overview", "What the agent learned", "Needs a human"),
    ("evolution", "Evolution", "Consolidation lineage"),
])
def test_a_deep_link_is_a_fresh_servers_first_request(bank, tmp_path, path, heading, text):
    db, ids = bank
    with streamlit_server(db, log=tmp_path / "streamlit.log") as url, chromium() as browser:
        tab = browser.new_page(viewport={"width": 1440, "height": 1000})
        # a fresh browser too: its first load fetches every font, icon and script the page uses — from here only
        local = (url, url.replace("http", "ws", 1), "data:", "blob:")
        seen: list[str] = []
        tab.on("request", lambda r: seen.append(r.url))
        tab.goto(f"{url}/{path.format(**ids)}")  # nothing else has been asked of this server
        settle(tab)
        assert any(u.endswith(".js") for u in seen), "the request listener saw no script load: it checks nothing"
        assert [u for u in seen if not u.startswith(local)] == [], "requests left 127.0.0.1"
        assert tab.get_by_text("Page not found").count() == 0
        assert heading in tab.locator('[data-testid="stMain"] h1').first.inner_text()
        assert tab.get_by_text(text).count() > 0
        assert "Overview" in tab.locator('[data-testid="stSidebarNav"]').inner_text()  # app.py's navigation
