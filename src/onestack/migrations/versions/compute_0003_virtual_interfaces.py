"""compute virtual interfaces (os-interface attach/detach requests and tags)

Revision ID: compute_0003
Revises: compute_0002
Create Date: 2026-11-24 07:50:00.000000
"""

from alembic import op
import sqlalchemy as sa
import onestack.core.db


revision = 'compute_0003'
down_revision = 'compute_0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('compute_virtual_interfaces',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('port_id', sa.String(length=36), nullable=False),
    sa.Column('tag', sa.String(length=60), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('fault', sa.JSON(), nullable=True),
    sa.Column('created_at', onestack.core.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', onestack.core.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['compute_instances.id'],
                            name=op.f('fk_compute_virtual_interfaces_instance_id_compute_instances'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_virtual_interfaces'))
    )
    with op.batch_alter_table('compute_virtual_interfaces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_compute_virtual_interfaces_instance_id'), ['instance_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_compute_virtual_interfaces_port_id'), ['port_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_compute_virtual_interfaces_status'), ['status'], unique=False)


def downgrade() -> None:
    op.drop_table('compute_virtual_interfaces')
