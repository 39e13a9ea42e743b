"""Errors raised by ``geo.imagery``.

Every refusal names the file and gives the reason in Chinese and in English, so the CLI and
the web page can show it as is. Only ``webmap`` maps these classes to HTTP status codes.
"""

from __future__ import annotations

from geo.errors import GeoError


class ImageryError(GeoError, ValueError):
    """A file was refused.

    Attributes:
        filename: the name the user gave the file (never a server path).
        code: a short machine-readable reason, e.g. ``"no_crs"``.
        reason_zh: the reason in Chinese.
        reason_en: the reason in English.
    """

    def __init__(self, filename: str, code: str, reason_zh: str, reason_en: str) -> None:
        self.filename = filename
        self.code = code
        self.reason_zh = reason_zh
        self.reason_en = reason_en
        super().__init__(f"{filename}: {reason_zh} / {reason_en}")

    def as_dict(self) -> dict[str, str]:
        """The refusal as JSON-ready data."""
        return {"file": self.filename, "code": self.code, "reason_zh": self.reason_zh,
                "reason_en": self.reason_en, "message": str(self)}


class DuplicateScene(ImageryError):
    """The same file (same sha256) is already stored.

    Attributes:
        existing_id: id of the stored scene.
        existing_name: the file name it was uploaded under.
    """

    def __init__(self, filename: str, existing_id: int, existing_name: str) -> None:
        self.existing_id = existing_id
        self.existing_name = existing_name
        super().__init__(
            filename, "duplicate",
            f"与已存储的影像 #{existing_id}（{existing_name}）内容相同",
            f"identical to stored scene #{existing_id} ({existing_name})",
        )


class StoreError(GeoError, OSError):
    """The imagery store could not write or convert a file."""
