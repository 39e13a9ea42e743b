"""What a user may see and do: roles and the street scope, enforced in the queries.

A street user (街镇执法队) sees and acts only on items, detections and sorties whose
``street_id`` is their own street; every query that lists or fetches such objects for a
user goes through the clauses here, so an object outside the scope is simply not found
(by page, by API, by tile or by export). Nothing here knows about the web.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, select, true
from sqlalchemy.orm import Session

from geo.errors import NotFound, PermissionDenied
from geo.models import Detection, Role, Sortie, User, Violation

#: Roles that may review detections (confirm, dismiss, merge).
REVIEW_ROLES = frozenset({Role.ADMIN, Role.OFFICE, Role.STREET})
#: Roles that may assign work to a street team.
ASSIGN_ROLES = frozenset({Role.ADMIN, Role.OFFICE})
#: Roles that may change an item's status (the workflow narrows it further).
WRITE_ROLES = frozenset({Role.ADMIN, Role.OFFICE, Role.STREET})


@dataclass(frozen=True)
class Scope:
    """Who is asking: their id, role and, for street users, their street.

    Attributes:
        user_id: the user's id (None for system work).
        role: the user's role.
        street_id: the street a street user is confined to; None means district-wide.
    """

    user_id: int | None
    role: Role
    street_id: int | None = None

    @classmethod
    def of(cls, user: User) -> Scope:
        """The scope of a stored user (a street user without street sees nothing)."""
        role = Role(user.role)
        street = user.street_id if role == Role.STREET else None
        if role == Role.STREET and street is None:
            street = -1  # the database forbids it, but never widen a scope by accident
        return cls(user_id=user.id, role=role, street_id=street)

    @property
    def confined(self) -> bool:
        """Whether the user is confined to one street."""
        return self.street_id is not None

    @property
    def can_review(self) -> bool:
        return self.role in REVIEW_ROLES

    @property
    def can_assign(self) -> bool:
        return self.role in ASSIGN_ROLES

    @property
    def can_write(self) -> bool:
        return self.role in WRITE_ROLES


def _street_clause(column: Any, scope: Scope) -> ColumnElement[bool]:
    if scope.street_id is None:
        return true()
    return and_(column.is_not(None), column == scope.street_id)


def violations_clause(scope: Scope) -> ColumnElement[bool]:
    """WHERE clause restricting ``violations`` to the scope."""
    return _street_clause(Violation.street_id, scope)


def detections_clause(scope: Scope) -> ColumnElement[bool]:
    """WHERE clause restricting ``detections`` to the scope."""
    return _street_clause(Detection.street_id, scope)


def sorties_clause(scope: Scope) -> ColumnElement[bool]:
    """WHERE clause restricting ``sorties``: own street, and a drone operator's own sorties."""
    clause = _street_clause(Sortie.street_id, scope)
    if scope.role == Role.DRONE:
        clause = and_(clause, Sortie.created_by == scope.user_id)
    return clause


def street_sql(scope: Scope, column: str = "street_id") -> tuple[str, dict[str, Any]]:
    """The same restriction as a raw SQL fragment with its bind parameters (for tile SQL)."""
    if scope.street_id is None:
        return "TRUE", {}
    return f"{column} = :scope_street", {"scope_street": scope.street_id}


def get_violation(session: Session, violation_id: int, scope: Scope, *, for_update: bool = False) -> Violation:
    """The item with this id if the scope lets the user see it.

    Raises:
        NotFound: no such item, or it lies outside the user's street.
    """
    query = select(Violation).where(Violation.id == violation_id, violations_clause(scope))
    if for_update:
        query = query.with_for_update()
    item = session.scalar(query)
    if item is None:
        raise NotFound(f"item {violation_id} does not exist or is outside your street")
    return item


def get_violation_by_code(session: Session, code: str, scope: Scope) -> Violation:
    """The item with this code (编号) within the scope.

    Raises:
        NotFound: no such item in the scope.
    """
    item = session.scalar(select(Violation).where(Violation.code == code.strip(), violations_clause(scope)))
    if item is None:
        raise NotFound(f"item '{code}' does not exist or is outside your street")
    return item


def get_detection(session: Session, detection_id: int, scope: Scope, *, for_update: bool = False) -> Detection:
    """The detection with this id if the scope lets the user see it.

    Raises:
        NotFound: no such detection, or it lies outside the user's street.
    """
    query = select(Detection).where(Detection.id == detection_id, detections_clause(scope))
    if for_update:
        query = query.with_for_update()
    det = session.scalar(query)
    if det is None:
        raise NotFound(f"detection {detection_id} does not exist or is outside your street")
    return det


def require(scope: Scope, allowed: frozenset[Role], action: str) -> None:
    """Raise PermissionDenied unless the scope's role is in ``allowed``.

    Raises:
        PermissionDenied: naming the role and the action.
    """
    if scope.role not in allowed:
        raise PermissionDenied(f"role '{scope.role.value}' may not {action}")


def require_street(scope: Scope, street_id: int | None, what: str) -> None:
    """Refuse to move an object into a street outside the scope.

    Raises:
        PermissionDenied: a street user targets another street.
    """
    if scope.street_id is not None and street_id != scope.street_id:
        raise PermissionDenied(f"{what}: you may only act inside your own street")
