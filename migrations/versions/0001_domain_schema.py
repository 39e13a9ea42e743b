"""domain schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_geospatial_table('admin_units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=True),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("level IN ('district', 'street', 'community')", name=op.f('ck_admin_units_level_valid')),
    sa.ForeignKeyConstraint(['parent_id'], ['admin_units.id'], name=op.f('fk_admin_units_parent_id_admin_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_units')),
    sa.UniqueConstraint('code', name=op.f('uq_admin_units_code'))
    )
    op.create_geospatial_index('idx_admin_units_geom', 'admin_units', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_admin_units_level'), 'admin_units', ['level'], unique=False)
    op.create_index(op.f('ix_admin_units_parent_id'), 'admin_units', ['parent_id'], unique=False)
    op.create_table('annual_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('closure_area_m2', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('closure_count', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['unit_id'], ['admin_units.id'], name=op.f('fk_annual_targets_unit_id_admin_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_annual_targets')),
    sa.UniqueConstraint('year', 'unit_id', name='uq_annual_targets_year_unit')
    )
    op.create_geospatial_table('parcels',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=True),
    sa.Column('land_use', sa.String(length=40), nullable=True),
    sa.Column('street_id', sa.Integer(), nullable=True),
    sa.Column('community_id', sa.Integer(), nullable=True),
    sa.Column('area_m2', sa.Float(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['admin_units.id'], name=op.f('fk_parcels_community_id_admin_units')),
    sa.ForeignKeyConstraint(['street_id'], ['admin_units.id'], name=op.f('fk_parcels_street_id_admin_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_parcels')),
    sa.UniqueConstraint('code', name=op.f('uq_parcels_code'))
    )
    op.create_geospatial_index('idx_parcels_geom', 'parcels', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_parcels_community_id'), 'parcels', ['community_id'], unique=False)
    op.create_index(op.f('ix_parcels_street_id'), 'parcels', ['street_id'], unique=False)
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=60), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('street_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("role <> 'street' OR street_id IS NOT NULL", name=op.f('ck_users_street_role_has_street')),
    sa.CheckConstraint("role IN ('admin', 'office', 'street', 'drone', 'viewer')", name=op.f('ck_users_role_valid')),
    sa.ForeignKeyConstraint(['street_id'], ['admin_units.id'], name=op.f('fk_users_street_id_admin_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=60), nullable=True),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('target', sa.String(length=120), nullable=True),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_log_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False)
    op.create_geospatial_table('permits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('permit_no', sa.String(length=60), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('parcel_id', sa.BigInteger(), nullable=True),
    sa.Column('street_id', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['parcel_id'], ['parcels.id'], name=op.f('fk_permits_parcel_id_parcels')),
    sa.ForeignKeyConstraint(['street_id'], ['admin_units.id'], name=op.f('fk_permits_street_id_admin_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_permits')),
    sa.UniqueConstraint('permit_no', name=op.f('uq_permits_permit_no'))
    )
    op.create_geospatial_index('idx_permits_geom', 'permits', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_table('sorties',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('pilot', sa.String(length=60), nullable=False),
    sa.Column('drone', sa.String(length=60), nullable=True),
    sa.Column('flown_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('task', sa.String(length=200), nullable=True),
    sa.Column('street_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_sorties_created_by_users')),
    sa.ForeignKeyConstraint(['street_id'], ['admin_units.id'], name=op.f('fk_sorties_street_id_admin_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sorties')),
    sa.UniqueConstraint('code', name=op.f('uq_sorties_code'))
    )
    op.create_geospatial_index('idx_sorties_geom', 'sorties', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_sorties_flown_at'), 'sorties', ['flown_at'], unique=False)
    op.create_index(op.f('ix_sorties_pilot'), 'sorties', ['pilot'], unique=False)
    op.create_index(op.f('ix_sorties_street_id'), 'sorties', ['street_id'], unique=False)
    op.create_geospatial_table('violations',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('in_database', sa.Boolean(), nullable=False),
    sa.Column('vtype', sa.String(length=16), nullable=False),
    sa.Column('is_key', sa.Boolean(), nullable=False),
    sa.Column('area_m2', sa.Float(), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=True),
    sa.Column('street_id', sa.Integer(), nullable=True),
    sa.Column('parcel_id', sa.BigInteger(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('discovered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('status_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('rebuilt_from_id', sa.BigInteger(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("kind IN ('stock', 'new')", name=op.f('ck_violations_kind_valid')),
    sa.CheckConstraint("source IN ('imagery', 'patrol', 'complaint', 'database')", name=op.f('ck_violations_source_valid')),
    sa.CheckConstraint("status IN ('suspected', 'confirmed', 'dismissed', 'case_filed', 'demolished', 'permit_granted', 'annotated', 'annotation_lifted', 'regularised', 'closed')", name=op.f('ck_violations_status_valid')),
    sa.CheckConstraint("vtype IN ('villa', 'rooftop', 'courtyard', 'factory', 'pigeon_loft', 'shopfront', 'shed', 'other')", name=op.f('ck_violations_vtype_valid')),
    sa.CheckConstraint('area_m2 >= 0', name=op.f('ck_violations_area_nonnegative')),
    sa.ForeignKeyConstraint(['parcel_id'], ['parcels.id'], name=op.f('fk_violations_parcel_id_parcels')),
    sa.ForeignKeyConstraint(['rebuilt_from_id'], ['violations.id'], name=op.f('fk_violations_rebuilt_from_id_violations')),
    sa.ForeignKeyConstraint(['street_id'], ['admin_units.id'], name=op.f('fk_violations_street_id_admin_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_violations')),
    sa.UniqueConstraint('code', name=op.f('uq_violations_code'))
    )
    op.create_geospatial_index('idx_violations_geom', 'violations', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_violations_kind'), 'violations', ['kind'], unique=False)
    op.create_index(op.f('ix_violations_parcel_id'), 'violations', ['parcel_id'], unique=False)
    op.create_index(op.f('ix_violations_status'), 'violations', ['status'], unique=False)
    op.create_index(op.f('ix_violations_street_id'), 'violations', ['street_id'], unique=False)
    op.create_index(op.f('ix_violations_vtype'), 'violations', ['vtype'], unique=False)
    op.create_geospatial_table('complaints',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('ticket_no', sa.String(length=40), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('about', sa.String(length=8), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('address', sa.String(length=200), nullable=True),
    sa.Column('street_id', sa.Integer(), nullable=True),
    sa.Column('violation_id', sa.BigInteger(), nullable=True),
    sa.Column('is_key', sa.Boolean(), nullable=False),
    sa.Column('verdict', sa.String(length=8), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('explained_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("about IN ('stock', 'new')", name=op.f('ck_complaints_about_valid')),
    sa.CheckConstraint("verdict IN ('pending', 'true', 'untrue')", name=op.f('ck_complaints_verdict_valid')),
    sa.ForeignKeyConstraint(['street_id'], ['admin_units.id'], name=op.f('fk_complaints_street_id_admin_units')),
    sa.ForeignKeyConstraint(['violation_id'], ['violations.id'], name=op.f('fk_complaints_violation_id_violations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaints')),
    sa.UniqueConstraint('ticket_no', name=op.f('uq_complaints_ticket_no'))
    )
    op.create_geospatial_index('idx_complaints_geom', 'complaints', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_complaints_received_at'), 'complaints', ['received_at'], unique=False)
    op.create_index(op.f('ix_complaints_street_id'), 'complaints', ['street_id'], unique=False)
    op.create_index(op.f('ix_complaints_violation_id'), 'complaints', ['violation_id'], unique=False)
    op.create_geospatial_table('scenes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('original_name', sa.String(length=400), nullable=False),
    sa.Column('sensor', sa.String(length=10), nullable=False),
    sa.Column('captured_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('crs', sa.Text(), nullable=False),
    sa.Column('resolution_m', sa.Float(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('band_count', sa.Integer(), nullable=False),
    sa.Column('dtype', sa.String(length=10), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sortie_id', sa.Integer(), nullable=True),
    sa.Column('uploaded_by', sa.Integer(), nullable=True),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('footprint', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("sensor IN ('drone', 'satellite')", name=op.f('ck_scenes_sensor_valid')),
    sa.ForeignKeyConstraint(['sortie_id'], ['sorties.id'], name=op.f('fk_scenes_sortie_id_sorties')),
    sa.ForeignKeyConstraint(['uploaded_by'], ['users.id'], name=op.f('fk_scenes_uploaded_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scenes')),
    sa.UniqueConstraint('sha256', name=op.f('uq_scenes_sha256'))
    )
    op.create_geospatial_index('idx_scenes_footprint', 'scenes', ['footprint'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_scenes_captured_at'), 'scenes', ['captured_at'], unique=False)
    op.create_index(op.f('ix_scenes_sortie_id'), 'scenes', ['sortie_id'], unique=False)
    op.create_table('violation_events',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('violation_id', sa.BigInteger(), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('evidence', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('area_m2', sa.Float(), nullable=True),
    sa.CheckConstraint("from_status IS NULL OR from_status IN ('suspected', 'confirmed', 'dismissed', 'case_filed', 'demolished', 'permit_granted', 'annotated', 'annotation_lifted', 'regularised', 'closed')", name=op.f('ck_violation_events_from_status_valid')),
    sa.CheckConstraint("to_status IN ('suspected', 'confirmed', 'dismissed', 'case_filed', 'demolished', 'permit_granted', 'annotated', 'annotation_lifted', 'regularised', 'closed')", name=op.f('ck_violation_events_to_status_valid')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_violation_events_actor_id_users')),
    sa.ForeignKeyConstraint(['violation_id'], ['violations.id'], name=op.f('fk_violation_events_violation_id_violations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_violation_events'))
    )
    op.create_index(op.f('ix_violation_events_occurred_at'), 'violation_events', ['occurred_at'], unique=False)
    op.create_index(op.f('ix_violation_events_to_status'), 'violation_events', ['to_status'], unique=False)
    op.create_index(op.f('ix_violation_events_violation_id'), 'violation_events', ['violation_id'], unique=False)
    op.create_table('detection_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scene_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("state IN ('queued', 'running', 'done', 'failed')", name=op.f('ck_detection_jobs_state_valid')),
    sa.ForeignKeyConstraint(['scene_id'], ['scenes.id'], name=op.f('fk_detection_jobs_scene_id_scenes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_detection_jobs')),
    sa.UniqueConstraint('scene_id', name=op.f('uq_detection_jobs_scene_id'))
    )
    op.create_geospatial_table('detections',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('scene_id', sa.Integer(), nullable=False),
    sa.Column('before_scene_id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('change', sa.String(length=12), nullable=False),
    sa.Column('klass', sa.String(length=20), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('area_m2', sa.Float(), nullable=False),
    sa.Column('area_before_m2', sa.Float(), nullable=True),
    sa.Column('before_captured_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('after_captured_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('street_id', sa.Integer(), nullable=True),
    sa.Column('parcel_id', sa.BigInteger(), nullable=True),
    sa.Column('violation_id', sa.BigInteger(), nullable=True),
    sa.Column('permit_id', sa.Integer(), nullable=True),
    sa.Column('review_status', sa.String(length=12), nullable=False),
    sa.Column('reviewed_by', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('review_note', sa.Text(), nullable=True),
    sa.Column('chip_before', sa.String(length=400), nullable=True),
    sa.Column('chip_after', sa.String(length=400), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("change IN ('appeared', 'disappeared')", name=op.f('ck_detections_change_valid')),
    sa.CheckConstraint("klass IN ('new_suspect', 'known_changed', 'demolition_evidence', 'permitted', 'unmatched')", name=op.f('ck_detections_klass_valid')),
    sa.CheckConstraint("review_status IN ('pending', 'confirmed', 'dismissed', 'merged', 'not_queued')", name=op.f('ck_detections_review_status_valid')),
    sa.ForeignKeyConstraint(['before_scene_id'], ['scenes.id'], name=op.f('fk_detections_before_scene_id_scenes')),
    sa.ForeignKeyConstraint(['parcel_id'], ['parcels.id'], name=op.f('fk_detections_parcel_id_parcels')),
    sa.ForeignKeyConstraint(['permit_id'], ['permits.id'], name=op.f('fk_detections_permit_id_permits')),
    sa.ForeignKeyConstraint(['reviewed_by'], ['users.id'], name=op.f('fk_detections_reviewed_by_users')),
    sa.ForeignKeyConstraint(['scene_id'], ['scenes.id'], name=op.f('fk_detections_scene_id_scenes')),
    sa.ForeignKeyConstraint(['street_id'], ['admin_units.id'], name=op.f('fk_detections_street_id_admin_units')),
    sa.ForeignKeyConstraint(['violation_id'], ['violations.id'], name=op.f('fk_detections_violation_id_violations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_detections')),
    sa.UniqueConstraint('scene_id', 'before_scene_id', 'fingerprint', name='uq_detections_identity')
    )
    op.create_geospatial_index('idx_detections_geom', 'detections', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_detections_klass'), 'detections', ['klass'], unique=False)
    op.create_index(op.f('ix_detections_review_status'), 'detections', ['review_status'], unique=False)
    op.create_index(op.f('ix_detections_scene_id'), 'detections', ['scene_id'], unique=False)
    op.create_index(op.f('ix_detections_street_id'), 'detections', ['street_id'], unique=False)
    op.create_index(op.f('ix_detections_violation_id'), 'detections', ['violation_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_detections_violation_id'), table_name='detections')
    op.drop_index(op.f('ix_detections_street_id'), table_name='detections')
    op.drop_index(op.f('ix_detections_scene_id'), table_name='detections')
    op.drop_index(op.f('ix_detections_review_status'), table_name='detections')
    op.drop_index(op.f('ix_detections_klass'), table_name='detections')
    op.drop_geospatial_index('idx_detections_geom', table_name='detections', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('detections')
    op.drop_table('detection_jobs')
    op.drop_index(op.f('ix_violation_events_violation_id'), table_name='violation_events')
    op.drop_index(op.f('ix_violation_events_to_status'), table_name='violation_events')
    op.drop_index(op.f('ix_violation_events_occurred_at'), table_name='violation_events')
    op.drop_table('violation_events')
    op.drop_index(op.f('ix_scenes_sortie_id'), table_name='scenes')
    op.drop_index(op.f('ix_scenes_captured_at'), table_name='scenes')
    op.drop_geospatial_index('idx_scenes_footprint', table_name='scenes', postgresql_using='gist', column_name='footprint')
    op.drop_geospatial_table('scenes')
    op.drop_index(op.f('ix_complaints_violation_id'), table_name='complaints')
    op.drop_index(op.f('ix_complaints_street_id'), table_name='complaints')
    op.drop_index(op.f('ix_complaints_received_at'), table_name='complaints')
    op.drop_geospatial_index('idx_complaints_geom', table_name='complaints', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('complaints')
    op.drop_index(op.f('ix_violations_vtype'), table_name='violations')
    op.drop_index(op.f('ix_violations_street_id'), table_name='violations')
    op.drop_index(op.f('ix_violations_status'), table_name='violations')
    op.drop_index(op.f('ix_violations_parcel_id'), table_name='violations')
    op.drop_index(op.f('ix_violations_kind'), table_name='violations')
    op.drop_geospatial_index('idx_violations_geom', table_name='violations', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('violations')
    op.drop_index(op.f('ix_sorties_street_id'), table_name='sorties')
    op.drop_index(op.f('ix_sorties_pilot'), table_name='sorties')
    op.drop_index(op.f('ix_sorties_flown_at'), table_name='sorties')
    op.drop_geospatial_index('idx_sorties_geom', table_name='sorties', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('sorties')
    op.drop_geospatial_index('idx_permits_geom', table_name='permits', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('permits')
    op.drop_index(op.f('ix_audit_log_at'), table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_table('users')
    op.drop_index(op.f('ix_parcels_street_id'), table_name='parcels')
    op.drop_index(op.f('ix_parcels_community_id'), table_name='parcels')
    op.drop_geospatial_index('idx_parcels_geom', table_name='parcels', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('parcels')
    op.drop_table('annual_targets')
    op.drop_index(op.f('ix_admin_units_parent_id'), table_name='admin_units')
    op.drop_index(op.f('ix_admin_units_level'), table_name='admin_units')
    op.drop_geospatial_index('idx_admin_units_geom', table_name='admin_units', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('admin_units')
