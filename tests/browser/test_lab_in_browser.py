"""The lab as a learner meets it: `labkit lab` in a real Chromium, notebook 00 run cell by cell.

Skipped, with the reason, when Chromium or Playwright is missing (`.ci/run` installs both).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from labkit._process import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)"),
]
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "browser-test-token"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
RUN_TIMEOUT_S = 180

# Reads the open notebook's model: every cell's execution count and its error outputs.
_NOTEBOOK_STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model) { return null; }
  const kernel = panel.sessionContext.session?.kernel;
  const cells = [];
  for (const cell of panel.content.model.cells) {
    if (cell.type !== 'code') { continue; }
    const outputs = cell.outputs.toJSON();
    cells.push({
      count: cell.executionCount,
      errors: outputs.filter(o => o.output_type === 'error').map(o => `${o.ename}: ${o.evalue}`),
    });
  }
  return {status: kernel ? kernel.status : 'none', cells};
}"""


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    """`labkit lab` for a user with no Jupyter settings at all, on a free loopback port."""
    home = tmp_path / "jupyter"
    config = home / "config"
    config.mkdir(parents=True)
    # Only the test needs the app object in the page, to read the notebook's model.
    (config / "jupyter_lab_config.json").write_text(
        json.dumps({"LabApp": {"expose_app_in_browser": True}})
    )
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_TOKEN": TOKEN,
    }
    port = free_port()
    labkit = [sys.executable, "-m", "labkit.cli", "lab", "--port", str(port), "--no-browser"]
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen(
        labkit, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/status?token={TOKEN}", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail(
                f"labkit lab did not answer within 60 s: {(tmp_path / 'lab.log').read_text()}"
            )
        yield url
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


def test_notebook_00_runs_in_chromium_offline_with_mermaid_drawn(lab: str, tmp_path: Path) -> None:
    outside: list[str] = []
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on(
            "request",
            lambda r: (
                outside.append(r.url)
                if urlparse(r.url).scheme in {"http", "https", "ws", "wss"}
                and urlparse(r.url).hostname not in LOCAL_HOSTS
                else None
            ),
        )
        try:
            page.goto(f"{lab}/lab/tree/00_welcome.ipynb?token={TOKEN}")
            page.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.sessionContext?.session?.kernel",
                timeout=60_000,
            )
            page.wait_for_function(
                "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
                " === 'idle'",
                timeout=60_000,
            )
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            state = _wait_until_all_ran(page)
            errors = [e for cell in state["cells"] for e in cell["errors"]]
            assert errors == [], errors
            assert page.locator(".jp-Dialog").count() == 0, "a dialog blocks the page"
            news = page.get_by_text("official Jupyter news", exact=False)
            assert news.count() == 0, "the Jupyter news prompt appeared for a fresh user"
            mermaid = page.locator(".jp-RenderedMermaid svg, .jp-RenderedMermaid img")
            assert mermaid.count() >= 1, "no Mermaid diagram was drawn"
            assert outside == [], f"requests left 127.0.0.1: {outside[:5]}"
        except BaseException:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def _wait_until_all_ran(page: playwright.Page) -> dict[str, object]:
    """Poll until every code cell has an execution count and the kernel is idle again."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    state: dict[str, object] | None = None
    while time.monotonic() < deadline:
        state = page.evaluate(_NOTEBOOK_STATE)
        cells = state["cells"] if state else []
        if state and state["status"] == "idle" and cells and all(c["count"] for c in cells):
            return state
        if state and any(c["errors"] for c in cells):
            return state  # run-all stops at the first error; report it
        time.sleep(1)
    pytest.fail(f"notebook 00 did not finish within {RUN_TIMEOUT_S} s: {state}")
