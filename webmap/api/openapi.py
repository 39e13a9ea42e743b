"""The OpenAPI 3 document of the JSON API."""

from __future__ import annotations

from typing import Any

_ERR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _op(summary: str, params: list[dict[str, Any]] | None = None, body: str | None = None,
        ok: str = "200") -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": params or [],
        "responses": {ok: {"description": "OK", "content": {"application/json": {}}},
                      "400": _ERR, "401": _ERR, "403": _ERR, "404": _ERR},
    }
    if body:
        schema = {"$ref": f"#/components/schemas/{body}"}
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
        op["responses"]["409"] = _ERR
        op["security"] = [{"session": [], "csrf": []}]
    return op


def _q(name: str, kind: str = "string", desc: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": desc}


def _p(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


def document(server: str) -> dict[str, Any]:
    """The OpenAPI document, with ``server`` as base URL."""
    paging = [_q("limit", "integer"), _q("offset", "integer")]
    return {
        "openapi": "3.0.3",
        "info": {"title": "违法建筑监测平台 API / illegal-structure monitoring API", "version": "1",
                 "description": "Log in at /login (session cookie). State-changing requests need the CSRF token "
                                "of the session in the X-CSRFToken header (the pages carry it in "
                                "<meta name=csrf-token>). A street user sees and acts only inside their street."},
        "servers": [{"url": server}],
        "paths": {
            "/api/items": {"get": _op("List items in your scope",
                                      [_q("status"), _q("type"), _q("street", "integer"), _q("q"), *paging])},
            "/api/items/{item_id}": {"get": _op("One item with its events and allowed transitions", [_p("item_id")])},
            "/api/items/{item_id}/transitions": {"post": _op("Move an item to another status", [_p("item_id")],
                                                             "TransitionRequest", "201")},
            "/api/items/{item_id}/assign": {"post": _op("Hand an item to a street team (district office)",
                                                        [_p("item_id")], "AssignRequest")},
            "/api/detections": {"get": _op("Detections, highest score first",
                                           [_q("status"), _q("klass"), _q("street", "integer"),
                                            _q("min_score", "number"), *paging])},
            "/api/detections/{detection_id}": {"get": _op("One detection with its footprint", [_p("detection_id")])},
            "/api/detections/{detection_id}/review": {"post": _op("Confirm, dismiss, merge or assign a detection",
                                                                  [_p("detection_id")], "ReviewRequest")},
            "/api/tiles": {"get": _op("Vector tile layers and URL templates")},
            "/tiles/mvt/{layer}/{z}/{x}/{y}.pbf": {"get": {
                "summary": "A Mapbox vector tile of a layer (boundaries, parcels, violations, detections, sorties)",
                "parameters": [{"name": n, "in": "path", "required": True, "schema": {"type": t}}
                               for n, t in (("layer", "string"), ("z", "integer"), ("x", "integer"), ("y", "integer"))]
                + [_q("status"), _q("type"), _q("street", "integer"), _q("key"), _q("indb"), _q("month")],
                "responses": {"200": {"description": "tile", "content": {"application/vnd.mapbox-vector-tile": {}}},
                              "400": _ERR, "401": _ERR, "404": _ERR}}},
            "/api/search": {"get": _op("Find items and parcels by code or address", [_q("q")])},
            "/api/heat": {"get": _op("New items of a month as weighted points", [_q("month", desc="YYYY-MM")])},
        },
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "weijian_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
            },
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
                "TransitionRequest": {"type": "object", "required": ["target", "version"], "properties": {
                    "target": {"type": "string"}, "version": {"type": "integer"}, "reason": {"type": "string"},
                    "evidence": {"type": "array", "items": {"type": "string"}}, "area_m2": {"type": "number"}}},
                "AssignRequest": {"type": "object", "required": ["street_id", "version"], "properties": {
                    "street_id": {"type": "integer"}, "version": {"type": "integer"}}},
                "ReviewRequest": {"type": "object", "required": ["action"], "properties": {
                    "action": {"type": "string", "enum": ["confirm", "dismiss", "merge", "assign"]},
                    "reason": {"type": "string"}, "violation_id": {"type": "integer"},
                    "violation_code": {"type": "string"}, "street_id": {"type": "integer"},
                    "vtype": {"type": "string"}, "is_key": {"type": "boolean"}}},
            },
        },
    }
