"""The dashboard in a real browser: `streamlit run app.py` on a loopback port, driven by headless Debian Chromium.

Checks what only a browser can: script and image payloads inside trajectories and lessons stay inert (no dialog, no
script run, no such element in the DOM), a review can be done with the mouse and keyboard, and every screen draws.
Screenshots of every screen go to tests/screenshots/ (ignored by git). Skipped cleanly without Chromium.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bankcore import Bank
from browser import PAGES, open_page, settle, snapshot, streamlit_server

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parent / "screenshots"


@pytest.fixture(scope="module")
def served(served_dashboard):
    """The session's one server over the small bank (tests/browser.py), shared with test_browser_fit.py."""
    SHOTS.mkdir(exist_ok=True)
    return served_dashboard.url, served_dashboard.browser, served_dashboard.db, served_dashboard.ids


@pytest.fixture
def page(served):
    url, browser, db, ids = served
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    dialogs: list[str] = []
    tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    tab.dialogs = dialogs
    tab.outside = []  # requests leaving 127.0.0.1: nothing may be fetched from elsewhere, fonts and icons included
    local = (url, url.replace("http", "ws", 1), "data:", "blob:")
    tab.on("request", lambda r: None if r.url.startswith(local) else tab.outside.append(r.url))
    yield tab
    context.close()


def payloads_are_inert(page) -> None:
    assert page.dialogs == [], f"a dialog fired: {page.dialogs}"
    assert page.evaluate("() => window.__xss") is None, "a payload ran"
    assert page.evaluate("""() => [...document.querySelectorAll('script')]
                              .filter(s => s.textContent.includes('__xss')).length""") == 0
    assert page.evaluate("() => document.querySelectorAll('img[src=\"x\"], img[onerror]').length") == 0
    leaving = page.evaluate("""() => [...document.querySelectorAll('a[href]')].map(a => a.href)
                               .filter(h => !h.startsWith(location.origin) && !h.startsWith('#'))""")
    assert leaving == [], f"links out of the dashboard: {leaving}"  # bare URLs in untrusted text stay text


def test_every_screen_draws_and_is_saved(served, page):
    url, _, _, _ = served
    for name in PAGES:
        open_page(page, url, name)
        assert page.locator('[data-testid="stException"]').count() == 0, name
        snapshot(page, SHOTS / f"{name}.png")
    payloads_are_inert(page)
    assert page.outside == [], f"requests left the machine: {page.outside}"


def test_a_deep_link_works_as_a_fresh_servers_first_request(served, tmp_path):
    """A link to one item, opened right after a (re)start: that item, inside the app's own navigation (app.py's
    `st.navigation`, whose first entry is Overview) — not the bare page list Streamlit derives from a `pages/` folder."""
    _, browser, db, ids = served
    with streamlit_server(db, log=tmp_path / "streamlit.log") as url:
        tab = browser.new_page()
        open_page(tab, url, "memory", f"item={ids['approved']}")
        assert tab.get_by_text("Page not found").count() == 0
        assert tab.get_by_text("Verify the reservation before cancelling").count() > 0
        assert "Overview" in tab.locator('[data-testid="stSidebarNav"]').inner_text()
        tab.close()


def test_payloads_in_a_lesson_are_shown_as_text(served, page):
    url, _, _, ids = served
    open_page(page, url, "memory", f"item={ids['hostile']}")
    payloads_are_inert(page)  # the source trajectory's steps are open on this page too
    assert page.get_by_text("window.__xss = 1", exact=False).count() > 0  # visible, as text
    payloads_are_inert(page)
    snapshot(page, SHOTS / "hostile-item.png")


def test_payloads_in_a_trajectory_are_shown_as_text(served, page):
    url, _, _, ids = served
    open_page(page, url, "trajectories", f"traj={ids['hostile_traj']}")
    assert page.get_by_text("onerror=", exact=False).count() > 0
    payloads_are_inert(page)


def test_a_review_in_the_browser_edit_then_approve(served, page):
    url, _, db, ids = served
    open_page(page, url, "review")
    page.locator('[data-testid="stRadio"]').get_by_text("pending", exact=True).click()
    settle(page)
    first = Bank(db).store.review_queue(which="pending", limit=1)[0][0]
    page.get_by_text("Edit the text").click()
    content = page.get_by_label("Content")
    content.fill("Ask for the user id before acting; never guess it.")
    page.get_by_role("button", name="Save and approve").click()
    settle(page, 120)  # the first edit loads the embedding model
    item = Bank(db).store.get_item(first.item_id)
    assert item.status == "approved" and item.content.startswith("Ask for the user id before acting")
    assert [e.actor for e in Bank(db).store.item_events(first.item_id)[-2:]] == ["human:bea", "human:bea"]
    assert page.get_by_text(f"approved #{first.item_id}", exact=False).count() > 0
    payloads_are_inert(page)


IDLE_S = 12  # every screen open at once, each in its own tab, left alone this long


def test_a_screen_nobody_touches_stays_quiet(served):
    """No screen reruns on its own: with every screen (and a lesson and a trajectory) open in its own tab and left
    alone, not one websocket message goes either way — no timer, autorefresh or `run_every` fragment reruns a
    script, in the tab in front or in the tabs behind it — and nothing is fetched."""
    url, browser, _, ids = served
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    traffic: dict[str, list[str]] = {}
    try:
        visits = [(name, "") for name in PAGES] + [("memory", f"item={ids['approved']}"),
                                                   ("trajectories", f"traj={ids['hostile_traj']}")]
        for name, query in visits:
            tab, where = context.new_page(), f"/{name}?{query}"
            frames = traffic.setdefault(where, [])
            tab.on("websocket", lambda ws, frames=frames: (ws.on("framesent", lambda _: frames.append("sent")),
                                                           ws.on("framereceived", lambda _: frames.append("got"))))
            tab.on("request", lambda r, frames=frames: frames.append(f"request {r.url}"))
            open_page(tab, url, name, query)
            assert tab.locator('[data-testid="stException"]').count() == 0, where
        for frames in traffic.values():
            frames.clear()  # from here on, nobody touches anything
        context.pages[0].wait_for_timeout(IDLE_S * 1000)
        assert {where: frames for where, frames in traffic.items() if frames} == {}
    finally:
        context.close()
