"""identity generation counter

Revision ID: identity_0002
Revises: 0001
Create Date: 2026-11-24 04:45:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = 'identity_0002'
down_revision = '0001'
branch_labels = ('identity',)
depends_on = None


def upgrade() -> None:
    table = op.create_table('identity_generation',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_generation'))
    )
    op.bulk_insert(table, [{'id': 1, 'value': 0}])


def downgrade() -> None:
    op.drop_table('identity_generation')
