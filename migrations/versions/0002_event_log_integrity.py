"""Event log integrity: append-only log, chained statuses, status equals last event

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


UPGRADE = r"""
CREATE FUNCTION violation_events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'violation_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER violation_events_append_only
    BEFORE UPDATE OR DELETE ON violation_events
    FOR EACH ROW EXECUTE FUNCTION violation_events_reject_change();

CREATE TRIGGER violation_events_no_truncate
    BEFORE TRUNCATE ON violation_events
    FOR EACH STATEMENT EXECUTE FUNCTION violation_events_reject_change();

-- Each event must start where the previous one ended.
CREATE FUNCTION violation_events_check_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_status text;
BEGIN
    PERFORM 1 FROM violations WHERE id = NEW.violation_id FOR UPDATE;
    SELECT to_status INTO last_status FROM violation_events
        WHERE violation_id = NEW.violation_id ORDER BY id DESC LIMIT 1;
    IF NEW.from_status IS DISTINCT FROM last_status THEN
        RAISE EXCEPTION 'event for violation % starts at % but the item is at %',
            NEW.violation_id, coalesce(NEW.from_status, 'nothing'), coalesce(last_status, 'nothing')
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER violation_events_chain
    BEFORE INSERT ON violation_events
    FOR EACH ROW EXECUTE FUNCTION violation_events_check_chain();

-- At commit, an item's status equals its last event's.
CREATE FUNCTION violations_check_status() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_status text;
    now_status text;
BEGIN
    SELECT status INTO now_status FROM violations WHERE id = NEW.id;
    IF now_status IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT to_status INTO last_status FROM violation_events
        WHERE violation_id = NEW.id ORDER BY id DESC LIMIT 1;
    IF last_status IS DISTINCT FROM now_status THEN
        RAISE EXCEPTION 'violation % has status % but its last event says %',
            NEW.id, now_status, coalesce(last_status, 'nothing')
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER violations_status_matches_log
    AFTER INSERT OR UPDATE OF status ON violations
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION violations_check_status();
"""

DOWNGRADE = r"""
DROP TRIGGER IF EXISTS violations_status_matches_log ON violations;
DROP FUNCTION IF EXISTS violations_check_status();
DROP TRIGGER IF EXISTS violation_events_chain ON violation_events;
DROP FUNCTION IF EXISTS violation_events_check_chain();
DROP TRIGGER IF EXISTS violation_events_no_truncate ON violation_events;
DROP TRIGGER IF EXISTS violation_events_append_only ON violation_events;
DROP FUNCTION IF EXISTS violation_events_reject_change();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
