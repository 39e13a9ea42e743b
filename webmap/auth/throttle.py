"""Login rate limiting, counted from the audit trail (so it holds across server processes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.models import AuditEntry
from webmap.errors import TooManyAttempts

FAILED = "login_failed"
SUCCEEDED = "login"


def check(session: Session, username: str, ip: str | None, max_failures: int, window_minutes: int,
          max_failures_per_ip: int = 50) -> None:
    """Refuse a login attempt after too many recent failures for the name or the address.

    Failures of a name count within the window and since its last successful login; an
    address (an office behind one NAT) may fail ``max_failures_per_ip`` times in the window.

    Raises:
        TooManyAttempts: naming how long to wait.
    """
    since = datetime.now(UTC) - timedelta(minutes=window_minutes)
    last_ok = session.scalar(
        select(func.max(AuditEntry.at)).where(AuditEntry.action == SUCCEEDED, AuditEntry.username == username)
    )
    by_name_since = max(since, last_ok) if last_ok else since
    by_name = session.scalar(
        select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == FAILED, AuditEntry.username == username, AuditEntry.at > by_name_since)
    ) or 0
    by_ip = 0
    if ip:
        by_ip = session.scalar(
            select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action == FAILED, AuditEntry.ip == ip, AuditEntry.at > since)
        ) or 0
    if by_name >= max_failures or by_ip >= max_failures_per_ip:
        raise TooManyAttempts(
            f"too many failed logins; try again in {window_minutes} minutes / "
            f"登录失败次数过多，请 {window_minutes} 分钟后再试"
        )
