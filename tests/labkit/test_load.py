"""lk.load against a tiny local app: real Locust runs of a few seconds, parsed into DataFrames."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from labkit import journal, load
from labkit._process import free_port, is_running
from labkit.load import LoadError
from labkit.load._monitor import Tick
from labkit.service import LiveService

ROOT = Path(__file__).resolve().parents[2]


def locust_processes(pid: int | None = None) -> list[psutil.Process]:
    """Locust processes under `pid` (this test process by default), children at any depth."""
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    found = []
    for proc in kids:
        try:
            if "_locust_boot.py" in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.fixture(scope="module")
def tiny() -> Iterator[LiveService]:
    with LiveService(app="tests.labkit._load_app:app") as svc:
        yield svc


@pytest.fixture()
def mixed_locustfile(tmp_path: Path) -> Path:
    path = tmp_path / "mixed.py"
    path.write_text(
        textwrap.dedent(
            """
            from locust import FastHttpUser, constant, task

            class Mixed(FastHttpUser):
                wait_time = constant(0.01)

                @task(3)
                def good(self):
                    self.client.get("/v1/products/3", name="/v1/products/{id}")

                @task(1)
                def bad(self):
                    self.client.get("/broken")
            """
        )
    )
    return path


def test_run_parses_stats_history_and_failures_of_a_real_run(
    tiny: LiveService, mixed_locustfile: Path
) -> None:
    run = load.run(tiny, mixed_locustfile, users=2, duration=3, record=False)

    assert set(run.stats.index) == {"GET /v1/products/{id}", "GET /broken", "Aggregated"}
    broken, good = run.stats.loc["GET /broken"], run.stats.loc["GET /v1/products/{id}"]
    assert broken["failures"] == broken["requests"] > 0
    assert good["failures"] == 0 and good["requests"] > broken["requests"]
    assert run.stats.loc["Aggregated", "requests"] == broken["requests"] + good["requests"]
    assert 0 < run.error_rate < 1
    assert run.p50_ms <= run.p95_ms <= run.p99_ms
    total = run.history[run.history["endpoint"] == "Aggregated"]
    assert len(total) >= 2 and total["rps"].max() > 0
    assert total["requests"].is_monotonic_increasing
    assert run.failures.loc[0, "endpoint"] == "GET /broken"
    assert "500" in run.failures.loc[0, "error"]


def test_run_measures_cpu_of_generator_and_service(tiny: LiveService) -> None:
    run = load.run(tiny, "catalog", users=2, duration=3, record=False)

    assert run.cpu.generator_pct > 0
    assert run.cpu.service_pct is not None and run.cpu.service_pct > 0
    assert len(run.cpu.samples) > 0
    assert f"generator {run.cpu.generator_pct:.0f}%" in run.limits  # the measured numbers


def test_catalog_scenario_reads_products_and_is_journaled(
    tiny: LiveService, own_journal: Path
) -> None:
    settings = {"latency_ms": 0, "rate_limit_enabled": False}
    run = load.run(tiny, "catalog", users=2, duration=2, label="smoke", settings=settings)

    assert {"GET /v1/products", "GET /v1/products/{id}"} <= set(run.stats.index)
    assert run.error_rate == 0
    rows = journal.runs("load")
    assert own_journal.exists()
    assert rows["id"].tolist() == [run.journal_id]
    assert rows.loc[0, "scenario"] == "catalog" and rows.loc[0, "label"] == "smoke"
    assert rows.loc[0, "rps"] == pytest.approx(run.rps)
    assert rows.loc[0, "switches"] == '{"latency_ms": 0}'


def test_orders_scenario_signs_in_once_per_process_and_places_orders(tiny: LiveService) -> None:
    run = load.run(tiny, "orders", users=3, duration=2, record=False)

    assert run.stats.loc["POST /v1/auth/token", "requests"] == 1
    assert run.stats.loc["POST /v1/orders", "requests"] > 0
    assert run.error_rate == 0


def test_shop_day_mixes_reads_and_orders(tiny: LiveService) -> None:
    run = load.run(tiny, "shop_day", users=2, duration=2, record=False)

    reads = run.stats.loc["GET /v1/products/{id}", "requests"]
    assert reads > run.stats.loc["POST /v1/orders", "requests"] > 0


def test_reviews_scenario_reads_reviews_by_product(tiny: LiveService) -> None:
    run = load.run(tiny, "reviews", users=2, duration=2, record=False)

    assert run.stats.loc["GET /v1/products/{id}/reviews", "requests"] > 0
    assert run.error_rate == 0


def test_run_against_nothing_raises_one_clear_error() -> None:
    with pytest.raises(LoadError, match="nothing answered"):
        load.run(f"http://127.0.0.1:{free_port()}", "catalog", users=1, duration=1)
    assert locust_processes() == []


def test_bad_locustfile_raises_with_locusts_own_message(tiny: LiveService, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('scenario-xyz cannot start')\n")

    with pytest.raises(LoadError, match="scenario-xyz cannot start"):
        load.run(tiny, broken, users=1, duration=1)
    assert locust_processes() == []


def test_unknown_scenario_names_the_shipped_ones(tiny: LiveService) -> None:
    with pytest.raises(LoadError, match="catalog, orders, reviews, shop_day"):
        load.run(tiny, "checkout", users=1, duration=1)


def test_interrupt_stops_locust_and_its_workers(tiny: LiveService) -> None:
    seen: list[int] = []

    def interrupt(tick: Tick | None) -> None:
        if tick is not None:
            seen.append(len(locust_processes()))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load.run(tiny, "catalog", users=2, duration=30, processes=2, progress=interrupt)
    assert seen == [3]  # the master and two workers were running
    assert locust_processes() == []


def test_processes_spread_users_over_workers(tiny: LiveService) -> None:
    run = load.run(tiny, "orders", users=4, duration=3, processes=2, record=False)

    # Each worker process signs in once: two workers, two sign-ins.
    assert run.stats.loc["POST /v1/auth/token", "requests"] == 2
    assert run.stats.loc["POST /v1/orders", "requests"] > 0


def test_locust_dies_with_a_killed_parent(tiny: LiveService, tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(
        "import sys\nfrom labkit import load\n"
        "load.run(sys.argv[1], 'catalog', users=2, duration=60, processes=2, record=False)\n"
    )
    # A killed parent cannot clean its temporary files: keep them in this test's folder.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    parent = subprocess.Popen([sys.executable, str(script), tiny.url], env=env)
    try:
        family = _wait_for(lambda: _locust_children(parent.pid, at_least=3))
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert _wait_for(lambda: not _alive(family))
    finally:
        if parent.poll() is None:
            parent.kill()


def _locust_children(pid: int, *, at_least: int) -> list[psutil.Process]:
    """Locust processes under `pid`, once there are at least `at_least` of them."""
    found = locust_processes(pid)
    return found if len(found) >= at_least else []


def _alive(family: list[psutil.Process]) -> bool:
    """True while any of `family` runs (a zombie waiting to be reaped does not count)."""
    return any(is_running(p.pid) for p in family)


def _wait_for(condition, attempts: int = 150):  # type: ignore[no-untyped-def]
    """Poll `condition` every 0.1 s until it is truthy; return its last value."""
    for _ in range(attempts):
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    return condition()


def test_find_knee_runs_one_step_per_user_count(tiny: LiveService) -> None:
    knee = load.find_knee(tiny, "catalog", users=(1, 2), step_duration=2, progress=False)

    assert knee.steps["users"].tolist() == [1, 2]
    assert (knee.steps["rps"] > 0).all()
    assert len(journal.runs("knee")) == 1


def test_cli_load_prints_stats_and_fails_a_missed_slo(
    tiny: LiveService, mixed_locustfile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from labkit.cli import main

    common = [tiny.url, "-u", "1", "-d", "2", "--p95-ms", "10000", "--no-journal"]
    met = main(["load", *common])
    out = capsys.readouterr().out
    missed = main(["load", *common, "-s", str(mixed_locustfile), "--error-rate", "0"])

    assert met == 0 and "GET /v1/products/{id}" in out and "SLO met" in out
    assert missed == 1 and "SLO MISSED" in capsys.readouterr().out


def test_kernel_interrupt_leaves_no_locust_behind(tiny: LiveService, tmp_path: Path) -> None:
    from jupyter_client.manager import start_new_kernel

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(ROOT), env=env)
    try:
        kc.execute(
            f"from labkit import load\nload.run({tiny.url!r}, users=2, duration=60, record=False)"
        )
        kernel = psutil.Process(km.provisioner.process.pid)  # type: ignore[union-attr]
        family = _wait_for(lambda: _locust_children(kernel.pid, at_least=1))
        assert family, "Locust never started in the kernel"
        km.interrupt_kernel()
        assert _wait_for(lambda: not _alive(family))
        assert kernel.is_running()  # the kernel survived its interrupt; only Locust is gone
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_locked_journal_keeps_the_run_and_says_why(
    tiny: LiveService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "record", _locked_journal)

    run = load.run(tiny, "catalog", users=1, duration=2)

    assert run.journal_id is None and run.rps > 0
    assert any(w.startswith("not journaled") for w in run.warnings)


def test_a_locked_journal_keeps_the_knee_and_says_why(
    tiny: LiveService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "record", _locked_journal)

    knee = load.find_knee(tiny, "catalog", users=(1, 2), step_duration=1, progress=False)

    assert len(knee.steps) == 2
    assert knee.warnings and knee.warnings[0].startswith("not journaled")


def _locked_journal(*args: object, **kwargs: object) -> int:
    raise journal.JournalError("the journal stayed locked")
