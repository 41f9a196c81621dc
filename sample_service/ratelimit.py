"""Token-bucket rate limiting, in memory (one process) or in Redis (several workers).

A bucket holds up to ``capacity`` tokens and refills at ``refill_per_second``;
each request takes one. Buckets are per user when the request carries a valid
access token and per client IP otherwise; ``/v1/auth/token`` has its own,
stricter bucket because password guessing is what limits exist to stop, and
registration one stricter still, since each new account would bring a fresh budget. API keys
(machine clients) get a bucket per key, with a rule of their own.

The client IP is the socket's peer. ``X-Forwarded-For`` and ``Forwarded`` are read only
when that peer is one of the configured trusted proxies, and then only their rightmost
address that is not itself a trusted proxy (RFC 7239 §7.4): anything to its left was
written by the client and proves nothing, so spoofing it selects no fresh bucket.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from prometheus_client import Counter

from sample_service.api.problems import send_problem
from sample_service.security import InvalidToken, decode_access_token
from sample_service.services.api_keys import prefix_of

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from sample_service.config import Settings

log = logging.getLogger(__name__)

LIMITED = Counter("shop_rate_limited_total", "Requests refused with 429", ["bucket"])

AUTH_PATH = "/v1/auth/token"
REGISTER = ("POST", "/v1/users")
# Probes and scrapes must never be refused: a limited health check restarts healthy pods.
EXEMPT_PREFIXES = ("/health", "/metrics")


@dataclass(frozen=True)
class Rule:
    """Bucket size and refill speed."""

    capacity: int
    refill_per_second: float


@dataclass(frozen=True)
class Decision:
    """The outcome of taking one token, with what the RateLimit-* headers report."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        """``RateLimit-*`` on every response, ``Retry-After`` when refused."""
        out = [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_seconds).encode()),
        ]
        if not self.allowed:
            out.append((b"retry-after", str(self.retry_after).encode()))
        return out


def decide(tokens: float, allowed: bool, rule: Rule) -> Decision:
    """Turn the bucket's level after the take into header values (shared by both backends)."""
    missing = rule.capacity - tokens
    return Decision(
        allowed=allowed,
        limit=rule.capacity,
        remaining=max(0, math.floor(tokens)),
        reset_seconds=math.ceil(missing / rule.refill_per_second) if missing > 0 else 0,
        retry_after=max(1, math.ceil((1 - tokens) / rule.refill_per_second)),
    )


class Buckets(Protocol):
    """Where bucket levels live."""

    async def take(self, key: str, rule: Rule, cost: int = 1) -> Decision: ...


class MemoryBuckets:
    """Buckets in this process: exact for one worker, per-worker with several."""

    def __init__(self, *, max_keys: int = 100_000) -> None:
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_keys = max_keys

    async def take(self, key: str, rule: Rule, cost: int = 1) -> Decision:
        # No await between read and write: on one event loop this is atomic.
        now = time.monotonic()
        tokens, stamp = self._state.pop(key, (float(rule.capacity), now))
        tokens = min(rule.capacity, tokens + (now - stamp) * rule.refill_per_second)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        self._state[key] = (tokens, now)
        if len(self._state) > self._max_keys:
            self._state.popitem(last=False)
        return decide(tokens, allowed, rule)


# Read, refill, take and write in one script so concurrent workers cannot both
# spend the last token; the clock is Redis's own, so workers' clocks don't matter.
_TAKE_LUA = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local stamp = tonumber(state[2])
if tokens == nil then
  tokens = capacity
  stamp = now
end
tokens = math.min(capacity, tokens + math.max(0, now - stamp) * rate)
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


class RedisBuckets:
    """Buckets shared by every worker and host that uses the same Redis and prefix."""

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_TAKE_LUA)

    async def take(self, key: str, rule: Rule, cost: int = 1) -> Decision:
        allowed, tokens = await self._script(
            keys=[f"{self._prefix}rl:{key}"], args=[rule.capacity, rule.refill_per_second, cost]
        )
        return decide(float(tokens), bool(allowed), rule)


