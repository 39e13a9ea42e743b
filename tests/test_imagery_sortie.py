"""The sortie log's counts: sorties and pilot-shifts per pilot, street and month (Beijing time)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy.orm import Session

from geo.imagery import sortie
from geo.models import Sortie
from tests.builders import add_street, unique

CST = timezone(timedelta(hours=8))


def test_counts_per_pilot_street_and_month(session: Session) -> None:
    street = add_street(session)
    a, b = unique("张飞手"), unique("李飞手")
    flights = [(a, datetime(2031, 3, 1, 9, tzinfo=CST), street.id),
               (a, datetime(2031, 3, 1, 15, tzinfo=CST), street.id),   # same pilot, same day: one shift
               (b, datetime(2031, 3, 2, 9, tzinfo=CST), None),
               (a, datetime(2031, 4, 1, 0, 30, tzinfo=CST), street.id)]  # 31 March in UTC, April in Beijing
    for pilot, when, sid in flights:
        session.add(Sortie(code=unique("S"), pilot=pilot, flown_at=when, street_id=sid))
    session.flush()
    period = sortie.Period(datetime(2031, 1, 1, tzinfo=CST), datetime(2032, 1, 1, tzinfo=CST))
    pilots = {t.key: t for t in sortie.per_pilot(session, period)}
    assert (pilots[a].sorties, pilots[a].pilot_shifts) == (3, 2)
    assert (pilots[b].sorties, pilots[b].pilot_shifts) == (1, 1)
    months = {t.key: t for t in sortie.per_month(session, period)}
    assert (months["2031-03"].sorties, months["2031-03"].pilot_shifts) == (3, 2)
    assert months["2031-04"].sorties == 1
    streets = {t.key: t for t in sortie.per_street(session, period)}
    assert streets[street.name].sorties == 3 and streets["—"].sorties == 1
    total = sortie.totals(session, period)
    assert (total.sorties, total.pilot_shifts) == (4, 3)
    log = sortie.sortie_log(session, period, pilot=a)
    assert [r.flown_at for r in log] == sorted((f[1] for f in flights if f[0] == a), reverse=True)
