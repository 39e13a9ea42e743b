"""The audit trail: every login and every state change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from geo.models import AuditEntry, User


def record(session: Session, action: str, user: User | None = None, target: str | None = None,
           detail: dict[str, Any] | None = None, ip: str | None = None, username: str | None = None) -> AuditEntry:
    """Append an audit entry in the caller's transaction."""
    entry = AuditEntry(
        user_id=user.id if user else None,
        username=user.username if user else username,
        action=action,
        target=target,
        detail=detail or {},
        ip=ip,
    )
    session.add(entry)
    return entry
