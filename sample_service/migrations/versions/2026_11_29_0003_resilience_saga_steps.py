"""Saga steps: each step of an order's checkout recorded once, for compensation and recovery.

Revision ID: 0003_resilience
Revises: 0002_security
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_resilience"
down_revision = "0002_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "saga_steps",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "step IN ('stock_reserved', 'payment_pending', 'payment_authorized', "
            "'order_confirmed', 'payment_failed', 'stock_released')",
            name=op.f("ck_saga_steps_step_known"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_saga_steps_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saga_steps")),
        sa.UniqueConstraint("order_id", "step", name=op.f("uq_saga_steps_order_id_step")),
    )


def downgrade() -> None:
    op.drop_table("saga_steps")
