"""The columns each kind of import file has, and how a cell becomes a value.

Column names are matched case-insensitively; a Shapefile's names cut to 10 characters
(``discovered`` for ``discovered_at``) are recognised. Unknown columns are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from geo.models import ComplaintVerdict, DiscoverySource, Status, UnitLevel, ViolationKind, ViolationType

TZ = ZoneInfo("Asia/Shanghai")
_TRUE = {"true", "t", "1", "yes", "y", "是", "1.0"}
_FALSE = {"false", "f", "0", "no", "n", "否", "0.0"}


class CellError(ValueError):
    """A cell that cannot be read as its field's type."""


@dataclass(frozen=True)
class Field:
    """One column of an import file.

    Attributes:
        name: column name.
        type: ``text`` | ``float`` | ``bool`` | ``datetime`` | ``choice``.
        required: the row is refused when the cell is empty.
        choices: allowed values of a ``choice`` field.
        doc: what the column holds (for the README table).
    """

    name: str
    type: str = "text"
    required: bool = False
    choices: tuple[str, ...] = ()
    doc: str = ""

    def parse(self, value: Any) -> Any:
        """The cell's value, or None when empty.

        Raises:
            CellError: with the reason.
        """
        if value is None or (isinstance(value, str) and not value.strip()):
            if self.required:
                raise CellError("required value is missing")
            return None
        if self.type == "text":
            return str(value).strip()
        if self.type == "float":
            try:
                return float(value)
            except (TypeError, ValueError) as exc:
                raise CellError(f"'{value}' is not a number") from exc
        if self.type == "bool":
            return parse_bool(value)
        if self.type == "datetime":
            return parse_datetime(value)
        if self.type == "choice":
            v = str(value).strip()
            if v not in self.choices:
                raise CellError(f"'{v}' is not one of {', '.join(self.choices)}")
            return v
        raise AssertionError(self.type)


def parse_bool(value: Any) -> bool:
    """A boolean from true/false, 1/0, yes/no, 是/否.

    Raises:
        CellError: anything else.
    """
    if isinstance(value, bool):
        return value
    v = str(value).strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise CellError(f"'{value}' is not true/false")


def parse_datetime(value: Any) -> datetime:
    """An aware datetime; a date or naive time is taken as Asia/Shanghai.

    Raises:
        CellError: not a date/time.
    """
    if isinstance(value, datetime):
        ts = pd.Timestamp(value)
    elif isinstance(value, date):
        ts = pd.Timestamp(datetime(value.year, value.month, value.day))
    else:
        try:
            ts = pd.Timestamp(str(value).strip())
        except (ValueError, TypeError) as exc:
            raise CellError(f"'{value}' is not a date/time (use ISO 8601, e.g. 2025-03-01 14:30+08:00)") from exc
    if ts is pd.NaT:
        raise CellError(f"'{value}' is not a date/time")
    dt = ts.to_pydatetime()
    return dt.replace(tzinfo=TZ) if dt.tzinfo is None else dt


def _values(enum_cls: Any) -> tuple[str, ...]:
    return tuple(m.value for m in enum_cls)


STREET_DOC = "street/town name or code (e.g. 华阳路街道 or 310105001)"

#: Columns of each kind, and the geometry type its rows need.
KINDS: dict[str, tuple[str, tuple[Field, ...]]] = {
    "admin-units": ("polygon", (
        Field("code", required=True, doc="unique code (e.g. 310105001)"),
        Field("name", required=True, doc="name, e.g. 华阳路街道"),
        Field("level", "choice", True, _values(UnitLevel), "district, street or community"),
        Field("name_en", doc="English name"),
        Field("parent", doc="code or name of the parent unit (in the file or the database)"),
    )),
    "parcels": ("polygon", (
        Field("code", required=True, doc="unique parcel code"),
        Field("address", doc="address, e.g. 长宁区仙霞路123号"),
        Field("land_use", doc="land use (住宅, 商业, 工业 …)"),
        Field("street", doc=STREET_DOC),
        Field("community", doc="community (居村) code or name"),
    )),
    "violations": ("polygon", (
        Field("code", required=True, doc="unique item code"),
        Field("kind", "choice", True, _values(ViolationKind), "stock (存量) or new (新增)"),
        Field("vtype", "choice", True, _values(ViolationType), "type: " + ", ".join(_values(ViolationType))),
        Field("discovered_at", "datetime", True, doc="first found (ISO 8601; no zone = Asia/Shanghai)"),
        Field("status", "choice", False, _values(Status),
              "current status (default: confirmed for 库内 items, else suspected)"),
        Field("status_at", "datetime", doc="time of the current status (default discovered_at)"),
        Field("in_database", "bool", doc="in the city's database (库内); default true for stock"),
        Field("is_key", "bool", doc="key item (重点); default false"),
        Field("source", "choice", False, _values(DiscoverySource),
              "imagery, patrol, complaint or database (default database for 库内 items, else patrol)"),
        Field("area_m2", "float", doc="area in m² (default: measured from the geometry)"),
        Field("address", doc="address"),
        Field("street", doc=STREET_DOC),
        Field("parcel", doc="parcel code"),
        Field("note", doc="free text"),
    )),
    "permits": ("polygon", (
        Field("permit_no", required=True, doc="unique permit number"),
        Field("holder", doc="holder"),
        Field("issued_at", "datetime", doc="date issued"),
        Field("parcel", doc="parcel code"),
        Field("street", doc=STREET_DOC),
    )),
    "complaints": ("point", (
        Field("ticket_no", required=True, doc="unique 12345 ticket number"),
        Field("received_at", "datetime", True, doc="time received"),
        Field("about", "choice", True, _values(ViolationKind), "stock or new"),
        Field("description", doc="what the citizen reported"),
        Field("address", doc="address"),
        Field("street", doc=STREET_DOC),
        Field("violation", doc="code of the item it concerns"),
        Field("is_key", "bool", doc="key type (default true); false = may be closed with an explanation"),
        Field("verdict", "choice", False, _values(ComplaintVerdict), "pending (default), true or untrue"),
        Field("verified_at", "datetime", doc="time verified"),
        Field("explained_at", "datetime", doc="non-key, closed with an explanation"),
        Field("resolved_at", "datetime", doc="time resolved"),
    )),
}


def column_map(kind: str, columns: list[str]) -> dict[str, str]:
    """Field name → file column, for the fields the file has (Shapefile-cut names too)."""
    out: dict[str, str] = {}
    cols = [c.lower() for c in columns]
    for f in KINDS[kind][1]:
        if f.name in cols:
            out[f.name] = f.name
        elif f.name[:10] in cols:
            out[f.name] = f.name[:10]
    return out


def markdown_table(kind: str) -> str:
    """The README table of a kind's columns."""
    geom, fields = KINDS[kind]
    lines = ["| column | required | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{f.name}` | {'yes' if f.required else ''} | {f.doc} |" for f in fields]
    shape = "polygon or multipolygon" if geom == "polygon" else "point"
    lines.append(f"| geometry | yes | {shape} |")
    return "\n".join(lines)
