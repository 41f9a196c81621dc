"""Rate limiting by token bucket or sliding window, in memory (one process) or in Redis.

A bucket holds up to ``capacity`` tokens and refills at ``refill_per_second``;
each request takes one. The sliding window (``SHOP_RATE_LIMIT_ALGORITHM``) counts
the requests of the last ``capacity / refill_per_second`` seconds instead: the same
long-run rate, but a client that waits gets no stored-up burst beyond ``capacity``
per window, wherever the window starts. Limits are per user when the request
carries a valid access token (a rule per tier: customer, staff) and per client IP
otherwise; ``/v1/auth/token`` has its own, stricter limit because password
guessing is what limits exist to stop, and registration one stricter still, since
each new account would bring a fresh budget. API keys (machine clients) get a
limit per key, with a rule of their own.

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
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
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

    @property
    def window_seconds(self) -> float:
        """The sliding window's length: the time a bucket takes to refill from empty."""
        return self.capacity / self.refill_per_second


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


def decide_window(count: int, wait: float, allowed: bool, rule: Rule) -> Decision:
    """Header values from a window's count after the request and the seconds until its
    oldest entry leaves (shared by both sliding-window backends)."""
    return Decision(
        allowed=allowed,
        limit=rule.capacity,
        remaining=max(0, rule.capacity - count),
        reset_seconds=math.ceil(wait) if count else 0,
        retry_after=max(1, math.ceil(wait)),
    )


class Buckets(Protocol):
    """Where bucket levels (or window logs) live."""

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


class MemoryWindows:
    """Sliding-window logs in this process: the times of the requests still in the window."""

    def __init__(
        self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._logs: OrderedDict[str, deque[float]] = OrderedDict()
        self._max_keys = max_keys
        self._clock = clock  # tests move time by hand

    async def take(self, key: str, rule: Rule, cost: int = 1) -> Decision:
        now = self._clock()
        log_ = self._logs.pop(key, None) or deque()
        while log_ and log_[0] <= now - rule.window_seconds:
            log_.popleft()
        allowed = len(log_) + cost <= rule.capacity
        if allowed:
            log_.extend([now] * cost)  # a request of cost n counts as n requests
        self._logs[key] = log_
        if len(self._logs) > self._max_keys:
            self._logs.popitem(last=False)
        wait = log_[0] + rule.window_seconds - now if log_ else 0.0
        return decide_window(len(log_), wait, allowed, rule)


# Trim, count, add and expire in one script: atomic across workers, on Redis's clock.
# Members are unique (a per-key sequence), so two requests in one microsecond both count.
_WINDOW_LUA = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2]) * 1000000
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count + cost <= limit then
  for _ = 1, cost do
    local seq = redis.call('INCR', KEYS[2])
    redis.call('ZADD', KEYS[1], now, tostring(seq))
  end
  count = count + cost
  allowed = 1
end
local ttl = math.ceil(window / 1000) + 1000
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = 0
if oldest[2] then
  wait = (tonumber(oldest[2]) + window - now) / 1000000
end
return {allowed, count, tostring(wait)}
"""


class RedisWindows:
    """Sliding-window logs in a Redis sorted set, shared by every worker."""

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._prefix = prefix
        self._script = redis.register_script(_WINDOW_LUA)

    async def take(self, key: str, rule: Rule, cost: int = 1) -> Decision:
        name = f"{self._prefix}rlw:{key}"
        allowed, count, wait = await self._script(
            keys=[name, f"{name}:seq"], args=[rule.capacity, rule.window_seconds, cost]
        )
        return decide_window(int(count), float(wait), bool(allowed), rule)


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


def _tier_rule(settings: Settings, tier: str) -> Rule | None:
    """``<tier>_rate_limit_capacity`` and ``…_refill_per_second`` if that tier sets them."""
    capacity = getattr(settings, f"{tier}_rate_limit_capacity")
    refill = getattr(settings, f"{tier}_rate_limit_refill_per_second")
    return Rule(capacity, refill) if capacity is not None and refill is not None else None


class RateLimiter:
    """Picks the limit and rule for a request: auth, API key, or the caller's tier."""

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
        customer: Rule | None = None,
        staff: Rule | None = None,
    ) -> None:
        self.buckets = buckets
        self.default = default
        self.auth = auth
        self.api_key = api_key or default
        self.register = register
        self.tiers = {"anonymous": default, "customer": customer or default}
        self.tiers["staff"] = staff or self.tiers["customer"]
        self._secret = secret
        self._trusted = trusted_proxies

    @classmethod
    def from_settings(cls, settings: Settings, redis: Redis | None = None) -> RateLimiter:
        """Redis when a Redis client is given, memory otherwise; the setting's algorithm."""
        buckets: Buckets
        if settings.rate_limit_algorithm == "sliding_window":
            buckets = (
                RedisWindows(redis, prefix=settings.redis_prefix) if redis else MemoryWindows()
            )
        else:
            buckets = (
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
            customer=_tier_rule(settings, "customer"),
            staff=_tier_rule(settings, "staff"),
        )

    def identify(self, scope: Scope) -> tuple[str, str]:
        """The tier and key: (``customer``|``staff``, ``user:<id>``) for a valid bearer token,
        else (``anonymous``, ``ip:<address>``). Admins count as staff."""
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                try:
                    claims = decode_access_token(value[7:].decode("latin-1"), secret=self._secret)
                except InvalidToken:
                    break
                tier = "customer" if claims.role == "customer" else "staff"
                return tier, f"user:{claims.user_id}"
        return "anonymous", f"ip:{client_address(scope, self._trusted)}"

    async def charge(self, scope: Scope, cost: int) -> Decision:
        """Take ``cost`` more from the caller's limit (a GraphQL query's cost)."""
        tier, key = self.identify(scope)
        rule = self.tiers[tier]
        try:
            return await self.buckets.take(key, rule, cost)
        except Exception:  # fail open, as ``check`` does
            log.warning("rate limiter unavailable; request allowed", exc_info=True)
            return Decision(True, rule.capacity, rule.capacity, 0, 0)

    async def check(self, scope: Scope) -> tuple[str, Decision]:
        """Take a token for this request; returns the bucket name and the decision."""
        if scope["path"] == AUTH_PATH:
            name, rule = "auth", self.auth
        elif (scope["method"], scope["path"]) == REGISTER:
            name, rule = "register", self.register
        elif api_key_prefix(scope) is not None:
            name, rule = "api_key", self.api_key
        else:
            tier, key = self.identify(scope)
            name, rule = tier, self.tiers[tier]
        if name == "api_key":  # a limit per key, wherever it is used from
            key = f"key:{api_key_prefix(scope)}"
        elif name in ("auth", "register"):  # anonymous by nature: the address's, whatever token
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
