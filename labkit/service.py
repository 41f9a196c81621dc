"""`LiveService`: the sample service (or any ASGI app) running for real, on a loopback port.

>>> with LiveService() as svc:                 # seeded SQLite, ready when it returns
...     svc.client().get("/v1/products").json()
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pandas as pd

from labkit import _process
from labkit._lifecycle import Lifecycle
from labkit.databases import Database, Replica, database, postgres_database_names, seed
from labkit.errors import BadArgument, LabkitError, PortInUse, ServerStartError
from labkit.tracing import Trace, TraceCollector

__all__ = ["LiveService"]

SAMPLE_APP = "sample_service.main:create_app"
_SETTINGS_PREFIX = "SHOP_"
_LOG_NAME = "service.log"


class LiveService(Lifecycle):
    """Run an ASGI app under uvicorn in a child process on a free 127.0.0.1 port.

    Taught in 00_welcome, 05_orm_and_n_plus_one and 09_load_testing.

    Args:
        app: "module:attribute" of an ASGI app; by default the sample shop service.
        db: for the sample service, "sqlite" (a fresh temporary file), "postgres", a URL or a
            `Database`.
        scale: orders to seed before starting (None keeps the database as it is).
        settings: the service's settings, passed as `SHOP_<NAME>` environment variables.
        port: a fixed port; by default a free one.
        workers: uvicorn worker processes.
        ready_path: polled until it answers 200; None waits for any HTTP answer.
        startup_timeout: seconds to wait for readiness.
        tracing: trace every request with OpenTelemetry into an in-process OTLP receiver
            (`trace()` reads one request's spans).
        grpc: also serve the catalog over gRPC on a free port, `grpc_target` (sample service).
        replica: a streaming replica of `db` (`lk.replica`): the service reads the catalog
            from it, keeping read-your-writes (taught in 08_caching_and_rate_limits).

    The child dies with this process (even on SIGKILL), and `stop()` runs on `with` exit and
    at interpreter exit.
    """

    def __init__(
        self,
        app: str | None = None,
        *,
        db: str | Database = "sqlite",
        scale: int | None = 200,
        settings: dict[str, Any] | None = None,
        port: int | None = None,
        workers: int = 1,
        ready_path: str | None = "/health/ready",
        startup_timeout: float = 30.0,
        tracing: bool = False,
        grpc: bool = False,
        replica: Replica | None = None,
    ) -> None:
        self._signing: dict[str, str] | None = None
        self.app = app or SAMPLE_APP
        self.port = port if port is not None else _process.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._db_spec = db
        self._replica = replica
        self._scale = scale
        self._settings = dict(settings or {})
        self._workers = workers
        self._ready_path = ready_path
        self._startup_timeout = startup_timeout
        self._tracing = tracing
        self.collector: TraceCollector | None = None  # the OTLP receiver while tracing
        self._workdir: Path | None = None  # made at start: the log and a SQLite file live there
        self._proc: Any = None
        self._own_database = False  # a database this service made, dropped when it closes
        self.db: Database | None = None
        self.grpc_port = _process.free_port() if grpc else None
        self.grpc_target = f"127.0.0.1:{self.grpc_port}" if grpc else None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LiveService:
        """Prepare the database, start uvicorn and return once the service is ready."""
        if self._proc is not None:
            return self
        if not _process.port_is_free(self.port):
            raise PortInUse(
                f"port {self.port} on 127.0.0.1 is already in use; pick another with "
                "LiveService(port=...) or leave port unset to get a free one."
            )
        self._workdir = Path(tempfile.mkdtemp(prefix="labkit-service-"))
        atexit.register(self.close)
        if self._is_sample():
            self.db = self._prepare_database(self._workdir)
        if self._tracing:
            self.collector = TraceCollector()
        self._spawn()
        return self

    def restart(self, settings: dict[str, Any] | None = None) -> LiveService:
        """Stop gracefully (SIGTERM: in-flight requests finish), then start again.

        Same port, same database (not seeded again), logs appended, `settings` changed where
        given: one step of a rolling restart or a deploy, taught in 11_resilience.
        """
        self._settings.update(settings or {})
        if self._workdir is None:
            return self.start()
        self.stop()
        self._spawn()
        return self

    def _spawn(self) -> None:
        """Start uvicorn in the prepared workdir and wait until it is ready."""
        assert self._workdir is not None
        # Unbuffered, so log_lines() shows a request's line as soon as it is answered.
        env = {**os.environ, **self.child_environment(), "PYTHONUNBUFFERED": "1"}
        log_path = self._workdir / _LOG_NAME
        self._proc = _process.spawn(self._command(), log_path=log_path, env=env)
        self._wait_until_ready()

    def stop(self) -> None:
        """Stop the service and its workers (graceful first, then forced); safe to call twice.

        Its logs stay readable until `close()`.
        """
        if self._proc is not None:
            _process.stop(self._proc)
            self._proc = None

    def close(self) -> None:
        """Stop, then remove its files and any database it made; runs at `with` exit and at exit."""
        self.stop()
        atexit.unregister(self.close)
        if self.collector is not None:
            self.collector.close()
            self.collector = None
        if self._own_database and self.db is not None:
            self.db.drop()
            self._own_database = False
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    # -- use ---------------------------------------------------------------------------------

    @property
    def settings(self) -> dict[str, Any]:
        """The settings it was started with (load runs record them in the journal)."""
        return dict(self._settings)

    @property
    def pid(self) -> int | None:
        """The uvicorn process id while running."""
        return None if self._proc is None else int(self._proc.pid)

    @property
    def running(self) -> bool:
        """True while the child process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def client(self, **kwargs: Any) -> httpx.Client:
        """Return an `httpx.Client` whose base URL is this service (close it, or use `with`)."""
        kwargs.setdefault("timeout", 10.0)
        return httpx.Client(base_url=self.url, **kwargs)

    def login(self, who: str = "customer", **kwargs: Any) -> httpx.Client:
        """Return a client signed in as a seeded account: a role or an e-mail (close it).

        `who` is ``"admin"``, ``"staff"``, ``"customer"`` (alice), or any seeded e-mail; the
        password is the seed's own. Taught in 04_rest_in_practice, used in 05_orm_and_n_plus_one.

        >>> with svc.login("admin") as admin:
        ...     admin.get("/v1/users/me").json()["role"]
        'admin'
        """
        from sample_service.seed import KNOWN_PASSWORD

        email = _seeded_email(who)
        with self.client() as anonymous:
            response = anonymous.post(
                "/v1/auth/token", data={"username": email, "password": KNOWN_PASSWORD}
            )
        if response.status_code != 200:
            raise LabkitError(
                f"signing in as {email} failed with {response.status_code} "
                f"({response.text[:200]}); was the database seeded (scale=… or lk.seed)?"
            )
        headers = {
            **kwargs.pop("headers", {}),
            "Authorization": f"Bearer {response.json()['access_token']}",
        }
        return self.client(headers=headers, **kwargs)

    @property
    def _log_path(self) -> Path | None:
        return None if self._workdir is None else self._workdir / _LOG_NAME

    def log_lines(self, last: int | None = None) -> list[str]:
        """Return the service's log lines so far (stdout and stderr), or the `last` few."""
        try:
            lines = (
                self._log_path.read_text(errors="replace").splitlines() if self._log_path else []
            )
        except FileNotFoundError:
            return []
        return lines[-last:] if last else lines

    def json_logs(self) -> list[dict[str, Any]]:
        """Return the log lines that are JSON objects (the service's structured access log)."""
        records = []
        for line in self.log_lines():
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return records

    def logs(self, event: str = "request") -> duckdb.DuckDBPyRelation:
        """The service's structured log as a DuckDB relation, one kind of line (`.df()` for pandas).

        The raw text is `log_lines()`; this is the log as data, queried with SQL.

        `event` is "request" (the access log, with ``ts`` in epoch seconds), "slow_query" or
        "log". Taught in 10_observability: ``svc.logs().aggregate("route, count(*)")``.
        """
        records = [record for record in self.json_logs() if record.get("event") == event]
        if not records:
            raise LabkitError(
                f"no {event!r} lines in the service log yet; send some requests first "
                "(and for slow queries start it with settings={'slow_query_ms': ...})."
            )
        frame = pd.DataFrame.from_records(records)
        if "ts_us" in frame:  # the access log's integer wall clock, as epoch seconds
            frame.insert(1, "ts", frame.pop("ts_us") / 1e6)
        return duckdb.from_df(frame)

    def trace(self, request_id: str, *, timeout: float = 10.0) -> Trace:
        """The spans of one request (its id is its trace id), waiting for the export.

        Needs `LiveService(tracing=True)`. Taught in 10_observability.
        """
        if self.collector is None:
            raise LabkitError(
                "this service does not trace; start it with LiveService(tracing=True)"
            )
        return self.collector.trace(request_id, timeout=timeout)

    def log_for(self, request_id: str, *, timeout: float = 5.0) -> dict[str, Any]:
        """Return the access-log record of one request, waiting for it.

        The service logs a request after its response is sent, so the line can trail the
        response by a moment.
        """
        deadline = time.monotonic() + timeout
        while True:
            for record in self.json_logs():
                if record.get("request_id") == request_id:
                    return record
            if time.monotonic() > deadline:
                raise LabkitError(
                    f"no log line with request_id {request_id!r} within {timeout:.0f} s; "
                    "is the access log on (settings access_log=True)?"
                )
            time.sleep(0.02)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"LiveService({self.app!r}, url={self.url!r}, {state})"

    # -- internals ---------------------------------------------------------------------------

    def _is_sample(self) -> bool:
        return self.app == SAMPLE_APP

    def child_environment(self) -> dict[str, str]:
        """Settings as the environment variables the child gets: `SHOP_<NAME>` for the shop.

        Its database, signing key and Redis prefix included, so an app built from them in this
        process (`lk.profile_request`) is the same service.
        """
        prefix = _SETTINGS_PREFIX if self._is_sample() else ""
        env = {f"{prefix}{key.upper()}": _env_value(value) for key, value in self._settings.items()}
        if self.db is not None:
            env[f"{_SETTINGS_PREFIX}DATABASE_URL"] = self.db.url
        if self._replica is not None:
            env[f"{_SETTINGS_PREFIX}DATABASE_REPLICA_URL"] = self._replica.url
        if self.collector is not None:
            env[f"{_SETTINGS_PREFIX}OTEL_TRACES_ENDPOINT"] = self.collector.endpoint
            env["OTEL_BSP_SCHEDULE_DELAY"] = "100"  # ms: a notebook reads a trace at once
        if self._is_sample():
            # Made once per LiveService: a restart keeps the secret, so signed-in clients stay so.
            if self._signing is None:
                self._signing = signing_secret_environment({**os.environ, **env})
            env.update(self._signing)
            # Its own Redis keys (cache, limits) unless told otherwise: two services on one Redis
            # must not answer from each other's cache or share each other's rate-limit buckets.
            redis_prefix = f"{_SETTINGS_PREFIX}REDIS_PREFIX"
            if redis_prefix not in {**os.environ, **env}:
                env[redis_prefix] = f"labkit:{self.port}:"
        if self.grpc_port is not None:
            env[f"{_SETTINGS_PREFIX}GRPC_PORT"] = str(self.grpc_port)
        return env

    def _prepare_database(self, workdir: Path) -> Database:
        if isinstance(self._db_spec, Database):
            db = self._db_spec
        elif self._db_spec == "sqlite":
            db = database(f"sqlite:///{workdir / 'shop.db'}")
        elif self._db_spec == "postgres":
            # A database of this service's own, so two services never share (or drop) one; its
            # name says which process made it, so one left by a killed kernel is reclaimed.
            reclaim_service_databases()
            db = database("postgres", name=f"{_service_prefix()}{os.getpid()}_{self.port}")
            self._own_database = True
        else:
            db = database(self._db_spec)
        if self._scale is not None:
            seed(db, scale=self._scale)
        return db

    def _command(self) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            self.app,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        argv += ["--workers", str(self._workers), "--timeout-graceful-shutdown", "5"]
        # A notebook's clients idle between cells; uvicorn's 5 s keep-alive would close their
        # connections under them, and a POST sent on one that is closing fails with no answer.
        argv += ["--timeout-keep-alive", "75"]
        if self._is_sample():
            argv += ["--factory", "--no-access-log"]  # the service writes its own JSON access log
            # The service picks the client address itself, trusting only its configured proxies.
            argv.append("--no-proxy-headers")
        return argv

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        with httpx.Client(base_url=self.url, timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    self._fail(
                        f"the service exited with code {self._proc.returncode} while starting"
                    )
                try:
                    response = client.get(self._ready_path or "/")
                    if self._ready_path is None or response.status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        self._fail(
            f"nothing answered 200 at {self.url}{self._ready_path or '/'} "
            f"within {self._startup_timeout:.0f} s"
        )

    def _fail(self, what: str) -> None:
        tail = " | ".join(self.log_lines(last=5)) or "no log output"
        self.close()  # the error carries the log; nothing else is left behind
        raise ServerStartError(f"{what} (last log lines: {tail}). Run `labkit doctor`.")


def _service_prefix() -> str:
    """``labkit_service_<host>_``: a server may be shared by several machines; each cleans its own."""
    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
    return f"labkit_service_{host}_"


def reclaim_service_databases() -> list[str]:
    """Drop the service databases whose LiveService process on this host is gone; their names.

    A kernel killed mid-lesson never runs its clean-up, leaving a full seeded copy behind; the
    next service started on PostgreSQL, and ``labkit doctor --clean``, take it back.
    """
    dropped = []
    prefix = _service_prefix()
    for name in postgres_database_names(prefix):
        pid = name.removeprefix(prefix).split("_", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            database("postgres", name=name).drop()
            dropped.append(name)
    return dropped


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def signing_secret_environment(env: dict[str, str]) -> dict[str, str]:
    """``SHOP_JWT_SECRET`` for one run when ``env`` has none: random, shared by its workers.

    Every worker must verify the tokens the others sign, so the secret is made here rather than
    by each worker; it lives only in the child's environment and dies with the run.
    """
    name = f"{_SETTINGS_PREFIX}JWT_SECRET"
    return {} if env.get(name) else {name: secrets.token_urlsafe(32)}


def signing_secret_mode(env: dict[str, str]) -> str:
    """Which JWT secret a service started with ``env`` uses, in words (``labkit serve`` says it)."""
    if env.get(f"{_SETTINGS_PREFIX}JWT_SECRET"):
        return "JWT secret from SHOP_JWT_SECRET"
    return "JWT secret random for this run (tokens end when it stops; set SHOP_JWT_SECRET to keep them)"


def _seeded_email(who: str) -> str:
    """The seeded e-mail for a role name, or `who` itself when it is an e-mail."""
    from sample_service.seed import KNOWN_ACCOUNTS

    if "@" in who:
        return who
    by_role = {role: email for email, _name, role in reversed(KNOWN_ACCOUNTS)}
    if who not in by_role:
        raise BadArgument(
            f"no seeded account for {who!r}; use one of {sorted(by_role)} or an e-mail"
        )
    return by_role[who]


def _env_value(value: Any) -> str:
    """Render a setting the way pydantic-settings reads it from the environment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)
