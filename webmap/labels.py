"""Labels shown to users in the current language."""

from __future__ import annotations

from flask_babel import get_locale

from geo.models import Status
from geo.workflow import LABELS_EN, LABELS_ZH

TYPE_LABELS: dict[str, tuple[str, str]] = {
    "villa": ("别墅", "villa"),
    "rooftop": ("屋顶加层", "rooftop addition"),
    "courtyard": ("天井搭建", "courtyard infill"),
    "factory": ("厂房仓库", "factory / warehouse"),
    "pigeon_loft": ("鸽棚", "pigeon loft"),
    "shopfront": ("沿街商铺", "street-front shop"),
    "shed": ("棚房", "shed"),
    "other": ("其他", "other"),
}

KLASS_LABELS: dict[str, tuple[str, str]] = {
    "new_suspect": ("新增疑似", "new suspect"),
    "known_changed": ("已知图斑变化", "known item changed"),
    "demolition_evidence": ("拆除证据", "demolition evidence"),
    "permitted": ("有许可", "permitted"),
    "unmatched": ("未匹配消失", "unmatched disappearance"),
}

ROLE_LABELS: dict[str, tuple[str, str]] = {
    "admin": ("管理员", "administrator"),
    "office": ("区拆违办", "district office"),
    "street": ("街镇执法队", "street team"),
    "drone": ("飞手", "drone operator"),
    "viewer": ("只读", "viewer"),
}


def english() -> bool:
    """Whether the current request is in English."""
    loc = get_locale()
    return loc is not None and loc.language == "en"


def status_label(status: str | Status) -> str:
    """The status in the user's language."""
    s = Status(status)
    return LABELS_EN[s] if english() else LABELS_ZH[s]


def type_label(vtype: str) -> str:
    """The item type in the user's language."""
    zh, en = TYPE_LABELS.get(vtype, (vtype, vtype))
    return en if english() else zh


def klass_label(klass: str) -> str:
    """The detection class in the user's language."""
    zh, en = KLASS_LABELS.get(klass, (klass, klass))
    return en if english() else zh


def role_label(role: str) -> str:
    """The role in the user's language."""
    zh, en = ROLE_LABELS.get(role, (role, role))
    return en if english() else zh
