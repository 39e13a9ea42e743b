"""Creating items and moving them through the workflow, with the event log.

Every status change is one transaction: the event is appended and the item's status
and version move together. A concurrent change of the same item makes the second
writer fail with :class:`~geo.errors.ConflictError` (optimistic locking on
``violations.version``); the database itself checks that the log stays append-only
and that an item's status equals its last event's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from geo import workflow
from geo.crs import area_m2
from geo.errors import ConflictError, InvalidTransition, NotFound, ValidationError
from geo.models import Status, User, Violation, ViolationEvent, ViolationKind


def as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    """Return ``geom`` as a MultiPolygon, or raise ValidationError."""
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    raise ValidationError(f"expected a polygon, got {geom.geom_type}")


def create_violation(
    session: Session,
    *,
    code: str,
    geom: BaseGeometry,
    kind: str,
    vtype: str,
    source: str,
    discovered_at: datetime,
    actor: str,
    status: Status | str = Status.SUSPECTED,
    in_database: bool = False,
    is_key: bool = False,
    street_id: int | None = None,
    parcel_id: int | None = None,
    address: str | None = None,
    area: float | None = None,
    reason: str | None = None,
    evidence: Sequence[str] = (),
    actor_id: int | None = None,
    rebuilt_from_id: int | None = None,
) -> Violation:
    """Insert a new item with its first event (from nothing to ``status``).

    Args:
        geom: footprint in EPSG:4326.
        area: area in m²; measured from ``geom`` when not given.
    """
    initial = workflow.check(None, status)
    mp = as_multipolygon(geom)
    item = Violation(
        code=code,
        kind=ViolationKind(kind).value,
        vtype=vtype,
        source=source,
        in_database=in_database,
        is_key=is_key,
        street_id=street_id,
        parcel_id=parcel_id,
        address=address,
        area_m2=round(area if area is not None else area_m2(mp), 2),
        discovered_at=discovered_at,
        status=initial.value,
        status_at=discovered_at,
        rebuilt_from_id=rebuilt_from_id,
        geom=from_shape(mp, srid=4326),
    )
    session.add(item)
    session.flush()
    session.add(
        ViolationEvent(
            violation_id=item.id,
            from_status=None,
            to_status=initial.value,
            occurred_at=discovered_at,
            actor_id=actor_id,
            actor_name=actor,
            reason=reason,
            evidence=list(evidence),
        )
    )
    session.flush()
    return item


def transition(
    session: Session,
    violation_id: int,
    step: workflow.Transition,
    *,
    expected_version: int | None = None,
    user: User | None = None,
    occurred_at: datetime | None = None,
) -> ViolationEvent:
    """Move an item to ``step.target``, appending the event.

    Args:
        violation_id: the item.
        step: target status, actor, reason and evidence.
        expected_version: the version the user saw; None means "the one read now".
        user: when given, the move must be allowed for the user's role.
        occurred_at: when it happened (defaults to now).

    Raises:
        NotFound: no such item.
        InvalidTransition: the workflow forbids the move (naming both states).
        PermissionDenied: the user's role may not make the move.
        ConflictError: the item changed since ``expected_version``.
    """
    row = session.execute(
        select(Violation.status, Violation.version).where(Violation.id == violation_id)
    ).one_or_none()
    if row is None:
        raise NotFound(f"violation {violation_id} does not exist")
    current, version = Status(row.status), row.version
    if expected_version is not None and expected_version != version:
        raise ConflictError(
            f"violation {violation_id} was changed by someone else (version {version}, you saw {expected_version})"
        )
    target = workflow.authorise(current, step.target, user.role) if user else workflow.check(current, step.target)
    when = occurred_at or datetime.now(UTC)
    result = session.execute(
        update(Violation)
        .where(Violation.id == violation_id, Violation.version == version)
        .values(status=target.value, status_at=when, version=version + 1)
        .execution_options(synchronize_session=False)
    )
    # Conditional on the version read: a concurrent writer's commit makes this touch no row.
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(f"violation {violation_id} was changed by someone else while you were editing it")
    event = ViolationEvent(
        violation_id=violation_id,
        from_status=current.value,
        to_status=target.value,
        occurred_at=when,
        actor_id=user.id if user else None,
        actor_name=step.actor,
        reason=step.reason,
        evidence=list(step.evidence),
        area_m2=step.area_m2,
    )
    session.add(event)
    session.flush()
    item = session.get(Violation, violation_id)
    if item is not None:
        session.expire(item)
    return event


def rebuild(session: Session, closed_id: int, *, code: str, actor: str, when: datetime | None = None,
            geom: BaseGeometry | None = None, source: str = "imagery", reason: str | None = None) -> Violation:
    """Record that a closed item was rebuilt (反弹): a new item on the same parcel.

    Raises:
        NotFound: no such item.
        InvalidTransition: the item is not closed.
    """
    old = session.get(Violation, closed_id)
    if old is None:
        raise NotFound(f"violation {closed_id} does not exist")
    if old.status != Status.CLOSED.value:
        raise InvalidTransition(old.status, Status.SUSPECTED.value, "only a closed item can be rebuilt")
    return create_violation(
        session,
        code=code,
        geom=geom if geom is not None else to_shape(old.geom),
        kind=ViolationKind.NEW.value,
        vtype=old.vtype,
        source=source,
        discovered_at=when or datetime.now(UTC),
        actor=actor,
        status=workflow.rebuild_initial_status(),
        is_key=old.is_key,
        street_id=old.street_id,
        parcel_id=old.parcel_id,
        address=old.address,
        reason=reason or f"rebuilt after closure of {old.code}",
        rebuilt_from_id=old.id,
    )


def history(session: Session, violation_id: int) -> list[ViolationEvent]:
    """The item's events, oldest first."""
    return list(
        session.scalars(
            select(ViolationEvent).where(ViolationEvent.violation_id == violation_id).order_by(ViolationEvent.id)
        )
    )


def event_dict(event: ViolationEvent) -> dict[str, Any]:
    """Plain representation of an event (for APIs and exports)."""
    return {
        "id": event.id,
        "from": event.from_status,
        "to": event.to_status,
        "at": event.occurred_at.isoformat(),
        "actor": event.actor_name,
        "reason": event.reason,
        "evidence": event.evidence,
        "area_m2": event.area_m2,
    }
