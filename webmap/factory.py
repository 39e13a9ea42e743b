"""The application factory.

``create_app(config)`` builds the Flask app: configuration from ``config`` first, then the
environment (``DATABASE_URL``, ``DATA_DIR``, ``SECRET_KEY``, ...), never at import time;
extensions attached with ``init_app``; the blueprints of :data:`BLUEPRINTS` registered.

To add a blueprint, put a module or package exposing ``bp`` (a :class:`flask.Blueprint`)
under ``webmap/`` and add its dotted name to :data:`BLUEPRINTS`.
"""

from __future__ import annotations

import importlib
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, redirect, request, url_for
from flask_login import current_user

from geo.config import Settings
from webmap import db as webdb
from webmap import errors, i18n
from webmap.extensions import csrf, login_manager

#: Every blueprint of the app, in one place (module path → it exposes ``bp``).
BLUEPRINTS: tuple[str, ...] = (
    "webmap.auth",
    "webmap.battlemap",
    "webmap.tiles",
    "webmap.items",
    "webmap.review",
    "webmap.dashboard",
    "webmap.api",
    "webmap.reports_views",
    "webmap.imagery",
)

#: Browsers may load scripts, styles, images and data from this app only.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _secret_key(data_dir: Path) -> str:
    """The demo's session key: generated once under the data folder (mode 600)."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    os.replace(tmp, path)
    return key


def _configure(app: Flask, config: dict[str, Any]) -> None:
    env = os.environ
    settings = Settings.from_env()
    data_dir = Path(config.get("DATA_DIR") or settings.data_dir)
    app.config.update(
        DATA_DIR=str(data_dir),
        TESTING=False,
        WTF_CSRF_ENABLED=True,
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=_truthy(env.get("SESSION_COOKIE_SECURE", "1")),
        SESSION_COOKIE_NAME="weijian_session",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=10),
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,
        LOGIN_MAX_FAILURES=int(env.get("LOGIN_MAX_FAILURES", "5")),
        LOGIN_WINDOW_MINUTES=int(env.get("LOGIN_WINDOW_MINUTES", "15")),
        LOGIN_MAX_FAILURES_PER_IP=int(env.get("LOGIN_MAX_FAILURES_PER_IP", "50")),
        BASEMAP_URL=env.get("BASEMAP_URL") or None,
        DB_POOL_SIZE=int(env.get("DB_POOL_SIZE", "4")),
    )
    app.config.update(config)
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = env.get("SECRET_KEY") or _secret_key(data_dir)


def _database(app: Flask) -> None:
    from geo.db import database_url, make_engine, session_factory

    engine = app.config.get("ENGINE")
    if engine is None:
        url = app.config.get("DATABASE_URL") or database_url(Settings.from_env())
        from geo.db import normalise_url

        engine = make_engine(normalise_url(str(url)), pool_size=int(app.config["DB_POOL_SIZE"]))
    app.extensions["weijian"] = {"engine": engine, "sessions": session_factory(engine)}
    app.teardown_appcontext(webdb.close_session)


def _login(app: Flask) -> None:
    from webmap.auth.users import load_user

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    login_manager.user_loader(load_user)

    @login_manager.unauthorized_handler
    def unauthorised() -> Any:
        if errors.wants_json():
            return errors.error_response(401, "login required")
        return redirect(url_for("auth.login", next=request.full_path))


def _headers(app: Flask) -> None:
    @app.after_request
    def secure_headers(resp: Response) -> Response:
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp


def _template_globals(app: Flask) -> None:
    from geo.workflow import COLOURS, LABELS_EN, LABELS_ZH
    from webmap.labels import english, role_label, status_label, type_label

    @app.context_processor
    def inject() -> dict[str, Any]:
        return {
            "current_user": current_user,
            "status_label": status_label,
            "type_label": type_label,
            "role_label": role_label,
            "STATUS_COLOURS": {k.value: v for k, v in COLOURS.items()},
            "STATUS_LABELS_ZH": {k.value: v for k, v in LABELS_ZH.items()},
            "STATUS_LABELS_EN": {k.value: v for k, v in LABELS_EN.items()},
            "has_blueprint": lambda name: name in app.blueprints,
            "lang": "en" if english() else "zh",
        }


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application.

    Args:
        config: settings overriding the environment, e.g. ``ENGINE`` (an SQLAlchemy
            engine) or ``DATABASE_URL``, ``SECRET_KEY``, ``TESTING``, ``WTF_CSRF_ENABLED``,
            ``DATA_DIR``, ``SESSION_COOKIE_SECURE``.
    """
    app = Flask(__name__, static_folder="static", template_folder="templates")
    _configure(app, dict(config or {}))
    _database(app)
    csrf.init_app(app)
    i18n.init_app(app)
    _login(app)
    errors.register(app)
    _headers(app)
    _template_globals(app)
    for name in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(name).bp)
    return app
