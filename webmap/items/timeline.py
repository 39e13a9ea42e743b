"""An item's timeline as its page shows it: the status events and the detections merged in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from geo.models import ViolationEvent
from geo.review import MergeRecord


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: a status event or a merge (exactly one of the two is set)."""

    at: datetime
    event: ViolationEvent | None = None
    merge: MergeRecord | None = None

    @property
    def kind(self) -> str:
        return "event" if self.event is not None else "merge"


def timeline(events: Sequence[ViolationEvent], merges: Sequence[MergeRecord]) -> list[Entry]:
    """Events in the order of the log; each merge after the last event not later than it.

    Args:
        events: the item's status events, oldest first (the log's order is kept as is).
        merges: the detections merged into the item.
    """
    pending = sorted(merges, key=lambda m: (m.merged_at, m.detection_id))
    out: list[Entry] = []
    for event in events:
        while pending and pending[0].merged_at < event.occurred_at:
            merge = pending.pop(0)
            out.append(Entry(at=merge.merged_at, merge=merge))
        out.append(Entry(at=event.occurred_at, event=event))
    out.extend(Entry(at=m.merged_at, merge=m) for m in pending)
    return out
