"""A tus 1.0.0 server (core + creation + termination) for resumable uploads.

Protocol: https://tus.io/protocols/resumable-upload (version 1.0.0). A client ``POST``s
``/api/uploads`` with ``Upload-Length`` and ``Upload-Metadata`` (base64 values: filename,
sensor, captured, sortie, pilot, drone, task), gets a ``Location``, then ``PATCH``es chunks
(``Content-Type: application/offset+octet-stream``, ``Upload-Offset``). After an
interruption it asks ``HEAD`` for the offset and goes on from there. The bytes go straight
to disk (:class:`geo.imagery.uploads.UploadStore`); when the last byte arrives the file is
ingested in the background and ``GET /api/uploads/<uid>/status`` tells the outcome.

Checks that need no pixel (file name, size, sensor, capture time) are made at creation, so
a user does not send 2 GB to learn the date was wrong.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, url_for
from flask_login import current_user, login_required

from geo.errors import ValidationError
from geo.imagery.uploads import parse_metadata
from webmap.imagery import bp
from webmap.imagery.common import is_admin, require_uploader, start_processing, upload_store

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination"


@bp.after_request
def _tus_headers(resp: Response) -> Response:
    if request.path.startswith("/api/uploads"):
        resp.headers["Tus-Resumable"] = TUS_VERSION
        resp.headers["Cache-Control"] = "no-store"
    return resp


def _check_version() -> None:
    if request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != TUS_VERSION:
        raise ValidationError(f"Tus-Resumable: {TUS_VERSION} is required")


def _int_header(name: str) -> int:
    raw = request.headers.get(name, "")
    if not raw.isdigit():
        raise ValidationError(f"{name}: a non-negative integer is required")
    return int(raw)


@bp.route("/api/uploads", methods=["OPTIONS"])
def tus_options() -> Any:
    """Server capabilities."""
    resp = Response(status=204)
    resp.headers.update({"Tus-Version": TUS_VERSION, "Tus-Extension": EXTENSIONS,
                         "Tus-Max-Size": str(upload_store().max_bytes)})
    return resp


@bp.route("/api/uploads", methods=["POST"])
@login_required
def tus_create() -> Any:
    """Create an upload (tus creation extension)."""
    require_uploader()
    _check_version()
    length = _int_header("Upload-Length")
    meta = parse_metadata(request.headers.get("Upload-Metadata"))
    up = upload_store().create(length, meta, current_user.id)
    resp = Response(status=201)
    resp.headers["Location"] = url_for("imagery.tus_upload", uid=up.id)
    resp.headers["Upload-Offset"] = "0"
    return resp


@bp.route("/api/uploads/<uid>", methods=["HEAD", "PATCH", "DELETE"])
@login_required
def tus_upload(uid: str) -> Any:
    """HEAD: where to resume; PATCH: append a chunk; DELETE: abandon the upload."""
    require_uploader()
    _check_version()
    store = upload_store()
    if request.method == "HEAD":
        up = store.get(uid, current_user.id, is_admin())
        resp = Response(status=200)
        resp.headers.update({"Upload-Offset": str(up.offset), "Upload-Length": str(up.length)})
        return resp
    if request.method == "DELETE":
        store.get(uid, current_user.id, is_admin())
        store.discard_data(uid)
        return Response(status=204)
    if request.mimetype != "application/offset+octet-stream":
        return Response("Content-Type must be application/offset+octet-stream", status=415)
    offset = _int_header("Upload-Offset")
    up = store.get(uid, current_user.id, is_admin())
    # One byte of slack: werkzeug refuses any read once a maximum is reached, even the one
    # that would return end-of-stream; append() itself refuses bytes past Upload-Length.
    request.max_content_length = max(up.length - offset, 0) + 1
    up = store.append(uid, offset, request.stream, current_user.id, is_admin())
    if up.offset == up.length:
        start_processing(uid)
    resp = Response(status=204)
    resp.headers["Upload-Offset"] = str(up.offset)
    return resp


@bp.route("/api/uploads/<uid>/status")
@login_required
def upload_status(uid: str) -> Any:
    """The upload's state: receiving, processing, stored (scene_id) or refused (error)."""
    up = upload_store().get(uid, current_user.id, is_admin())
    data = up.public()
    if up.scene_id:
        data["scene_url"] = url_for("imagery.scene_page", scene_id=up.scene_id)
        data["status_url"] = url_for("imagery.scene_status", scene_id=up.scene_id)
    return jsonify(data)
