"""Batches over an inbox and what each did with each file (issue 15): `batches` and `batch_files`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

Two new tables and nothing else changed, so a store at 0001 keeps every row and needs no ALTER TABLE
(which SQLite lacks); readings are referenced, never touched.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('batches',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('inbox', sa.Text(), nullable=False),
    sa.Column('records', sa.Text(), nullable=False),
    sa.Column('reportscan_version', sa.String(length=64), nullable=False),
    sa.Column('config_hash', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('files', sa.Integer(), nullable=False),
    sa.Column('read', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('tables', sa.Integer(), nullable=False),
    sa.Column('fields', sa.Integer(), nullable=False),
    sa.Column('fields_needing_review', sa.Integer(), nullable=False),
    sa.Column('review_items', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_batches_inbox', 'batches', ['inbox', 'state'], unique=False)
    op.create_index('ix_batches_started', 'batches', ['started_at'], unique=False)

    op.create_table('batch_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('stage', sa.String(length=32), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('moved_to', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reading_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reading_id'], ['readings.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('batch_id', 'name', name='uq_batch_files_name')
    )
    op.create_index('ix_batch_files_name', 'batch_files', ['name'], unique=False)
    op.create_index('ix_batch_files_sha256', 'batch_files', ['sha256'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_batch_files_sha256', table_name='batch_files')
    op.drop_index('ix_batch_files_name', table_name='batch_files')
    op.drop_table('batch_files')
    op.drop_index('ix_batches_started', table_name='batches')
    op.drop_index('ix_batches_inbox', table_name='batches')
    op.drop_table('batches')
