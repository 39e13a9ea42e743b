"""Chinese by default, English switchable (Flask-Babel).

Message ids are the Chinese texts; ``translations/en/LC_MESSAGES/messages.po`` holds the
English. The catalogue is compiled to ``.mo`` when the app starts (into a cache folder
keyed by the catalogue's content), so a fresh clone needs no manual step.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from flask import Flask, request, session

LANGUAGES = ("zh", "en")
DEFAULT = "zh"
SOURCE = Path(__file__).resolve().parent / "translations"


def compile_catalogues(source: Path = SOURCE, cache_root: Path | None = None) -> Path:
    """Compile every ``.po`` under ``source`` to ``.mo``; return the translation folder.

    Files are written under a temporary name and renamed, so concurrent starts are safe.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    pos = sorted(source.glob("*/LC_MESSAGES/*.po"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in pos)).hexdigest()[:16]
    root = (cache_root or Path(tempfile.gettempdir())) / f"weijian-i18n-{digest}"
    for po in pos:
        rel = po.relative_to(source).with_suffix(".mo")
        target = root / rel
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as fh:
            catalog = read_po(fh)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalog)
        os.replace(tmp, target)
    return root


def select_locale() -> str:
    """The user's chosen language, else the browser's if English, else Chinese."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    best = request.accept_languages.best_match(LANGUAGES) if request else None
    return best if best == "en" and not request.accept_languages.best_match(["zh"]) else DEFAULT


def init_app(app: Flask) -> None:
    """Attach Flask-Babel with the compiled catalogue."""
    from webmap.extensions import babel

    folder = compile_catalogues(cache_root=app.config.get("I18N_CACHE"))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(folder)
    babel.init_app(app, locale_selector=select_locale)
