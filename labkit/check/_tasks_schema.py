"""Module 02 (schema design): constraints that reject bad rows, money as integer cents."""

from __future__ import annotations

from labkit.check._registry import Failed, task
from labkit.check._sql import columns, probe_rows, scratch

_COUPON = (
    "INSERT INTO coupons (code, percent_off, max_uses, expires_at) "
    "VALUES (:code, :percent_off, :max_uses, :expires_at)"
)
_GOOD_COUPON: dict[str, object] = {
    "code": "WELCOME10",
    "percent_off": 10,
    "max_uses": 100,
    "expires_at": "2027-01-01",
}
# Each bad row differs from the good one in one field, so a refusal names its constraint.
_BAD_COUPONS: dict[str, dict[str, object]] = {
    "a second coupon with the same code": {},
    "a coupon without a code": {"code": None},
    "percent_off = 0": {"code": "ZERO", "percent_off": 0},
    "percent_off = 95 (above the 90 % cap)": {"code": "BIG", "percent_off": 95},
    "max_uses = 0": {"code": "NONE", "max_uses": 0},
    "a coupon without expires_at": {"code": "FOREVER", "expires_at": None},
}


@task(
    "02.1",
    "coupons_table",
    title="A coupons table whose constraints refuse bad rows",
    hints=(
        "Every rule in the task is a constraint: NOT NULL, UNIQUE or CHECK.",
        "A CHECK can hold a range: CHECK (percent_off BETWEEN 1 AND 90).",
        "The code must be both NOT NULL and UNIQUE; max_uses needs CHECK (max_uses > 0).",
    ),
)
def coupons_table(ddl: str) -> None:
    """The good coupon goes in; each bad one is refused by a constraint."""
    with scratch(ddl) as con:
        columns(con, "coupons")
        probe_rows(con, _COUPON, _GOOD_COUPON, _BAD_COUPONS, good_label="WELCOME10, 10 % off")


_ORDERS = (
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, total_cents INTEGER NOT NULL);"
    "INSERT INTO orders VALUES (1, 2500);"
)
_PAYMENT = (
    "INSERT INTO payments (order_id, amount_cents, currency) "
    "VALUES (:order_id, :amount_cents, :currency)"
)
_GOOD_PAYMENT: dict[str, object] = {"order_id": 1, "amount_cents": 2500, "currency": "EUR"}
_BAD_PAYMENTS: dict[str, dict[str, object]] = {
    "a payment for order 999, which does not exist": {"order_id": 999},
    "amount_cents = 0": {"amount_cents": 0},
    "amount_cents = -500": {"amount_cents": -500},
    "currency 'EURO' (not three letters)": {"currency": "EURO"},
    "a payment without a currency": {"currency": None},
}


@task(
    "02.2",
    "payments_table",
    title="Payments in integer cents, tied to their order",
    hints=(
        "Money is counted, not measured: an integer number of cents never rounds.",
        "order_id needs REFERENCES orders (id); amounts need CHECK (amount_cents > 0).",
        "length(currency) = 3 in a CHECK refuses 'EURO'; NOT NULL refuses a missing one.",
    ),
)
def payments_table(ddl: str) -> None:
    """amount_cents is an integer column; a real order's payment goes in, bad ones do not."""
    with scratch(ddl, setup=_ORDERS) as con:
        declared = columns(con, "payments").get("amount_cents", "")
        if "INT" not in declared:
            raise Failed(
                f"amount_cents is declared {declared or 'without a type'}; money belongs in an "
                "INTEGER column of cents"
            )
        probe_rows(con, _PAYMENT, _GOOD_PAYMENT, _BAD_PAYMENTS, good_label="order 1, 2500 cents")
