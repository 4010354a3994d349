"""compute block device mappings

Revision ID: compute_0002
Revises: compute_0001
Create Date: 2026-11-24 04:55:00.000000
"""

from alembic import op
import sqlalchemy as sa
import onestack.core.db


revision = 'compute_0002'
down_revision = 'compute_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('compute_block_device_mappings',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('volume_id', sa.String(length=36), nullable=True),
    sa.Column('source_type', sa.String(length=16), nullable=False),
    sa.Column('destination_type', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.String(length=36), nullable=True),
    sa.Column('volume_size', sa.Integer(), nullable=True),
    sa.Column('volume_type', sa.String(length=255), nullable=True),
    sa.Column('boot_index', sa.Integer(), nullable=True),
    sa.Column('device_name', sa.String(length=64), nullable=True),
    sa.Column('tag', sa.String(length=60), nullable=True),
    sa.Column('delete_on_termination', sa.Boolean(), nullable=False),
    sa.Column('attachment_id', sa.String(length=36), nullable=True),
    sa.Column('connection_info', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', onestack.core.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', onestack.core.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['compute_instances.id'],
                            name=op.f('fk_compute_block_device_mappings_instance_id_compute_instances'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_block_device_mappings'))
    )
    with op.batch_alter_table('compute_block_device_mappings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_compute_block_device_mappings_instance_id'), ['instance_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_compute_block_device_mappings_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_compute_block_device_mappings_volume_id'), ['volume_id'],
                              unique=False)


def downgrade() -> None:
    op.drop_table('compute_block_device_mappings')
