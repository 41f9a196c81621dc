"""Contract tests: Schemathesis in a child process, bounded in examples and time, read back per operation."""

from __future__ import annotations

import base64
import html
import json
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from labkit.contract._base import ContractError
from labkit.contract._load import load

__all__ = ["ContractFailure", "ContractTestReport", "OperationResult", "test"]

DEFAULT_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)


class ContractTestError(ContractError):
    """Schemathesis could not run at all (bad arguments, unreachable schema)."""


@dataclass(frozen=True)
class ContractFailure:
    """One way an operation broke its contract, with a request that reproduces it."""

    operation: str
    check: str
    code: str
    title: str
    message: str
    curl: str
    status: int | None

    def __repr__(self) -> str:
        return f"<{self.code} {self.title} on {self.operation} (got {self.status}): {self.curl}>"


@dataclass
class OperationResult:
    """How one operation held up: cases sent, failures by check, one example of each."""

    operation: str
    cases: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    examples: dict[str, ContractFailure] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    def __repr__(self) -> str:
        failed = ", ".join(f"{check}: {n}" for check, n in sorted(self.failures.items()))
        return f"<{self.operation}: {self.cases} cases, {failed or 'no failures'}>"


class ContractTestReport:
    """The outcome of a contract-test run, per operation."""

    def __init__(
        self,
        operations: list[OperationResult],
        *,
        complete: bool,
        seed: int,
        command: list[str],
        errors: list[str],
    ) -> None:
        self.operations = sorted(operations, key=lambda r: r.operation)
        self.complete = complete
        self.seed = seed
        self.command = command
        self.errors = errors

    @property
    def cases(self) -> int:
        return sum(r.cases for r in self.operations)

    @property
    def failures(self) -> list[ContractFailure]:
        return [f for r in self.operations for f in r.examples.values()]

    @property
    def failed_checks(self) -> set[str]:
        return {c for r in self.operations for c in r.failures}

    @property
    def ok(self) -> bool:
        return self.complete and not self.errors and all(r.ok for r in self.operations)

    def operation(self, key: str) -> OperationResult:
        for result in self.operations:
            if result.operation == key:
                return result
        raise ContractError(
            f"no operation {key!r} was tested; tested: {[r.operation for r in self.operations]}"
        )

    def to_frame(self) -> pd.DataFrame:
        rows = [
            {
                "operation": r.operation,
                "cases": r.cases,
                "failures": sum(r.failures.values()),
                "checks failed": ", ".join(sorted(r.failures)),
                "example": next(iter(r.examples.values())).curl if r.examples else "",
            }
            for r in self.operations
        ]
        return pd.DataFrame(
            rows, columns=["operation", "cases", "failures", "checks failed", "example"]
        )

    def __repr__(self) -> str:
        failing = sum(not r.ok for r in self.operations)
        state = "" if self.complete else ", stopped at the time limit"
        return (
            f"ContractTestReport({len(self.operations)} operations, {self.cases} cases, "
            f"{failing} operations failing{state}; seed {self.seed})"
        )

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(repr(self))}</p>{self.to_frame().to_html(index=False)}"


def _curl(request: Mapping[str, Any]) -> str:
    """A shell command that sends the recorded request again."""
    parts = ["curl", "-X", str(request.get("method", "GET"))]
    for name, values in (request.get("headers") or {}).items():
        for value in values if isinstance(values, list) else [values]:
            parts += ["-H", f"{name}: {value}"]
    body = request.get("body")
    if isinstance(body, Mapping) and "$base64" in body:
        parts += ["--data-binary", base64.b64decode(body["$base64"]).decode("utf-8", "replace")]
    elif body is not None:
        parts += ["--data-binary", body if isinstance(body, str) else json.dumps(body)]
    parts.append(str(request.get("uri", "")))
    return shlex.join(parts)


