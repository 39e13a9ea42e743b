"""Which units a report covers: a district and its streets."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.models import AdminUnit, UnitLevel
from reports.errors import UnitNotFound

#: Key of the district total in indicator tables, and of items with no street.
TOTAL = -1
UNASSIGNED = 0


@dataclass(frozen=True)
class Scope:
    """A district and its streets.

    Attributes:
        district_id: the district unit, or None when the database holds no district.
        district_name: its name (``全区`` when there is no district unit).
        streets: (id, name) of its streets, in code order.
        include_unassigned: count items with no street in the district total (true when
            the database holds at most one district).
    """

    district_id: int | None
    district_name: str
    streets: tuple[tuple[int, str], ...]
    include_unassigned: bool

    @property
    def street_ids(self) -> list[int]:
        """Ids of the streets."""
        return [s for s, _ in self.streets]

    def name_of(self, unit: int) -> str:
        """Display name of a unit key (street id, :data:`TOTAL` or :data:`UNASSIGNED`)."""
        if unit == TOTAL:
            return self.district_name
        if unit == UNASSIGNED:
            return "未分街镇"
        return dict(self.streets).get(unit, str(unit))


def resolve(session: Session, district: str | None = None) -> Scope:
    """The scope of a report.

    Args:
        district: name or code of a district; None means the only district (or every
            street when the database holds no district unit).

    Raises:
        UnitNotFound: no district with that name or code, or several districts and none named.
    """
    districts = list(session.scalars(
        select(AdminUnit).where(AdminUnit.level == UnitLevel.DISTRICT.value).order_by(AdminUnit.code)
    ))
    unit: AdminUnit | None
    if district:
        unit = next((d for d in districts if district in (d.name, d.code)), None)
        if unit is None:
            known = ", ".join(d.name for d in districts) or "none"
            raise UnitNotFound(f"no district named '{district}' (known: {known})")
    elif len(districts) > 1:
        raise UnitNotFound("several districts exist; name one with --district: "
                           + ", ".join(d.name for d in districts))
    else:
        unit = districts[0] if districts else None
    q = select(AdminUnit.id, AdminUnit.name).where(AdminUnit.level == UnitLevel.STREET.value)
    if unit is not None:
        q = q.where(AdminUnit.parent_id == unit.id)
    streets = tuple((r.id, r.name) for r in session.execute(q.order_by(AdminUnit.code, AdminUnit.id)))
    return Scope(
        district_id=unit.id if unit else None,
        district_name=unit.name if unit else "全区",
        streets=streets,
        include_unassigned=len(districts) <= 1,
    )
