"""Logins: Flask-Login with argon2 hashes (geo.users), rate limited, audited; language switch."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from geo import audit
from geo import users as geo_users
from webmap import db as webdb
from webmap.auth import throttle
from webmap.auth.users import load_user
from webmap.i18n import LANGUAGES

bp = Blueprint("auth", __name__, template_folder="templates")


def _safe_next(target: str | None) -> str:
    """Only follow a ``next`` that stays on this site."""
    if not target:
        return url_for("map.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("map.index")
    return target.rstrip("?") or url_for("map.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Log in with user name and password."""
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(url_for("map.index"))
        return render_template("auth/login.html", next=request.args.get("next", ""))
    username = (request.form.get("username") or "").strip()
    password = request.form.get("password") or ""
    ip = webdb.client_ip()
    sess = webdb.session()
    throttle.check(sess, username, ip, current_app.config["LOGIN_MAX_FAILURES"],
                   current_app.config["LOGIN_WINDOW_MINUTES"], current_app.config["LOGIN_MAX_FAILURES_PER_IP"])
    user = geo_users.authenticate(sess, username, password) if username and password else None
    if user is None:
        audit.record(sess, throttle.FAILED, username=username[:60] or None, ip=ip,
                     detail={"reason": "bad credentials"})
        sess.commit()
        flash(_("用户名或密码错误"), "error")
        return render_template("auth/login.html", next=request.form.get("next", ""), username=username), 401
    audit.record(sess, throttle.SUCCEEDED, user=user, ip=ip)
    sess.commit()
    web_user = load_user(str(user.id))
    assert web_user is not None
    session.clear()
    login_user(web_user)
    session.permanent = True
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Any:
    """Log out (a POST with the CSRF token)."""
    sess = webdb.session()
    audit.record(sess, "logout", user=webdb.db_user(), ip=webdb.client_ip())
    sess.commit()
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>")
def set_language(code: str) -> Any:
    """Switch the interface language (zh / en)."""
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(_safe_next(request.args.get("next")))
