"""The viewer in a real headless browser: Debian's Chromium driven by Playwright, against
`benchctl serve` started as users start it, over the demo's data in a real PostgreSQL.

Screenshots go to $BENCHCTL_SCREENSHOTS (CI sets it, and keeps them with its output), else to a
temporary folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchctl.stack.processes import free_port

from conftest import REPO_ROOT
from serve_support import DEMO, end_attempt, move_attempt, start_attempt

CHROMIUM = os.environ.get("BENCHCTL_CHROMIUM", "/usr/bin/chromium")
# As root and on a machine with no network: no sandbox, no GPU, nothing fetched in the background.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TOKEN = "browser-test-token-0123456789"
AXE = REPO_ROOT / "tools" / "axe"
REPORT = json.loads((DEMO / "report.json").read_text())


def _need_browser() -> None:
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"needs Chromium at {CHROMIUM} (Debian: apt install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.skip("needs Playwright: pip install -e '.[dev]'")


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("BENCHCTL_SCREENSHOTS")
    found = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    found.mkdir(parents=True, exist_ok=True)
    return found


@contextlib.contextmanager
def serving(url: str, root: Path, token: str | None = None) -> Iterator[str]:
    """`benchctl serve` on a free loopback port over ``url``; yields its base URL."""
    port = free_port()
    env = {**os.environ, "BENCHCTL_DATABASE_URL": url}
    env.pop("BENCHCTL_SERVE_TOKEN", None)
    if token:
        env["BENCHCTL_SERVE_TOKEN"] = token
    command = [str(Path(sys.executable).with_name("benchctl")), "serve", "--port", str(port)]
    root.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(command, cwd=root, env=env, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise AssertionError(f"benchctl serve did not start: {server.communicate()[1]}")
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield found
        found.close()


@pytest.fixture(scope="module")
def viewer(demo_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _need_browser()
    with serving(demo_database, tmp_path_factory.mktemp("serve-root")) as base:
        yield base


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    """A laptop-sized page that fails the test on any console error (a CSP violation, a
    script error, a resource that did not load)."""
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    context.close()
    assert errors == []


def test_experiment_to_comparison_to_session(page, viewer, screenshots):
    page.goto(viewer + "/")
    assert page.get_by_role("heading", level=1).inner_text() == "Experiments"
    page.get_by_role("link", name="demo", exact=True).click()
    page.wait_for_url("**/experiments/demo")
    assert page.locator(".headline").inner_text() == REPORT["headline"]
    # Every chart of the report, drawn: labelled, laid out at a readable size, with marks.
    charts = page.locator("figure svg[role=img]")
    assert charts.count() == len(REPORT["charts"])
    titles = {
        ET.fromstring((DEMO / c["path"]).read_text()).get("aria-label") for c in REPORT["charts"]
    }
    for i in range(charts.count()):
        chart = charts.nth(i)
        assert chart.get_attribute("aria-label") in titles
        box = chart.bounding_box()
        assert box is not None and box["width"] > 600 and box["height"] > 200
        drawn = chart.evaluate(
            "svg => [...svg.querySelectorAll('path, rect, circle, polygon, line')]"
            ".filter(e => { const b = e.getBBox(); return b.width > 0 || b.height > 0; }).length"
        )
        assert drawn >= 5
    # The variants and task cards as applied, each with its version.
    for caption, listed in (("Variants", 4), ("Task cards", 3)):
        rows = page.get_by_role("table", name=caption, exact=True).locator("tbody tr")
        assert rows.count() == listed
        assert all(text.endswith("v1") for text in rows.all_inner_texts())
    page.screenshot(path=str(screenshots / "comparison.png"), full_page=True)

    # Variant x task card -> that cell's sessions -> one session.
    grid = page.get_by_role("region", name="Variant by task card table")
    grid.get_by_role("row", name="sdk-sim-fast").get_by_role("link").first.click()
    page.wait_for_url("**/experiments/demo/sessions?variant=sdk-sim-fast&task_card=fix-median")
    rows = page.locator("table tbody tr")
    assert rows.count() == 2
    assert page.get_by_role("status").inner_text() == "Sessions 1\u20132 of 2."
    page.screenshot(path=str(screenshots / "sessions.png"), full_page=True)
    rows.first.get_by_role("link").click()
    page.wait_for_url("**/sessions/*")
    session_id = page.url.rsplit("/", 1)[1]
    detail = httpx.get(f"{viewer}/api/v1/sessions/{session_id}").json()
    assert page.get_by_role("heading", level=1).inner_text() == (
        f"sdk-sim-fast on fix-median, replicate {detail['session']['replicate']}"
    )
    timeline = page.locator("#timeline ~ figure svg[role=img]")
    assert timeline.locator("g.call").count() == len(detail["requests"]) > 0
    assert timeline.bounding_box()["width"] > 600
    checks = page.get_by_role("table", name="Checks")
    assert checks.locator("tbody tr").count() == len(detail["verifications"][-1]["checks"])
    page.get_by_text("Run log").first.is_visible()
    page.screenshot(path=str(screenshots / "session.png"), full_page=True)


def test_filters_and_pages_from_the_form(page, viewer):
    page.goto(viewer + "/experiments/demo/sessions?limit=25")
    page.get_by_label("Outcome", exact=True).select_option("success")
    page.get_by_label("Per page").select_option("25")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**outcome=success**")
    successes = httpx.get(f"{viewer}/api/v1/sessions?outcome=success").json()["total"]
    assert page.locator("table tbody tr").count() == successes
    assert page.get_by_label("Outcome", exact=True).input_value() == "success"
    page.goto(viewer + "/experiments/demo/sessions?limit=5")
    page.get_by_role("link", name="Next page →").click()
    assert page.get_by_role("status").inner_text() == "Sessions 6\u201310 of 24."


def test_the_keyboard_reaches_everything(page, viewer):
    page.goto(viewer + "/experiments/demo")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Wide tables scroll, and can be scrolled from the keyboard: they take focus.
    regions = page.locator("div.scroll[tabindex='0'][role=region]")
    assert regions.count() >= 3
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") == "A"


def test_the_live_page_follows_a_run_in_the_database(
    browser, own_demo_database, tmp_path, screenshots
):
    sid = start_attempt(own_demo_database)
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    with serving(own_demo_database, tmp_path / "root") as base:
        page.goto(base + "/experiments/demo/live")
        running = page.locator("#running")
        assert "harness" in running.inner_text()
        assert page.locator("[data-field=pending]").inner_text() == "1"
        move_attempt(own_demo_database, "verify")
        # (Playwright's wait_for_function evaluates a string, which the page's CSP forbids.)
        page.locator("#running", has_text="verify").wait_for(timeout=10_000)
        page.screenshot(path=str(screenshots / "live.png"), full_page=True)
        end_attempt(own_demo_database, sid)
        status = page.locator("#live-state")
        status.filter(has_text="Nothing left to run.").wait_for(timeout=10_000)
        assert page.locator("[data-field=pending]").inner_text() == "0"
        assert "No attempt is running." in running.inner_text()
        assert page.locator("#finished tr").first.get_by_role("link").inner_text() == sid[:8]
    context.close()
    assert errors == []


@pytest.fixture(scope="module")
def axe() -> str:
    """axe-core's source (tools/axe, pinned by its package-lock.json)."""
    script = AXE / "node_modules" / "axe-core" / "axe.min.js"
    if not script.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed (CI has it): needed for axe-core")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=AXE, check=True, timeout=300)
    return script.read_text()


