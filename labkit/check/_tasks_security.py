"""Module 07 (auth and security): a token check that agrees with the service; a refund policy."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jwt

from labkit.check._registry import Failed, task
from labkit.check._shop import live_shop
from labkit.security import decode_jwt, forged_tokens


def _tokens(secret: str) -> dict[str, str]:
    """A token the service issued, the lesson's four forgeries, and three more it refuses."""
    with live_shop().login("customer") as client:
        issued = client.headers["Authorization"].removeprefix("Bearer ")
    claims = decode_jwt(issued)["claims"]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    return {
        "a token the service issued": issued,
        **{f"a forgery ({name})": token for name, token in forged_tokens(issued, secret=secret).items()},
        "a token signed with HS512": jwt.encode(claims, secret, algorithm="HS512"),
        "a token without an expiry": jwt.encode(
            {k: v for k, v in claims.items() if k != "exp"}, secret, algorithm="HS256"
        ),
        "a token not valid for ten minutes (nbf)": jwt.encode(
            {**claims, "nbf": later}, secret, algorithm="HS256"
        ),
    }  # fmt: skip


@task(
    "07.1",
    "access_token_claims",
    title="Verify an access token as strictly as the service does",
    hints=(
        "The check sends 8 tokens (3 of them you have not seen) to your function and to the "
        "service's GET /v1/users/me; accept exactly those the service answers 200.",
        "Never let the token choose how it is checked: its header is written by whoever made it.",
        "jwt.decode with the key, one pinned algorithm, and the claims you require "
        "(options={'require': [...]}); let every other error propagate.",
    ),
)
def access_token_claims(claims_of: Callable[[str, str], dict[str, Any]]) -> None:
    """Each token accepted (claims returned) or refused (an exception) as the live service does."""
    if not callable(claims_of):
        raise Failed("pass the function itself: lk.check('07.1', access_claims)")
    secret = live_shop().settings["jwt_secret"]
    with live_shop().client() as client:
        for name, token in _tokens(secret).items():
            status = client.get(
                "/v1/users/me", headers={"Authorization": f"Bearer {token}"}
            ).status_code
            try:
                claims = claims_of(token, secret)
            except Exception:  # any exception is a refusal
                if status == 200:
                    raise Failed(f"you refused {name}, which the service accepts") from None
                continue
            if status != 200:
                raise Failed(f"you accepted {name}; the service answers {status} to it")
            if not isinstance(claims, dict) or claims.get("role") != "customer":
                raise Failed(f"for {name} return its claims (a dict with 'sub' and 'role')")


class _User(NamedTuple):
    id: int
    role: str


class _Order(NamedTuple):
    id: int
    user_id: int
    status: str
    total_cents: int
    created_at: dt.datetime


_NOW = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC)
_STAFF, _ADMIN, _ALICE = _User(2, "staff"), _User(1, "admin"), _User(3, "customer")


def _order(owner: _User, status: str = "paid", total: int = 60_000, days: float = 3) -> _Order:
    return _Order(40 + owner.id, owner.id, status, total, _NOW - dt.timedelta(days=days))


# (who, the order, amount, allowed?, the case in words); the check shows only a failing case.
_REFUND_CASES: tuple[tuple[_User, _Order, int, bool, str], ...] = (
    (_STAFF, _order(_ALICE), 5_000, True, "staff refunding 50.00 of a customer's paid order"),
    (_ADMIN, _order(_ALICE, "shipped", days=10), 50_000, True,
     "an admin refunding 500.00 of a 600.00 shipped order, 10 days old"),
    (_ALICE, _order(_ALICE), 5_000, False, "a customer refunding her own paid order"),
    (_STAFF, _order(_STAFF), 5_000, False, "staff refunding 50.00 of their own paid order"),
    (_ADMIN, _order(_ADMIN), 5_000, False, "an admin refunding their own paid order"),
    (_STAFF, _order(_ALICE), 15_000, False, "staff refunding 150.00 (over their 100.00 limit)"),
    (_STAFF, _order(_ALICE), 10_000, True, "staff refunding exactly 100.00"),
    (_ADMIN, _order(_ALICE, total=8_000), 9_000, False,
     "an admin refunding 90.00 of an 80.00 order"),
    (_STAFF, _order(_ALICE, "placed"), 5_000, False, "staff refunding an order not yet paid"),
    (_STAFF, _order(_ALICE, "cancelled"), 5_000, False, "staff refunding a cancelled order"),
    (_STAFF, _order(_ALICE, days=40), 5_000, False, "staff refunding a paid order 40 days old"),
    (_STAFF, _order(_ALICE, days=30), 5_000, True, "staff refunding a paid order exactly 30 days old"),
    (_STAFF, _order(_ALICE), 0, False, "staff refunding 0.00"),
    (_User(7, "auditor"), _order(_ALICE), 100, False, "a user of role 'auditor' refunding 1.00"),
)  # fmt: skip


