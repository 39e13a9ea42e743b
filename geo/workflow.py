"""The status workflow of an item: a pure state machine.

A detection, patrol find or complaint becomes a suspected item (疑似). Review marks it
confirmed (属实) or dismissed (不属实). A confirmed item is handled in one of the
"three batches" (三个一批) and ends with closure (销项):

* demolished (拆除) → closed;
* permit granted (补证) → closed (补证销项);
* title annotated (注记) → annotation lifted (解注) → then handled again or closed;
* regularised (规范 / 政策疏导) → closed.

A closed item that is rebuilt (反弹) is a new item on the same parcel; see
:func:`rebuild_initial_status`. Nothing here touches the database.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from geo.errors import InvalidTransition, PermissionDenied
from geo.models import Role, Status

S = Status

#: Allowed moves: from status → statuses it may go to.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.SUSPECTED: frozenset({S.CONFIRMED, S.DISMISSED}),
    S.CONFIRMED: frozenset({S.CASE_FILED, S.DEMOLISHED, S.PERMIT_GRANTED, S.ANNOTATED, S.REGULARISED}),
    S.CASE_FILED: frozenset({S.DEMOLISHED, S.PERMIT_GRANTED, S.ANNOTATED, S.REGULARISED}),
    S.DEMOLISHED: frozenset({S.CLOSED}),
    S.PERMIT_GRANTED: frozenset({S.CLOSED}),
    S.ANNOTATED: frozenset({S.ANNOTATION_LIFTED}),
    S.ANNOTATION_LIFTED: frozenset({S.DEMOLISHED, S.PERMIT_GRANTED, S.ANNOTATED, S.CLOSED}),
    S.REGULARISED: frozenset({S.CLOSED}),
    S.DISMISSED: frozenset(),
    S.CLOSED: frozenset(),
}

#: Statuses a new item may start in: suspected for new finds, confirmed for items
#: that come with the city's database (库内) or were verified before entry.
INITIAL: frozenset[Status] = frozenset({S.SUSPECTED, S.CONFIRMED})

#: Moves decided at district level; street teams may make all the others in their street.
OFFICE_ONLY: frozenset[Status] = frozenset({S.CLOSED, S.ANNOTATED, S.ANNOTATION_LIFTED})

WRITE_ROLES: frozenset[Role] = frozenset({Role.ADMIN, Role.OFFICE, Role.STREET})

TERMINAL: frozenset[Status] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)

#: Labels shown to users, Chinese first.
LABELS_ZH: dict[Status, str] = {
    S.SUSPECTED: "疑似",
    S.CONFIRMED: "属实",
    S.DISMISSED: "不属实",
    S.CASE_FILED: "立案",
    S.DEMOLISHED: "拆除",
    S.PERMIT_GRANTED: "补证",
    S.ANNOTATED: "注记",
    S.ANNOTATION_LIFTED: "解注",
    S.REGULARISED: "规范",
    S.CLOSED: "销项",
}
LABELS_EN: dict[Status, str] = {
    S.SUSPECTED: "suspected",
    S.CONFIRMED: "confirmed",
    S.DISMISSED: "dismissed",
    S.CASE_FILED: "case filed",
    S.DEMOLISHED: "demolished",
    S.PERMIT_GRANTED: "permit granted",
    S.ANNOTATED: "title annotated",
    S.ANNOTATION_LIFTED: "annotation lifted",
    S.REGULARISED: "regularised",
    S.CLOSED: "closed",
}

#: Colours of statuses on the map (one palette for every page and report).
COLOURS: dict[Status, str] = {
    S.SUSPECTED: "#f59e0b",
    S.CONFIRMED: "#dc2626",
    S.DISMISSED: "#9ca3af",
    S.CASE_FILED: "#b91c1c",
    S.DEMOLISHED: "#16a34a",
    S.PERMIT_GRANTED: "#2563eb",
    S.ANNOTATED: "#7c3aed",
    S.ANNOTATION_LIFTED: "#a78bfa",
    S.REGULARISED: "#0891b2",
    S.CLOSED: "#065f46",
}


@dataclass(frozen=True)
class Transition:
    """A requested status change with what every step must record.

    Attributes:
        target: the status to move to.
        actor: display name of who acts.
        reason: why (free text).
        evidence: references to imagery, photos or documents.
        area_m2: area concerned (e.g. m² demolished), when it differs from the item's.
    """

    target: Status
    actor: str
    reason: str | None = None
    evidence: tuple[str, ...] = ()
    area_m2: float | None = None


def check(current: Status | str | None, target: Status | str) -> Status:
    """Validate a move and return the target status.

    Args:
        current: the item's status now, or None for a new item.
        target: the status asked for.

    Raises:
        InvalidTransition: naming both states when the move is not allowed.
    """
    try:
        tgt = Status(target)
    except ValueError as exc:
        raise InvalidTransition(str(current) if current else None, str(target), "unknown status") from exc
    if current is None:
        if tgt not in INITIAL:
            raise InvalidTransition(None, tgt.value, "a new item starts as suspected or confirmed")
        return tgt
    cur = Status(current)
    if tgt not in TRANSITIONS[cur]:
        options = ", ".join(sorted(s.value for s in TRANSITIONS[cur]))
        detail = "it is final" if cur in TERMINAL else f"allowed: {options}"
        raise InvalidTransition(cur.value, tgt.value, detail)
    return tgt


def allowed(current: Status | str, role: Role | str | None = None) -> list[Status]:
    """Statuses reachable from ``current`` for a user of ``role`` (all when role is None)."""
    nxt = TRANSITIONS[Status(current)]
    if role is None:
        return sorted(nxt, key=_order)
    r = Role(role)
    if r not in WRITE_ROLES:
        return []
    if r == Role.STREET:
        nxt = nxt - OFFICE_ONLY
    return sorted(nxt, key=_order)


def authorise(current: Status | str, target: Status | str, role: Role | str) -> Status:
    """Like :func:`check`, and also refuse a move the role may not make.

    Raises:
        InvalidTransition: the workflow does not allow the move.
        PermissionDenied: the move is allowed but not for this role.
    """
    tgt = check(current, target)
    if tgt not in allowed(current, role):
        raise PermissionDenied(f"role '{Role(role).value}' may not move an item to '{tgt.value}'")
    return tgt


def closure_kind(previous: Status | str) -> str | None:
    """How a closure counts in the reports, from the status it closed from.

    Returns:
        ``"demolition"`` (拆除), ``"permit"`` (补证销项), ``"regularised"``,
        ``"after_annotation"``, or None when ``previous`` cannot precede closure.
    """
    return {
        S.DEMOLISHED: "demolition",
        S.PERMIT_GRANTED: "permit",
        S.REGULARISED: "regularised",
        S.ANNOTATION_LIFTED: "after_annotation",
    }.get(Status(previous))


def status_path(target: Status | str, start: Status | str | None = None) -> list[Status]:
    """The shortest chain of statuses from a starting status to ``target``.

    With ``start`` None the chain begins with an initial status (confirmed preferred for
    statuses it reaches, suspected otherwise).

    Raises:
        InvalidTransition: ``target`` cannot be reached.
    """
    tgt = Status(target)
    starts = [Status(start)] if start is not None else [Status.CONFIRMED, Status.SUSPECTED]
    for s in starts:
        prev: dict[Status, Status | None] = {s: None}
        queue = deque([s])
        while queue:
            cur = queue.popleft()
            if cur == tgt:
                path = [cur]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])  # type: ignore[arg-type]
                return path[::-1]
            for nxt in sorted(TRANSITIONS[cur], key=lambda x: x.value):
                if nxt not in prev:
                    prev[nxt] = cur
                    queue.append(nxt)
    raise InvalidTransition(str(start) if start else None, tgt.value, "unreachable")


def rebuild_initial_status() -> Status:
    """Status of the new item created when a closed item is rebuilt (反弹)."""
    return S.SUSPECTED


def _order(status: Status) -> int:
    return list(Status).index(status)
