"""Orders gain the status payment_pending: accepted while the payment provider is down.

Revision ID: 0005_payment_pending
Revises: 0004_async
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0005_payment_pending"
down_revision = "0004_async"
branch_labels = None
depends_on = None

_BEFORE = "status IN ('placed', 'paid', 'shipped', 'cancelled')"
_AFTER = "status IN ('placed', 'payment_pending', 'paid', 'shipped', 'cancelled')"


def _allow(condition: str) -> None:
    # batch mode: SQLite cannot alter a constraint in place, so the table is rebuilt there.
    with op.batch_alter_table("orders") as batch_op:
        batch_op.drop_constraint(op.f("ck_orders_status_known"), type_="check")
        batch_op.create_check_constraint(op.f("ck_orders_status_known"), condition)


def upgrade() -> None:
    _allow(_AFTER)


def downgrade() -> None:
    op.execute("UPDATE orders SET status = 'placed' WHERE status = 'payment_pending'")
    _allow(_BEFORE)
