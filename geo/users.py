"""Users, roles and password hashes (argon2)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.errors import NotFound, ValidationError
from geo.models import AdminUnit, Role, UnitLevel, User

_hasher = PasswordHasher()
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    """Argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(user: User, password: str) -> bool:
    """Whether ``password`` matches the user's hash (constant-time)."""
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def find_street(session: Session, name_or_code: str) -> AdminUnit:
    """The street/town unit with this name or code.

    Raises:
        NotFound: no such street.
    """
    unit = session.scalar(
        select(AdminUnit).where(
            AdminUnit.level == UnitLevel.STREET.value,
            (AdminUnit.name == name_or_code) | (AdminUnit.code == name_or_code),
        )
    )
    if unit is None:
        raise NotFound(f"no street or town named '{name_or_code}'")
    return unit


def create_user(session: Session, username: str, password: str, role: str, street: str | None = None,
                display_name: str | None = None) -> User:
    """Create a login.

    Raises:
        ValidationError: bad username, short password, unknown role, a street role
            without a street, or a name already taken.
        NotFound: the street does not exist.
    """
    username = username.strip()
    if not username or len(username) > 60:
        raise ValidationError("username: must be 1–60 characters")
    if len(password) < MIN_PASSWORD:
        raise ValidationError(f"password: must be at least {MIN_PASSWORD} characters")
    try:
        r = Role(role)
    except ValueError as exc:
        raise ValidationError(f"role: '{role}' is not one of {', '.join(x.value for x in Role)}") from exc
    if r == Role.STREET and not street:
        raise ValidationError("street: a street user needs --street")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ValidationError(f"username: '{username}' already exists")
    street_id = find_street(session, street).id if street else None
    user = User(username=username, password_hash=hash_password(password), role=r.value, street_id=street_id,
                display_name=display_name or username)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        _hasher.hash(password)  # same cost whether or not the user exists
        return None
    return user if verify_password(user, password) else None