def api_key_prefix(scope: Scope) -> str | None:
    """The prefix of an API key sent as ``X-API-Key`` or ``Bearer sk_…``, if any.

    Not verified here (that needs the database): an invented prefix gets a bucket
    of its own, and the route then refuses the key.
    """
    for name, value in scope["headers"]:
        if name == b"x-api-key":
            return prefix_of(value.decode("latin-1"))
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            prefix = prefix_of(value[7:].decode("latin-1"))
            if prefix is not None:
                return prefix
    return None


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address from a header or socket value (brackets and port allowed), else None."""
    text = text.strip().strip('"')
    if text.startswith("["):  # "[2001:db8::1]:4711"
        text = text[1 : text.find("]")]
    elif text.count(":") == 1:  # "192.0.2.1:80"
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _forwarded_hops(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """Client addresses the proxies recorded, oldest first: ``Forwarded`` if sent, else XFF."""
    forwarded: list[str] = []
    xff: list[str] = []
    for name, value in headers:
        if name == b"forwarded":
            for element in value.decode("latin-1").split(","):
                for pair in element.split(";"):
                    key, _, val = pair.strip().partition("=")
                    if key.lower() == "for":
                        forwarded.append(val)
        elif name == b"x-forwarded-for":
            xff.extend(value.decode("latin-1").split(","))
    return forwarded or xff


def client_address(scope: Scope, trusted: tuple[Network, ...] = ()) -> str:
    """The address limits are keyed on: the peer, or what trusted proxies say it was."""
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if not trusted or not _is_trusted(_address(peer), trusted):
        return peer
    for hop in reversed(_forwarded_hops(scope["headers"])):
        address = _address(hop)
        if not _is_trusted(address, trusted):
            # Unparseable ("unknown", an obfuscated name): the proxy's own peer, not the client.
            return str(address) if address is not None else peer
    return peer


def _is_trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, trusted: tuple[Network, ...]
) -> bool:
    return address is not None and any(address in network for network in trusted)


class RateLimiter:
    """Picks the bucket and rule for a request."""

    def __init__(
        self,
        buckets: Buckets,
        *,
        default: Rule,
        auth: Rule,
        register: Rule,
        secret: str,
        api_key: Rule | None = None,
        trusted_proxies: tuple[Network, ...] = (),
    ) -> None:
        self.buckets = buckets
        self.default = default
        self.auth = auth
        self.api_key = api_key or default
        self.register = register
        self._secret = secret
        self._trusted = trusted_proxies

    @classmethod
    def from_settings(cls, settings: Settings, redis: Redis | None = None) -> RateLimiter:
        """Redis buckets when a Redis client is given, memory buckets otherwise."""
        buckets: Buckets = (
            RedisBuckets(redis, prefix=settings.redis_prefix) if redis else MemoryBuckets()
        )
        return cls(
            buckets,
            default=Rule(settings.rate_limit_capacity, settings.rate_limit_refill_per_second),
            auth=Rule(
                settings.auth_rate_limit_capacity, settings.auth_rate_limit_refill_per_second
            ),
            register=Rule(
                settings.register_rate_limit_capacity,
                settings.register_rate_limit_refill_per_second,
            ),
            secret=settings.jwt_secret,
            api_key=Rule(
                settings.api_key_rate_limit_capacity, settings.api_key_rate_limit_refill_per_second
            ),
            trusted_proxies=tuple(settings.trusted_proxies),
        )

    def identify(self, scope: Scope) -> str:
        """``user:<id>`` for a valid bearer token, else ``ip:<address>``."""
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                try:
                    claims = decode_access_token(value[7:].decode("latin-1"), secret=self._secret)
                except InvalidToken:
                    break
                return f"user:{claims.user_id}"
        return f"ip:{client_address(scope, self._trusted)}"

    async def charge(self, scope: Scope, cost: int) -> Decision:
        """Take ``cost`` more tokens from the caller's bucket (a GraphQL query's cost)."""
        try:
            return await self.buckets.take(self.identify(scope), self.default, cost)
        except Exception:  # fail open, as ``check`` does
            log.warning("rate limiter unavailable; request allowed", exc_info=True)
            return Decision(True, self.default.capacity, self.default.capacity, 0, 0)

    async def check(self, scope: Scope) -> tuple[str, Decision]:
        """Take a token for this request; returns the bucket name and the decision."""
        if scope["path"] == AUTH_PATH:
            name, rule = "auth", self.auth
        elif (scope["method"], scope["path"]) == REGISTER:
            name, rule = "register", self.register
        elif api_key_prefix(scope) is not None:
            name, rule = "api_key", self.api_key
        else:
            name, rule = "default", self.default
        if name == "default":
            key = self.identify(scope)
        elif name == "api_key":  # a bucket per key, wherever it is used from
            key = f"key:{api_key_prefix(scope)}"
        else:  # anonymous by nature: the address's bucket, whatever token comes along
            key = f"{name}:ip:{client_address(scope, self._trusted)}"
        try:
            return name, await self.buckets.take(key, rule)
        except Exception:  # a limiter outage must not become an API outage: fail open
            log.warning("rate limiter unavailable; request allowed", exc_info=True)
            return name, Decision(True, rule.capacity, rule.capacity, 0, 0)


class RateLimitMiddleware:
    """Pure ASGI middleware: 429 problem+json when the bucket is empty, headers always."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        bucket, decision = await self.limiter.check(scope)
        extra = decision.headers()
        if not decision.allowed:
            LIMITED.labels(bucket).inc()
            detail = (
                f"rate limit of {decision.limit} requests exceeded; "
                f"retry after {decision.retry_after} s"
            )
            await send_problem(scope, send, status=429, detail=detail, headers=extra)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
