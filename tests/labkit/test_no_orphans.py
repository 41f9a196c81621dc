"""Nothing labkit starts outlives the kernel that started it: not on an error, not on SIGKILL.

These tests drive a real Jupyter kernel, as a notebook does, with a labkit home of their
own so the embedded PostgreSQL they start is theirs alone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

from tests.processes import alive

ROOT = Path(__file__).resolve().parents[2]

START_EVERYTHING = """
import json, os
import labkit as lk
db = lk.database("postgres", name="orphans")             # the embedded server and its keeper
service = lk.LiveService(scale=20).start()                # no `with`: the worst case
hello = lk.LiveService("tests.labkit.asgi_apps:hello", ready_path=None).start()
state = json.load(open(os.path.join(os.environ["LABKIT_HOME"], "postgres", "server.json")))
print(json.dumps({"pids": [service.pid, hello.pid, state["keeper_pid"], state["postmaster_pid"]]}))
"""


def _wait_gone(pids: list[int], seconds: float = 20.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive(pids)


def _run(km: KernelManager, code: str) -> str:
    """Execute `code` in the kernel and return its stdout; raise with the error it shows."""
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        out: list[str] = []
        reply = client.execute_interactive(
            code,
            timeout=120,
            output_hook=lambda msg: (
                out.append(msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None
            ),
        )
        if reply["content"]["status"] != "ok":
            raise AssertionError(f"kernel error: {reply['content'].get('evalue')}")
        return "".join(out)
    finally:
        client.stop_channels()


@pytest.fixture
def kernel() -> Iterator[KernelManager]:
    """A Python kernel in this repository with a labkit home of its own."""
    home = Path(tempfile.mkdtemp(prefix="labkit-orphans-"))
    env = {**os.environ, "LABKIT_HOME": str(home)}
    env.pop("LABKIT_POSTGRES_URL", None)  # the embedded server is the one that must not leak
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=env, cwd=str(ROOT))
    yield km
    if km.is_alive():
        km.shutdown_kernel(now=True)
    shutil.rmtree(home, ignore_errors=True)


def _started_pids(km: KernelManager) -> list[int]:
    out = _run(km, START_EVERYTHING)
    pids: list[int] = json.loads(out.strip().splitlines()[-1])["pids"]
    assert alive(pids) == pids, "everything should be running before the kernel goes"
    return pids


def test_a_kernel_killed_with_sigkill_leaves_no_process_behind(kernel: KernelManager) -> None:
    pids = _started_pids(kernel)
    kernel_pid = int(_run(kernel, "import os; print(os.getpid())"))
    os.kill(kernel_pid, signal.SIGKILL)  # no atexit, no __exit__: nothing runs in the kernel
    assert _wait_gone(pids) == []


def test_a_cell_that_raises_then_a_shutdown_leaves_no_process_behind(kernel: KernelManager) -> None:
    pids = _started_pids(kernel)
    with pytest.raises(AssertionError, match="half-way"):
        _run(kernel, "raise RuntimeError('the notebook failed half-way')")
    kernel.shutdown_kernel()  # what closing the notebook, or nbval at the end, does
    assert _wait_gone(pids) == []


def test_leaving_a_with_block_by_an_exception_stops_the_service(kernel: KernelManager) -> None:
    code = """
import labkit as lk
try:
    with lk.LiveService("tests.labkit.asgi_apps:hello", ready_path=None) as s:
        pid = s.pid
        raise ValueError("boom")
except ValueError:
    pass
print(pid)
"""
    pid = int(_run(kernel, code).strip())
    assert _wait_gone([pid], 5) == []
    assert kernel.is_alive()