@task(
    "07.2",
    "refund_policy",
    title="A refund rule that reads the user, the order and the request",
    hints=(
        "The check decides 14 cases it does not show you and names the first one your "
        "function gets wrong; read the rule in the task again for that case.",
        "Attribute-based: the answer depends on who asks, whose order it is, its status and "
        "age, and how much is asked, not on the role alone.",
        "Start from `return False` and add each condition under which a refund is allowed; "
        "anything you did not think of stays refused (default deny).",
    ),
)
def refund_policy(may_refund: Callable[[Any, Any, int, dt.datetime], bool]) -> None:
    """Every hidden case decided as the rule says."""
    if not callable(may_refund):
        raise Failed("pass the function itself: lk.check('07.2', may_refund)")
    for number, (user, order, amount, allowed, words) in enumerate(_REFUND_CASES, start=1):
        try:
            decision = may_refund(user, order, amount, _NOW)
        except Exception as exc:  # the learner's error is the reason
            raise Failed(f"case {number} ({words}) raised {type(exc).__name__}: {exc}") from None
        if not isinstance(decision, bool):
            raise Failed(f"case {number} returned {decision!r}; return True or False")
        if decision != allowed:
            seen, ought = ("allowed", "refused") if decision else ("refused", "allowed")
            raise Failed(
                f"case {number} of {len(_REFUND_CASES)}, {words}: {seen}, should be {ought}"
            )


_RESET_TTL = dt.timedelta(hours=1)
_MIN_BITS = 128


def _bits(tokens: list[str]) -> float:
    """Entropy of a token if its characters are drawn uniformly from those seen in all of them."""
    alphabet = len(set("".join(tokens)))
    return min(map(len, tokens)) * math.log2(max(alphabet, 2))


@task(
    "07.3",
    "password_reset_tokens",
    title="Password-reset tokens that a leaked table cannot replay",
    hints=(
        "The check issues 200 tokens, reads the store you were given as an attacker with a "
        "copy of the table would, and redeems tokens late, twice, and after a newer one.",
        "Keep in the store what lets you recognise a token, not the token: a digest, as the "
        "service does for refresh tokens and API keys.",
        "Issue with the secrets module, key the store by a digest of the token, delete an entry "
        "when it is redeemed, and a user's older entries when a new one is issued.",
    ),
)
def password_reset_tokens(functions: tuple[Callable[..., str], Callable[..., Any]]) -> None:
    """Works once, for one hour, for its own user only; unguessable; not readable from the store."""
    if not (isinstance(functions, tuple) and len(functions) == 2 and all(map(callable, functions))):
        raise Failed("pass both functions: lk.check('07.3', (issue_reset, redeem_reset))")
    issue, redeem = functions
    store: dict[Any, Any] = {}
    token = issue(store, 3, _NOW)
    if not isinstance(token, str) or redeem(store, token, _NOW + dt.timedelta(minutes=5)) != 3:
        raise Failed("a token issued for user 3 did not redeem to 3 five minutes later")
    tokens = [issue(store, 100 + n, _NOW) for n in range(200)]
    if (bits := _bits(tokens)) < _MIN_BITS:
        raise Failed(f"a token carries about {bits:.0f} bits; guessing needs to be hopeless "
                     f"(at least {_MIN_BITS})")  # fmt: skip
    if len(set(tokens)) < len(tokens):
        raise Failed(f"{len(tokens) - len(set(tokens))} of 200 tokens repeated an earlier one")
    table = repr(store)
    if leaked := [t for t in tokens if t in table]:
        raise Failed(f"the store holds {len(leaked)} token(s) as they are: a copy of the table "
                     "resets anyone's password")  # fmt: skip
    _judge_redeeming(issue, redeem, store)


def _judge_redeeming(
    issue: Callable[..., str], redeem: Callable[..., Any], store: dict[Any, Any]
) -> None:
    soon = _NOW + dt.timedelta(minutes=5)
    token = issue(store, 4, _NOW)
    first, second = redeem(store, token, soon), redeem(store, token, soon)
    if (first, second) != (4, None):
        raise Failed(f"redeemed twice, a token gave {first!r} then {second!r}; it works once")
    late = issue(store, 5, _NOW)
    if (got := redeem(store, late, _NOW + _RESET_TTL + dt.timedelta(minutes=1))) is not None:
        raise Failed(f"a token redeemed 61 minutes after it was issued gave {got!r}")
    older, newer = issue(store, 6, _NOW), issue(store, 6, _NOW + dt.timedelta(minutes=1))
    if (got := redeem(store, older, soon)) is not None:
        raise Failed(f"a token still worked ({got!r}) after a newer one was issued to its user")
    if redeem(store, newer, soon) != 6:
        raise Failed("the newest token of a user did not redeem")
    if (got := redeem(store, "not-a-token-" + "x" * 40, soon)) is not None:
        raise Failed(f"a made-up token redeemed to {got!r}")
