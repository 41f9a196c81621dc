"""Attacks and measurements for the security lesson, run against a live service.

Each helper does one thing a notebook cell shows: time a password hash, forge a
token, brute-force a sign-in, compare sign-in timings statistically, call every
operation as every role, check headers and CORS, scan text for leaked secrets,
and lay the results out as the OWASP API Security Top 10 (2023). Taught in
07_auth_and_security.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import math
import operator
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import jwt
import pandas as pd
from argon2 import PasswordHasher

from labkit.errors import LabkitError

__all__ = [
    "OWASP_API_2023",
    "SECURITY_HEADERS",
    "Operation",
    "TimingComparison",
    "access_matrix",
    "brute_force",
    "compare_timing",
    "decode_jwt",
    "find_secrets",
    "forged_tokens",
    "guess_rates",
    "hashing_cost",
    "mann_whitney_p",
    "missing_headers",
    "owasp_table",
    "preflight",
    "sign_in_timing",
    "url_inputs",
]

OWASP_API_2023 = {
    "API1": "Broken Object Level Authorization",
    "API2": "Broken Authentication",
    "API3": "Broken Object Property Level Authorization",
    "API4": "Unrestricted Resource Consumption",
    "API5": "Broken Function Level Authorization",
    "API6": "Unrestricted Access to Sensitive Business Flows",
    "API7": "Server Side Request Forgery",
    "API8": "Security Misconfiguration",
    "API9": "Improper Inventory Management",
    "API10": "Unsafe Consumption of APIs",
}
# What every API response should carry (the service's middleware adds them).
SECURITY_HEADERS = (
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "strict-transport-security",
    "content-security-policy",
    "x-request-id",
)


def _ms_per_call(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` calls, in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def hashing_cost(
    params: Iterable[tuple[int, int]] = ((1, 8_192), (2, 19_456), (3, 65_536)), *, repeat: int = 3
) -> pd.DataFrame:
    """Median argon2id time per hash for each ``(time_cost, memory_kib)``.

    >>> lk.security.hashing_cost([(1, 8192), (3, 65536)])

    Taught in 07_auth_and_security.
    """
    rows = []
    for time_cost, memory_kib in params:
        hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        ms = _ms_per_call(partial(hasher.hash, "correct horse battery"), repeat)
        rows.append({"time_cost": time_cost, "memory_MiB": memory_kib / 1024, "ms per hash": ms})
    return pd.DataFrame(rows)


def guess_rates(*, seconds: float = 0.3) -> pd.DataFrame:
    """Offline guesses per second on this machine: SHA-256 vs argon2id at its library defaults.

    What an attacker holding a leaked table gets per core; the ratio is the defence.

    Taught in 07_auth_and_security.
    """
    target = PasswordHasher().hash("hunter2-but-longer")
    sha_target = hashlib.sha256(b"hunter2-but-longer").hexdigest()

    def sha_guess(n: int) -> None:
        hmac.compare_digest(hashlib.sha256(f"guess{n}".encode()).hexdigest(), sha_target)

    def argon_guess(n: int) -> None:
        try:
            PasswordHasher().verify(target, f"guess{n}")
        except Exception:  # a wrong guess is the expected outcome
            return

    rows = []
    for name, guess in (("sha256", sha_guess), ("argon2id", argon_guess)):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds or count < 2:
            guess(count)
            count += 1
        rows.append({"hash": name, "guesses": count, "guesses per second": count / elapsed})
    return pd.DataFrame(rows).set_index("hash")


def _b64url_json(part: str) -> dict[str, Any]:
    raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    decoded: dict[str, Any] = json.loads(raw)
    return decoded


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_jwt(token: str) -> dict[str, Any]:
    """Split a JWT by hand into header, claims and signature, verifying nothing.

    Shows that a JWT is signed, not encrypted: anyone can read the claims.

    Taught in 07_auth_and_security.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise LabkitError(f"a JWT has three dot-separated parts; this has {len(parts)}")
    header, claims = _b64url_json(parts[0]), _b64url_json(parts[1])
    return {"header": header, "claims": claims, "signature": parts[2]}


