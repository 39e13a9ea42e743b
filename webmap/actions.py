"""State changes shared by the pages and the JSON API: one transaction each, audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app

from geo import audit, items, review, workflow
from geo.errors import ConflictError, ValidationError
from geo.models import Status, Violation
from geo.scope import get_violation
from webmap import db as webdb
from webmap.items import evidence as evidence_store


def data_dir() -> Path:
    """The configured data folder."""
    return Path(current_app.config["DATA_DIR"])


def _version(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError("version: the page must send the version of the item it showed") from exc


def _conflict_message(item_id: int, now: int | None, seen: int) -> str:
    where = f" (version {now}, you saw {seen})" if now is not None else f" (you saw version {seen})"
    return ("此图斑已被他人修改，请刷新页面查看最新状态后再操作 / This item was changed by someone else since "
            f"you opened it; reload the page and try again. Item {item_id}{where}.")


def transition(item_id: int, target: str, *, version: Any, reason: str | None, evidence: list[str],
               area_m2: float | None = None, uploads: list[Any] | None = None) -> tuple[Violation, Any]:
    """Move an item, with uploaded evidence, in one transaction; return (item, event).

    Raises:
        NotFound: the item is outside the user's scope.
        PermissionDenied / InvalidTransition: the workflow or the role forbids it.
        ConflictError: someone changed the item since the version shown.
    """
    expected = _version(version)
    sess = webdb.session()
    user = webdb.db_user()
    scope = webdb.scope()
    item = get_violation(sess, item_id, scope)
    try:
        target_status = Status(target)
    except ValueError as exc:
        raise ValidationError(f"target: unknown status '{target}'") from exc
    if item.version != expected:
        raise ConflictError(_conflict_message(item_id, item.version, expected))
    workflow.authorise(item.status, target_status, scope.role)
    stored: list[str] = []
    try:
        for up in uploads or []:
            if up is not None and up.filename:
                stored.append(evidence_store.save(data_dir(), item_id, up))
        step = workflow.Transition(target=target_status, actor=user.display_name or user.username,
                                   reason=(reason or "").strip() or None, evidence=tuple(evidence) + tuple(stored),
                                   area_m2=area_m2)
        try:
            event = items.transition(sess, item_id, step, expected_version=expected, user=user)
        except ConflictError as exc:
            raise ConflictError(_conflict_message(item_id, None, expected)) from exc
        audit.record(sess, "transition", user=user, target=f"violation:{item_id}", ip=webdb.client_ip(),
                     detail={"from": event.from_status, "to": event.to_status, "reason": step.reason,
                             "evidence": list(step.evidence), "version": expected + 1})
        sess.commit()
    except BaseException:
        sess.rollback()
        evidence_store.discard(data_dir(), stored)
        raise
    sess.refresh(item)
    return item, event


def assign_item(item_id: int, street_id: int, version: Any) -> Violation:
    """Hand an item to a street team and commit.

    Raises:
        ValidationError: no version; ConflictError: stale version; PermissionDenied: not the office.
    """
    expected = _version(version)
    sess = webdb.session()
    try:
        try:
            item = review.assign_item(sess, item_id, webdb.db_user(), street_id=street_id, expected_version=expected,
                                      ip=webdb.client_ip())
        except ConflictError as exc:
            raise ConflictError(_conflict_message(item_id, None, expected)) from exc
        sess.commit()
    except BaseException:
        sess.rollback()
        raise
    sess.refresh(item)
    return item


def review_action(detection_id: int, action: str, payload: dict[str, Any]) -> review.ReviewResult:
    """Run one review action (confirm, dismiss, merge, assign) and commit it.

    Raises:
        ValidationError: unknown action or bad fields.
    """
    sess = webdb.session()
    user = webdb.db_user()
    ip = webdb.client_ip()
    try:
        if action == "confirm":
            result = review.confirm(sess, detection_id, user, reason=payload.get("reason"),
                                    vtype=payload.get("vtype") or "other", is_key=bool(payload.get("is_key")), ip=ip)
        elif action == "dismiss":
            result = review.dismiss(sess, detection_id, user, reason=str(payload.get("reason") or ""), ip=ip)
        elif action == "merge":
            vid = payload.get("violation_id")
            result = review.merge(sess, detection_id, user, violation_id=int(vid) if vid not in (None, "") else None,
                                  violation_code=payload.get("violation_code"), reason=payload.get("reason"), ip=ip)
        elif action == "assign":
            sid = payload.get("street_id")
            if sid in (None, "") or not str(sid).isdigit():
                raise ValidationError("street_id: choose the street team to assign to")
            result = review.assign(sess, detection_id, user, street_id=int(sid), ip=ip)
        else:
            raise ValidationError(f"action: '{action}' is not one of confirm, dismiss, merge, assign")
        sess.commit()
    except BaseException:
        sess.rollback()
        raise
    return result
