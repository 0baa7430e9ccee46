"""faq events: a nonce, so "Did you mean" buttons cannot be forged from a guessed id

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("faq_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nonce", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("faq_events", schema=None) as batch_op:
        batch_op.drop_column("nonce")