def forged_tokens(token: str, *, secret: str) -> dict[str, str]:
    """Four tokens a server must refuse, made from a real one: each breaks one rule.

    ``secret`` is the service's (known in a lab) so the expired token is otherwise valid.

    Taught in 07_auth_and_security.
    """
    head, body, _signature = token.split(".")
    claims = _b64url_json(body)
    none_header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    promoted = _b64url(json.dumps({**claims, "role": "admin"}).encode())
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    expired = {**claims, "iat": past - dt.timedelta(minutes=5), "exp": past}
    return {
        "alg: none": f"{none_header}.{body}.",
        "tampered role": f"{head}.{promoted}.{_signature}",
        "wrong key": jwt.encode(claims, "not-the-service-secret-0123456789abcdef", "HS256"),
        "expired": jwt.encode(expired, secret, algorithm="HS256"),
    }


def brute_force(
    client: httpx.Client, *, email: str, guesses: Sequence[str], path: str = "/v1/auth/token"
) -> pd.DataFrame:
    """Try each password in turn, as an online attacker would; one row per attempt.

    The rate limit shows as 429s and a ``Retry-After`` the attacker must wait.

    Taught in 07_auth_and_security.
    """
    rows, start = [], time.perf_counter()
    for n, guess in enumerate(guesses, 1):
        response = client.post(path, data={"username": email, "password": guess})
        retry = response.headers.get("retry-after")
        rows.append({"attempt": n, "status": response.status_code,
                     "retry_after_s": int(retry) if retry else None,
                     "at_s": round(time.perf_counter() - start, 3)})  # fmt: skip
    return pd.DataFrame(rows).set_index("attempt")


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, n >= 8 each).

    Rank-based, so one slow outlier on a busy machine does not decide.
    """
    if min(len(a), len(b)) < 8:
        raise LabkitError("the normal approximation needs at least 8 samples in each group")
    ranks = pd.Series([*a, *b]).rank()
    n1, n2 = len(a), len(b)
    u = ranks.iloc[:n1].sum() - n1 * (n1 + 1) / 2
    sigma = math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
    z = (u - n1 * n2 / 2) / sigma
    return math.erfc(abs(z) / math.sqrt(2))


@dataclass(frozen=True)
class TimingComparison:
    """Sign-in times for a known email (wrong password) and an unknown one."""

    known_ms: list[float] = field(repr=False)
    unknown_ms: list[float] = field(repr=False)

    @property
    def ratio(self) -> float:
        """Median known / median unknown: 1 when timing tells nothing."""
        return statistics.median(self.known_ms) / statistics.median(self.unknown_ms)

    @property
    def p_value(self) -> float:
        """Mann-Whitney p: small means the two are distinguishable."""
        return mann_whitney_p(self.known_ms, self.unknown_ms)

    def summary(self) -> dict[str, float]:
        """Medians, their ratio and the p-value, rounded for a table."""
        return {"known ms": round(statistics.median(self.known_ms), 2),
                "unknown ms": round(statistics.median(self.unknown_ms), 2),
                "ratio": round(self.ratio, 2), "p-value": float(f"{self.p_value:.2g}")}  # fmt: skip


def sign_in_timing(
    client: httpx.Client, *, known: str, unknown: str, samples: int = 12
) -> TimingComparison:
    """Time failed sign-ins for an existing and a missing account, interleaved.

    Interleaving spreads any drift in machine load over both groups equally.

    Taught in 07_auth_and_security.
    """
    times: dict[str, list[float]] = {known: [], unknown: []}
    for _ in range(samples):
        for email in (known, unknown):
            start = time.perf_counter()
            response = client.post("/v1/auth/token", data={"username": email, "password": "x"})
            times[email].append((time.perf_counter() - start) * 1000)
            if response.status_code != 401:
                raise LabkitError(f"expected 401 for a wrong password, got {response.status_code}"
                                  "; is the sign-in rate limit relaxed for this lesson?")  # fmt: skip
    return TimingComparison(known_ms=times[known], unknown_ms=times[unknown])


def compare_timing(*, size: int = 1_000_000, repeat: int = 31) -> pd.DataFrame:
    """Median µs of ``==`` and ``hmac.compare_digest`` on two strings differing first or last.

    Noisy by nature (a micro-benchmark on a shared machine); read the shape, not digits.

    Taught in 07_auth_and_security.
    """
    secret = b"s" * size
    early, late = b"x" + secret[1:], secret[:-1] + b"x"
    rows = []
    equals: tuple[tuple[str, Callable[[bytes, bytes], bool]], ...] = (
        ("==", operator.eq),
        ("compare_digest", hmac.compare_digest),
    )
    for name, equal in equals:
        for where, guess in (("first byte", early), ("last byte", late)):
            ms = _ms_per_call(partial(equal, secret, guess), repeat)
            rows.append({"comparison": name, "differs at": where, "µs": ms * 1000})
    return pd.DataFrame(rows).pivot(index="comparison", columns="differs at", values="µs")


def missing_headers(response: httpx.Response) -> list[str]:
    """The ``SECURITY_HEADERS`` a response lacks. Taught in 07_auth_and_security."""
    return [name for name in SECURITY_HEADERS if name not in response.headers]


def preflight(
    client: httpx.Client, path: str, *, origin: str, method: str = "POST"
) -> dict[str, Any]:
    """Send a CORS preflight as a browser would; what the service allowed.

    Taught in 07_auth_and_security.
    """
    response = client.options(path, headers={"Origin": origin,
                                             "Access-Control-Request-Method": method})  # fmt: skip
    return {"origin": origin, "status": response.status_code,
            "allow-origin": response.headers.get("access-control-allow-origin")}  # fmt: skip


@dataclass(frozen=True)
class Operation:
    """One call in an access matrix. Taught in 07_auth_and_security."""

    name: str
    method: str
    path: str
    body: Mapping[str, Any] | None = None


def access_matrix(
    clients: Mapping[str, httpx.Client], operations: Iterable[Operation]
) -> pd.DataFrame:
    """Call every operation as every client; the status codes, operations by roles.

    Run only operations that do not change state, or ones safe to repeat.

    Taught in 07_auth_and_security.
    """
    rows = {}
    for op in operations:
        rows[op.name] = {role: client.request(op.method, op.path, json=op.body).status_code
                         for role, client in clients.items()}  # fmt: skip
    return pd.DataFrame(rows).T.rename_axis("operation")


def _request_fields(spec: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """``(name, schema)`` of every parameter and top-level request-body property."""
    schemas = spec.get("components", {}).get("schemas", {})
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict):
                continue
            for param in op.get("parameters", []):
                yield f"{method.upper()} {path} {param['name']}", param.get("schema", {})
            for media in op.get("requestBody", {}).get("content", {}).values():
                ref = media.get("schema", {}).get("$ref", "")
                body = schemas.get(ref.rsplit("/", 1)[-1], media.get("schema", {}))
                for name, prop in body.get("properties", {}).items():
                    yield f"{method.upper()} {path} {name}", prop


def url_inputs(spec: Mapping[str, Any]) -> list[str]:
    """Request parameters and body fields that take a URL: where SSRF (API7) could start.

    Taught in 07_auth_and_security.
    """
    hints = ("url", "uri", "callback", "webhook")
    return sorted(
        field
        for field, schema in _request_fields(spec)
        if schema.get("format") == "uri"
        or any(h in field.rsplit(" ", 1)[-1].lower() for h in hints)
    )


def find_secrets(texts: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """The secrets (shown by their first 6 characters) that occur in any of the texts.

    Taught in 07_auth_and_security.
    """
    corpus = "\n".join(texts)
    return [secret[:6] + "…" for secret in secrets if secret and secret in corpus]


def owasp_table(findings: Mapping[str, Mapping[str, object]]) -> pd.DataFrame:
    """The OWASP API Security Top 10 (2023), one row per category, from the lesson's findings.

    ``findings`` maps ``"API1"``… to columns such as ``attack``, ``defence on`` and
    ``switch on``; a category without a finding is an error, so none is left out.

    Taught in 07_auth_and_security.
    """
    missing = [code for code in OWASP_API_2023 if code not in findings]
    if missing:
        raise LabkitError(f"no finding for {missing}; record one (or why there is no surface)")
    rows = [{"category": f"{code} {title}", **findings[code]}
            for code, title in OWASP_API_2023.items()]  # fmt: skip
    return pd.DataFrame(rows).set_index("category").fillna("")
