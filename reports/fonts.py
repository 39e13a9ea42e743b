"""The CJK font used by charts and the PDF (Debian's fonts-noto-cjk or fonts-wqy-microhei)."""

from __future__ import annotations

from functools import lru_cache

from reports.errors import RenderError

PREFERRED = ("Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK JP", "WenQuanYi Micro Hei",
             "WenQuanYi Zen Hei", "Noto Serif CJK SC")


@lru_cache(maxsize=1)
def cjk_family() -> str:
    """The family name of an installed CJK font, as matplotlib's font manager knows it.

    Raises:
        RenderError: no CJK font is installed (install Debian's ``fonts-noto-cjk``).
    """
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for name in PREFERRED:
        if name in names:
            return name
    raise RenderError("no CJK font found: install Debian's fonts-noto-cjk (apt-get install -y fonts-noto-cjk)")
