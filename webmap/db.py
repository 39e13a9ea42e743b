"""The database seen from a request: the app's engine, a per-request session, the user's scope."""

from __future__ import annotations

from typing import Any

from flask import current_app, g
from flask_login import current_user
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from geo.errors import PermissionDenied
from geo.models import Role, User
from geo.scope import Scope


def engine() -> Engine:
    """The application's engine."""
    eng: Engine = current_app.extensions["weijian"]["engine"]
    return eng


def session() -> Session:
    """The request's session (opened on first use, closed at teardown)."""
    if "db" not in g:
        factory: sessionmaker[Session] = current_app.extensions["weijian"]["sessions"]
        g.db = factory()
    sess: Session = g.db
    return sess


def close_session(_exc: BaseException | None = None) -> None:
    """Teardown: roll back anything uncommitted and close the session."""
    sess = g.pop("db", None)
    if sess is not None:
        sess.close()


def scope() -> Scope:
    """The scope of the logged-in user.

    Raises:
        PermissionDenied: nobody is logged in.
    """
    if not current_user.is_authenticated:
        raise PermissionDenied("please log in")
    role = Role(current_user.role)
    street = current_user.street_id if role == Role.STREET else None
    if role == Role.STREET and street is None:
        street = -1
    return Scope(user_id=current_user.id, role=role, street_id=street)


def db_user() -> User:
    """The logged-in user as a row of the request's session.

    Raises:
        PermissionDenied: nobody is logged in.
    """
    if not current_user.is_authenticated:
        raise PermissionDenied("please log in")
    user = session().get(User, current_user.id)
    if user is None or not user.active:
        raise PermissionDenied("your account is no longer active")
    return user


def client_ip() -> str | None:
    """The client's address as the WSGI server saw it."""
    from flask import request

    return request.remote_addr


def settings_value(key: str, default: Any = None) -> Any:
    """A configuration value of the current app."""
    return current_app.config.get(key, default)
