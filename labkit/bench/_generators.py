"""The HTTP load generators: wrk (C, one thread) when installed, else Locust's FastHttpUser.

Each returns the same numbers (requests/s, P50, P99, errors) and the generator's own CPU use, so
a run can tell when the generator, not the server, was the limit.
"""

from __future__ import annotations

import re
import resource
import shutil
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from labkit._process import spawn, stop
from labkit.errors import BenchError

__all__ = ["Generator", "Target", "parse_wrk", "pick_generator", "run_locust", "run_wrk"]

Generator = Literal["auto", "wrk", "locust"]
_WRK_SCRIPT = """
local counter = 0
local method, path, auth, body, prefix, ids
function init(args)
  method, path, auth, body, prefix = args[1], args[2], args[3], args[4], args[5]
  ids = {}
  for id in string.gmatch(args[6] or "", "[^,]+") do ids[#ids + 1] = id end
end
function request()
  counter = counter + 1
  local id = ids[counter % math.max(#ids, 1) + 1] or "1"
  local headers = {}
  if auth ~= "" then headers["Authorization"] = auth end
  if method == "POST" then
    headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = prefix .. "-" .. counter
    return wrk.format(method, path, headers, (string.gsub(body, "{id}", id)))
  end
  return wrk.format(method, (string.gsub(path, "{id}", id)), headers)
end
"""
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(output: str) -> dict[str, float]:
    """Read requests/s, P50, P99 and errors out of `wrk --latency` output."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rps is None:
        raise BenchError(f"wrk printed no Requests/sec line: {output.strip()[-300:]!r}")
    found = {"rps": float(rps.group(1)), "errors": 0.0}
    for label, key in (("50%", "p50_ms"), ("99%", "p99_ms")):
        match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
        found[key] = float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    found["errors"] = float(non_2xx.group(1)) if non_2xx else 0.0
    if sockets:
        found["errors"] += sum(float(n) for n in sockets.groups())
    return found


def pick_generator(generator: Generator) -> str:
    """Resolve "auto" to wrk when it is on PATH, else Locust."""
    has_wrk = shutil.which("wrk") is not None
    if generator == "wrk" and not has_wrk:
        raise BenchError(
            "generator='wrk' but wrk is not installed; `apt-get install wrk` (Debian/Ubuntu), "
            "`brew install wrk`, or use generator='locust'."
        )
    if generator == "auto":
        return "wrk" if has_wrk else "locust"
    return generator


@dataclass(frozen=True)
class Target:
    """What a generator sends: GETs of `path` (`{id}` becomes one of `product_ids`), or orders."""

    url: str
    path: str
    order: bool = False
    authorization: str = ""
    product_ids: tuple[int, ...] = ()


def run_wrk(target: Target, duration: float, connections: int) -> dict[str, Any]:
    """One wrk thread (one core at most), its CPU measured from the kernel's child accounting."""
    body = '{"items": [{"product_id": {id}, "quantity": 1}]}' if target.order else ""
    args = [
        "POST" if target.order else "GET",
        target.path,
        target.authorization if target.order else "",
        body,
        uuid.uuid4().hex,
        ",".join(str(i) for i in target.product_ids),
    ]
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
        script, log = Path(tmp) / "bench.lua", Path(tmp) / "wrk.log"
        script.write_text(_WRK_SCRIPT)
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency"]
        argv += ["-s", str(script), target.url, "--", *args]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.monotonic()
        proc = spawn(argv, log_path=log, death_signal=signal.SIGKILL)
        try:
            proc.wait(duration + 30)
        finally:
            stop(proc, grace=1.0)
        wall = time.monotonic() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        numbers = parse_wrk(log.read_text(errors="replace"))
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "rps": numbers["rps"],
        "p50_ms": numbers["p50_ms"],
        "p99_ms": numbers["p99_ms"],
        "errors": int(numbers["errors"]),
        "generator_cpu_pct": 100 * cpu / wall,
        "note": "wrk -t1: the generator stays on one core",
    }


def run_locust(target: Target, duration: float, connections: int) -> dict[str, Any]:
    """Locust FastHttpUser, one process; its CPU is recorded and a generator limit is flagged."""
    from labkit import load
    from labkit.load._parse import AGGREGATED
    from labkit.load._runner import SCENARIO_DIR

    env = {
        "LABKIT_BENCH_PATH": target.path,
        "LABKIT_BENCH_ORDER": "1" if target.order else "",
        "LABKIT_BENCH_IDS": ",".join(map(str, target.product_ids)),
    }
    result = load.run(
        target.url,
        SCENARIO_DIR / "_bench.py",
        users=connections,
        duration=duration,
        env=env,
        progress=False,
        record=False,
    )
    endpoint = result.stats.drop(index=AGGREGATED).sort_values("requests").index[-1]
    row = result.stats.loc[endpoint]
    return {
        "rps": float(row["rps"]),
        "p50_ms": float(row["p50_ms"]),
        "p99_ms": float(row["p99_ms"]),
        "errors": int(row["failures"]),
        "generator_cpu_pct": result.cpu.generator_pct,
        "note": result.limits if result.generator_bound else "Locust FastHttpUser, 1 process",
    }
