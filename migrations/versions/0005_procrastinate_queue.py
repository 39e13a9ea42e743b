"""procrastinate job queue schema

The durable job queue (``geo.queue``) lives in the same PostgreSQL. Its schema is the SQL
that the installed procrastinate ships (``procrastinate.schema.SchemaManager.get_schema``);
a later procrastinate upgrade applies procrastinate's own migration files on top.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DROP = r"""
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT event_object_table AS tbl, trigger_name FROM information_schema.triggers
             WHERE trigger_name LIKE 'procrastinate\_%' AND event_object_schema = current_schema() LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', r.trigger_name, r.tbl);
    END LOOP;
    FOR r IN SELECT tablename FROM pg_tables
             WHERE tablename LIKE 'procrastinate\_%' AND schemaname = current_schema() LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', r.tablename);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE p.proname LIKE 'procrastinate\_%' AND n.nspname = current_schema() LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', r.sig);
    END LOOP;
    FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE t.typname LIKE 'procrastinate\_%' AND t.typtype IN ('e', 'c') AND n.nspname = current_schema() LOOP
        EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', r.typname);
    END LOOP;
END $$;
"""


def upgrade() -> None:
    from procrastinate.schema import SchemaManager

    op.execute(SchemaManager.get_schema())


def downgrade() -> None:
    op.execute(DROP)