def _events(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # the last line of a run killed at its time limit may be cut short
            if isinstance(event, dict) and len(event) == 1:
                yield next(iter(event.items()))


def _read(path: Path) -> tuple[list[OperationResult], list[str], bool]:
    """Fold Schemathesis' NDJSON events into one result per operation."""
    results: dict[str, OperationResult] = {}
    errors: list[str] = []
    counted: set[tuple[str, str]] = set()
    finished = False
    for kind, event in _events(path):
        if kind == "EngineFinished":
            finished = True
        if kind == "NonFatalError":
            errors.append(f"{event.get('label', '')}: {str(event.get('value', event))[:300]}")
        if kind != "ScenarioFinished":
            continue
        recorder = event.get("recorder") or {}
        label = str(recorder.get("label", ""))
        result = results.setdefault(label, OperationResult(label))
        result.cases += len(recorder.get("cases") or {})
        interactions = recorder.get("interactions") or {}
        for case_id, checks in (recorder.get("checks") or {}).items():
            for check in checks:
                if check.get("status") != "failure":
                    continue
                name = str(check.get("name"))
                if (name, case_id) in counted:
                    continue
                counted.add((name, case_id))
                result.failures[name] = result.failures.get(name, 0) + 1
                if name not in result.examples:
                    info = (check.get("failure_info") or {}).get("failure") or {}
                    interaction = interactions.get(case_id) or {}
                    response = interaction.get("response") or {}
                    result.examples[name] = ContractFailure(
                        operation=label,
                        check=name,
                        code=str(info.get("code", "")),
                        title=str(info.get("title", name)),
                        message=str(info.get("message", "")),
                        curl=_curl(interaction.get("request") or {}),
                        status=response.get("status_code"),
                    )
    return list(results.values()), errors, finished


def _gist(output: str) -> str:
    """The lines of Schemathesis' console output that say what went wrong."""
    noise = ("Schemathesis v", "━", "Reports:", "- NDJSON", "Tip:")
    lines = [line.strip(" ❌") for line in output.splitlines() if line.strip()]
    return "; ".join(line for line in lines if not line.startswith(noise))[:300]


def _base_url(target: Any) -> str:
    url = getattr(target, "url", target)
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ContractTestError(
            f"cannot contract-test {target!r}: pass a running service (with `.url`) or a base URL "
            "such as http://127.0.0.1:8000."
        )
    return url.rstrip("/")


def test(
    target: Any,
    spec: Any = None,
    *,
    max_examples: int = 10,
    phases: Sequence[str] = ("examples", "fuzzing"),
    checks: Sequence[str] = DEFAULT_CHECKS,
    mode: str = "positive",
    seed: int = 0,
    timeout: float = 60.0,
    headers: Mapping[str, str] | None = None,
    include: str | None = None,
    exclude: str | None = None,
) -> ContractTestReport:
    """Send generated requests to a live service and check every response against the contract.

    Runs Schemathesis in a child process that is killed after `timeout` seconds, so the kernel
    never hangs; what finished by then is reported (`complete` says whether all of it did).
    `spec` is the contract to hold the service to (anything `load` accepts); by default the
    service's own `/openapi.json`. `include`/`exclude` are path regexes; `headers` go on every
    request (e.g. an Authorization bearer token); `seed` makes a run repeatable.

    >>> report = lk.contract.test(svc, max_examples=5, include="^/v1/products")
    >>> report.to_frame()
    """
    base = _base_url(target)
    with tempfile.TemporaryDirectory(prefix="labkit-contract-") as tmp:
        workdir = Path(tmp)
        location = f"{base}/openapi.json"
        if spec is not None:
            location = str(workdir / "openapi.json")
            Path(location).write_text(json.dumps(load(spec).doc, default=str), encoding="utf-8")
        events = workdir / "events.ndjson"
        command = _command(location, base, events, max_examples, phases, checks, mode, seed)
        for name, value in (headers or {}).items():
            command += ["--header", f"{name}: {value}"]
        if include:
            command += ["--include-path-regex", include]
        if exclude:
            command += ["--exclude-path-regex", exclude]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            done = None
        results, errors, finished = _read(events)
    if done is not None and not results and done.returncode not in (0, 1):
        raise ContractTestError(
            f"Schemathesis exited with {done.returncode} before testing anything "
            f"({_gist(done.stdout + done.stderr)}). "
            f"Check that {location} is reachable and the arguments are valid."
        )
    return ContractTestReport(
        results, complete=done is not None and finished, seed=seed, command=command, errors=errors
    )


def _command(
    location: str,
    base: str,
    events: Path,
    max_examples: int,
    phases: Sequence[str],
    checks: Sequence[str],
    mode: str,
    seed: int,
) -> list[str]:
    """The Schemathesis command line: one worker, no example database, NDJSON events to `events`."""
    return [
        sys.executable, "-m", "schemathesis.cli", "run", location,
        "--url", base,
        "--max-examples", str(max_examples),
        "--phases", ",".join(phases),
        "--checks", ",".join(checks),
        "--mode", mode,
        "--seed", str(seed),
        "--workers", "1",
        "--request-timeout", "5",
        "--generation-database", "none",
        "--suppress-health-check", "all",
        "--report", "ndjson",
        "--report-ndjson-path", str(events),
        "--no-color",
    ]  # fmt: skip