def test_every_page_passes_axe(browser, viewer, axe):
    """axe-core, the accessibility engine browsers' own audits use, finds nothing on any page:
    WCAG 2.1 A and AA rules and best practices (names, contrast, landmarks, tables, focus)."""
    session = httpx.get(f"{viewer}/api/v1/sessions?limit=1").json()["sessions"][0]["session_id"]
    # Only this test lifts the page's CSP: it has to inject axe's script.
    context = browser.new_context(viewport={"width": 1366, "height": 800}, bypass_csp=True)
    page = context.new_page()
    audit = (
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)"
    )
    # The audit itself finds what it should: an image without a text alternative.
    page.set_content(
        '<!doctype html><html lang="en"><title>t</title><main><img src="x.png"></main>'
    )
    page.add_script_tag(content=axe)
    assert any(v.startswith("image-alt (critical)") for v in page.evaluate(audit))
    found = {}
    for path in (
        "/", "/experiments/demo", "/experiments/demo/sessions", f"/sessions/{session}",
        "/experiments/demo/live", "/login", "/experiments/nope",
    ):  # fmt: skip
        page.goto(viewer + path)
        page.add_script_tag(content=axe)
        result = page.evaluate(audit)
        if result:
            found[path] = result
    context.close()
    assert found == {}


def test_signing_in_with_the_token(browser, demo_database, tmp_path):
    context = browser.new_context()
    page = context.new_page()
    with serving(demo_database, tmp_path / "root", token=TOKEN) as base:
        response = page.goto(base + "/experiments/demo")
        assert response is not None and response.status == 401
        page.get_by_label("Token").fill("wrong-token-wrong-token")
        page.get_by_role("button", name="Sign in").click()
        assert page.get_by_role("alert").inner_text() == "That is not the token."
        page.get_by_label("Token").fill(TOKEN)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/experiments/demo")
        assert page.locator(".headline").inner_text() == REPORT["headline"]
        # The API in the same browser: the cookie stands for the token.
        assert page.request.get(base + "/api/v1/experiments").status == 200
    context.close()
