"""The logged-in user as Flask-Login sees it (a plain, detached copy of the row)."""

from __future__ import annotations

from dataclasses import dataclass

from flask_login import UserMixin
from sqlalchemy import select

from geo.models import User
from webmap import db as webdb


@dataclass
class WebUser(UserMixin):
    """What every request needs to know about its user."""

    id: int
    username: str
    display_name: str
    role: str
    street_id: int | None
    street_name: str | None = None

    def get_id(self) -> str:
        return str(self.id)

    @property
    def label(self) -> str:
        return self.display_name or self.username


def load_user(user_id: str) -> WebUser | None:
    """Flask-Login's user loader: the active user with this id, else None."""
    if not user_id.isdigit():
        return None
    from geo.models import AdminUnit

    row = webdb.session().execute(
        select(User.id, User.username, User.display_name, User.role, User.street_id, User.active, AdminUnit.name)
        .outerjoin(AdminUnit, AdminUnit.id == User.street_id)
        .where(User.id == int(user_id))
    ).one_or_none()
    if row is None or not row.active:
        return None
    return WebUser(id=row.id, username=row.username, display_name=row.display_name or row.username,
                   role=row.role, street_id=row.street_id, street_name=row.name)
