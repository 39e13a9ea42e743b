"""Reviewing detections: confirm, dismiss, merge, assign.

Each action runs in the caller's transaction and writes its audit entry in it, so the
change and its record commit or fail together (call it inside
:func:`geo.db.transaction`, or commit the request's session once). A detection already
reviewed by someone else gives :class:`~geo.errors.ConflictError`. The street scope
holds: a street user can neither see nor act on a detection or item outside their
street.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo import audit, items, workflow
from geo.errors import ConflictError, NotFound, ValidationError
from geo.models import (
    AdminUnit,
    Detection,
    DetectionChange,
    DetectionClass,
    ReviewStatus,
    Status,
    UnitLevel,
    User,
    Violation,
    ViolationEvent,
    ViolationKind,
    ViolationType,
)
from geo.scope import ASSIGN_ROLES, REVIEW_ROLES, Scope, get_detection, get_violation, require, require_street

#: Reasons offered for dismissal (不属实), the first four bound to keys 1–4 in the queue.
DISMISS_REASONS: tuple[str, ...] = (
    "影像误检（阴影/植被/车辆）",
    "合法建筑（有规划许可）",
    "临时设施，已拆除",
    "重复检测",
)


@dataclass(frozen=True)
class ReviewResult:
    """What a review action changed.

    Attributes:
        detection: the detection, with its new review status.
        violation: the item created, updated or merged into (None for dismiss/assign).
        event: the status event appended, if any.
    """

    detection: Detection
    violation: Violation | None = None
    event: ViolationEvent | None = None


def _actor(user: User) -> str:
    return user.display_name or user.username


def _pending(det: Detection) -> None:
    if det.review_status != ReviewStatus.PENDING.value:
        raise ConflictError(f"detection {det.id} was already reviewed ({det.review_status}) by someone else")


def _chips(det: Detection) -> tuple[str, ...]:
    return (*tuple(p for p in (det.chip_before, det.chip_after) if p), f"detection:{det.id}")


def _mark(det: Detection, user: User, status: ReviewStatus, note: str | None, when: datetime) -> None:
    det.review_status = status.value
    det.reviewed_by = user.id
    det.reviewed_at = when
    det.review_note = note


def _new_code(det: Detection) -> str:
    return f"JC{det.after_captured_at:%Y%m}-{det.id:06d}"


def confirm(session: Session, detection_id: int, user: User, *, reason: str | None = None,
            vtype: str = ViolationType.OTHER.value, is_key: bool = False, ip: str | None = None,
            when: datetime | None = None) -> ReviewResult:
    """Confirm a detection (属实): create a suspected item and confirm it, or move the known item.

    A detection matched to an existing suspected item confirms that item; demolition
    evidence moves a confirmed item to demolished when the workflow allows; otherwise a
    new item (kind ``new``, source imagery) is created from the detection's footprint.

    Raises:
        NotFound: no such detection in the user's scope.
        PermissionDenied: the role may not review.
        ConflictError: the detection was already reviewed.
        ValidationError: unknown type.
    """
    scope = Scope.of(user)
    require(scope, REVIEW_ROLES, "review detections")
    if vtype not in {t.value for t in ViolationType}:
        raise ValidationError(f"vtype: unknown item type '{vtype}'")
    det = get_detection(session, detection_id, scope, for_update=True)
    _pending(det)
    now = when or datetime.now(UTC)
    note = reason or None
    step_reason = f"影像检测 #{det.id} 核实属实" + (f"：{reason}" if reason else "")
    event: ViolationEvent | None = None
    if det.violation_id is not None:
        item = get_violation(session, det.violation_id, scope)
        if det.klass == DetectionClass.DEMOLITION_EVIDENCE.value:
            target = Status.DEMOLISHED
            step_reason = f"影像检测 #{det.id} 确认已拆除" + (f"：{reason}" if reason else "")
        else:
            target = Status.CONFIRMED
        if target in workflow.allowed(item.status, scope.role):
            event = items.transition(session, item.id, workflow.Transition(
                target=target, actor=_actor(user), reason=step_reason, evidence=_chips(det)),
                user=user, occurred_at=now)
    else:
        kind = ViolationKind.NEW.value if det.change == DetectionChange.APPEARED.value else ViolationKind.STOCK.value
        item = items.create_violation(
            session, code=_new_code(det), geom=to_shape(det.geom), kind=kind, vtype=vtype, source="imagery",
            discovered_at=det.after_captured_at, actor=_actor(user), actor_id=user.id, status=Status.SUSPECTED,
            is_key=is_key, street_id=det.street_id, parcel_id=det.parcel_id, area=det.area_m2,
            reason=f"影像检测 #{det.id} 发现疑似违建", evidence=_chips(det))
        event = items.transition(session, item.id, workflow.Transition(
            target=Status.CONFIRMED, actor=_actor(user), reason=step_reason, evidence=_chips(det)),
            user=user, occurred_at=max(now, det.after_captured_at))
    det.violation_id = item.id
    _mark(det, user, ReviewStatus.CONFIRMED, note, now)
    session.flush()
    audit.record(session, "review_confirm", user=user, target=f"detection:{det.id}", ip=ip,
                 detail={"violation_id": item.id, "code": item.code, "reason": reason,
                         "to": event.to_status if event else None})
    session.refresh(item)
    return ReviewResult(det, item, event)


def dismiss(session: Session, detection_id: int, user: User, *, reason: str, ip: str | None = None,
            when: datetime | None = None) -> ReviewResult:
    """Dismiss a detection (不属实) with a reason.

    Raises:
        ValidationError: the reason is empty.
        NotFound, PermissionDenied, ConflictError: as for :func:`confirm`.
    """
    scope = Scope.of(user)
    require(scope, REVIEW_ROLES, "review detections")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("reason: a dismissal needs a reason / 不属实必须填写理由")
    det = get_detection(session, detection_id, scope, for_update=True)
    _pending(det)
    _mark(det, user, ReviewStatus.DISMISSED, reason, when or datetime.now(UTC))
    session.flush()
    audit.record(session, "review_dismiss", user=user, target=f"detection:{det.id}", ip=ip,
                 detail={"reason": reason})
    return ReviewResult(det)


def merge(session: Session, detection_id: int, user: User, *, violation_id: int | None = None,
          violation_code: str | None = None, reason: str | None = None, ip: str | None = None,
          when: datetime | None = None) -> ReviewResult:
    """Merge a detection into an existing item (the same structure seen again).

    Raises:
        ValidationError: neither an item id nor a code given.
        NotFound: the detection or the item is not in the user's scope.
        PermissionDenied, ConflictError: as for :func:`confirm`.
    """
    scope = Scope.of(user)
    require(scope, REVIEW_ROLES, "review detections")
    det = get_detection(session, detection_id, scope, for_update=True)
    _pending(det)
    if violation_id is not None:
        item = get_violation(session, violation_id, scope)
    elif violation_code:
        from geo.scope import get_violation_by_code

        item = get_violation_by_code(session, violation_code, scope)
    else:
        raise ValidationError("violation: give the item's id or code to merge into / 请输入要合并的图斑编号")
    det.violation_id = item.id
    _mark(det, user, ReviewStatus.MERGED, reason, when or datetime.now(UTC))
    session.flush()
    audit.record(session, "review_merge", user=user, target=f"detection:{det.id}", ip=ip,
                 detail={"violation_id": item.id, "code": item.code, "reason": reason})
    return ReviewResult(det, item)


@dataclass(frozen=True)
class MergeRecord:
    """A detection merged into an item: which one, by whom, when and why.

    Attributes:
        detection_id: the detection merged in.
        klass: its class (``new_suspect``, ``known_changed``, ...).
        change: appeared or disappeared.
        captured_at: when its later image was taken.
        merged_at: when the reviewer merged it.
        actor: the reviewer's display name (user name if none).
        reason: the reviewer's note, if any.
    """

    detection_id: int
    klass: str
    change: str
    captured_at: datetime
    merged_at: datetime
    actor: str
    reason: str | None


def merges(session: Session, violation_id: int, scope: Scope) -> list[MergeRecord]:
    """The detections merged into an item that the scope may see, oldest merge first.

    A merge changes no status, so it has no event in the item's log; this reads it from the
    detection's own review fields (set once: a reviewed detection cannot be reviewed again).
    """
    from geo.scope import detections_clause

    rows = session.execute(
        select(Detection, User.display_name, User.username)
        .outerjoin(User, User.id == Detection.reviewed_by)
        .where(Detection.violation_id == violation_id, Detection.review_status == ReviewStatus.MERGED.value,
               detections_clause(scope))
        .order_by(Detection.reviewed_at, Detection.id)
    ).all()
    return [
        MergeRecord(detection_id=det.id, klass=det.klass, change=det.change, captured_at=det.after_captured_at,
                    merged_at=det.reviewed_at or det.after_captured_at, actor=display or username or "—",
                    reason=det.review_note)
        for det, display, username in rows
    ]


def assign(session: Session, detection_id: int, user: User, *, street_id: int, ip: str | None = None) -> ReviewResult:
    """Assign a detection (and its item, if any) to a street team.

    Raises:
        NotFound: no such detection, or ``street_id`` is not a street.
        PermissionDenied: only the district office assigns.
    """
    scope = Scope.of(user)
    require(scope, ASSIGN_ROLES, "assign work to street teams")
    street = session.get(AdminUnit, street_id)
    if street is None or street.level != UnitLevel.STREET.value:
        raise NotFound(f"street {street_id} does not exist")
    require_street(scope, street_id, "assign")
    det = get_detection(session, detection_id, scope, for_update=True)
    before = det.street_id
    det.street_id = street_id
    item = None
    if det.violation_id is not None:
        item = get_violation(session, det.violation_id, scope)
        item.street_id = street_id
    session.flush()
    audit.record(session, "review_assign", user=user, target=f"detection:{det.id}", ip=ip,
                 detail={"from_street": before, "to_street": street_id, "street": street.name,
                         "violation_id": item.id if item else None})
    return ReviewResult(det, item)


def queue(session: Session, scope: Scope, *, status: str = ReviewStatus.PENDING.value, klass: str | None = None,
          street_id: int | None = None, min_score: float | None = None, limit: int = 100,
          offset: int = 0) -> list[Detection]:
    """Detections to review in the scope, highest score first.

    Raises:
        ValidationError: unknown status or class.
    """
    if status not in {s.value for s in ReviewStatus}:
        raise ValidationError(f"status: unknown review status '{status}'")
    from geo.scope import detections_clause

    query = select(Detection).where(detections_clause(scope), Detection.review_status == status)
    if klass:
        if klass not in {k.value for k in DetectionClass}:
            raise ValidationError(f"klass: unknown detection class '{klass}'")
        query = query.where(Detection.klass == klass)
    if street_id is not None:
        query = query.where(Detection.street_id == street_id)
    if min_score is not None:
        query = query.where(Detection.score >= min_score)
    query = query.order_by(Detection.score.desc(), Detection.id).limit(max(1, min(limit, 1000))).offset(max(0, offset))
    return list(session.scalars(query))



def assign_item(session: Session, violation_id: int, user: User, *, street_id: int, expected_version: int,
                ip: str | None = None) -> Violation:
    """Hand an item to another street team (the office only), with optimistic locking.

    Raises:
        NotFound: no such item or street.
        PermissionDenied: only the district office assigns.
        ConflictError: the item changed since ``expected_version``.
    """
    from sqlalchemy import update

    scope = Scope.of(user)
    require(scope, ASSIGN_ROLES, "assign work to street teams")
    street = session.get(AdminUnit, street_id)
    if street is None or street.level != UnitLevel.STREET.value:
        raise NotFound(f"street {street_id} does not exist")
    item = get_violation(session, violation_id, scope)
    before = item.street_id
    result = session.execute(
        update(Violation).where(Violation.id == violation_id, Violation.version == expected_version)
        .values(street_id=street_id, version=expected_version + 1).execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(
            f"violation {violation_id} was changed by someone else (you saw version {expected_version})")
    audit.record(session, "item_assign", user=user, target=f"violation:{violation_id}", ip=ip,
                 detail={"from_street": before, "to_street": street_id, "street": street.name})
    session.flush()
    session.expire(item)
    return item
