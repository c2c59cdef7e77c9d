"""A real Streamlit server and a real headless Chromium, for the browser tests and the README screenshots.

Chromium is Debian's (`apt-get install chromium`, the Makefile's `browser` target); playwright only drives it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PAGES = {"overview": "", **{name: name for name in ("memory", "review", "evolution", "trajectories", "metrics",
                                               "playground", "settings")}}


class Served(NamedTuple):
    url: str
    browser: object
    db: Path
    ids: dict


@pytest.fixture(scope="session")
def dashboard_server(tmp_path_factory) -> Iterator[tuple[str, Path, dict]]:
    """One Streamlit server (reviewer bea) over the small shared bank (`dashboard_bank`), for every browser test
    module of the session: each used to build the same bank and start its own. Registered in conftest.py so it is
    one fixture, not one per importing module. Skips without Chromium or the datasets."""
    if chromium_path() is None:
        pytest.skip("chromium is not installed (make browser)")
    pytest.importorskip("playwright.sync_api")
    from conftest import REFLEXION, TAU, need_shared
    import dashboard_bank

    need_shared(TAU, REFLEXION)
    folder = tmp_path_factory.mktemp("browser")
    db = folder / "bank.duckdb"
    ids = dashboard_bank.build(db, {"tau": TAU, "reflexion": REFLEXION})
    with streamlit_server(db, extra_env={"BANKCORE_REVIEWER": "bea"}, log=folder / "streamlit.log") as url:
        yield url, db, ids


@pytest.fixture(scope="module")
def served_dashboard(dashboard_server) -> Iterator[Served]:
    """The session's server with a Chromium of the module's own: while playwright's sync API is open it keeps an
    asyncio loop running in this thread, and a later module's `asyncio.run` (the MCP clients) would fail."""
    url, db, ids = dashboard_server
    with chromium() as browser:
        yield Served(url, browser, db, ids)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(db: Path, *, extra_env: dict[str, str] | None = None, log: Path | None = None
                     ) -> Iterator[str]:
    """`streamlit run app.py` on a free loopback port against bank `db`; yields the base URL."""
    port = free_port()
    env = {**os.environ, "BANKCORE_DB": str(db), "PYTHONPATH": str(ROOT), **(extra_env or {})}
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start (exit {proc.poll()}); see {log}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            out.close()


@contextmanager
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def settle(page, timeout_s: float = 30.0) -> None:
    """Wait until the app has rendered, its script is not running any more, and tables and charts are drawn."""
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    quiet_since = None
    while time.monotonic() < deadline:
        busy = (page.locator('[data-testid="stStatusWidget"]').count() > 0
                or page.locator('[data-testid="stSpinner"]').count() > 0
                or page.locator('[data-testid="stSkeleton"]').count() > 0
                or page.locator('[data-testid="stDataFrame"]:visible').count()
                > page.locator('[data-testid="stDataFrame"]:visible canvas').count()
                or page.locator('[data-testid="stPlotlyChart"]:visible').count()
                > page.locator('[data-testid="stPlotlyChart"]:visible .main-svg').count())
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 0.8:
            return
        time.sleep(0.1)


def open_page(page, base_url: str, name: str, query: str = "") -> None:
    """Go to a screen by URL and wait for it to settle."""
    url = f"{base_url}/{PAGES[name]}{('?' + query) if query else ''}"
    page.goto(url)
    settle(page)


def snapshot(page, path: Path, width: int = 1400, max_height: int = 6000) -> None:
    """A screenshot of the whole page. Streamlit scrolls inside its main block, so the window is first made as tall
    as that block's content."""
    height = page.evaluate("""() => {
        const block = document.querySelector('[data-testid="stMainBlockContainer"]');
        const main = document.querySelector('[data-testid="stMain"]');
        return block ? block.scrollHeight + 80 : (main ? main.scrollHeight : document.body.scrollHeight); }""")
    page.set_viewport_size({"width": width, "height": min(max_height, max(800, int(height) + 40))})
    settle(page)
    # A page taller than `max_height` is cut after the last whole element that fits, not through a line of text, and
    # not after a caption, heading or input that introduces what the cut leaves out (a dangling "final answer").
    cut = page.evaluate("""(limit) => Math.max(0, ...[...document.querySelectorAll(
            '[data-testid="stMain"] [data-testid="stElementContainer"], [data-testid="stMain"] [data-testid="stExpander"]')]
        .filter(e => e.matches('[data-testid="stExpander"]') || !e.querySelector(
            '[data-testid="stCaptionContainer"], [data-testid="stHeading"], [data-testid="stWidgetLabel"]'))
        .map(e => e.getBoundingClientRect().bottom).filter(b => b > 0 && b <= limit - 6))""", max_height) \
        if height + 40 > max_height else 0
    # A few pixels past the element (its border, its shadow), short of the 16 px gap before the next one.
    page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": width, "height": cut + 6} if cut else None)
