"""The status state machine (pure, no database)."""

from __future__ import annotations

import itertools

import pytest

from geo import workflow
from geo.errors import InvalidTransition, PermissionDenied
from geo.models import Role, Status

ALLOWED = [(src, dst) for src, targets in workflow.TRANSITIONS.items() for dst in targets]
FORBIDDEN = [
    (src, dst)
    for src in Status
    for dst in Status
    if dst not in workflow.TRANSITIONS[src]
]


def test_every_status_has_an_entry() -> None:
    assert set(workflow.TRANSITIONS) == set(Status)


@pytest.mark.parametrize(("src", "dst"), ALLOWED, ids=[f"{a.value}->{b.value}" for a, b in ALLOWED])
def test_allowed_transitions(src: Status, dst: Status) -> None:
    assert workflow.check(src, dst) is dst


@pytest.mark.parametrize(("src", "dst"), FORBIDDEN[::3], ids=[f"{a.value}->{b.value}" for a, b in FORBIDDEN[::3]])
def test_forbidden_transitions_name_both_states(src: Status, dst: Status) -> None:
    with pytest.raises(InvalidTransition) as info:
        workflow.check(src, dst)
    assert info.value.current == src.value
    assert info.value.target == dst.value
    assert src.value in str(info.value) and dst.value in str(info.value)


def test_the_main_paths_of_the_domain() -> None:
    paths = [
        ["suspected", "confirmed", "case_filed", "demolished", "closed"],
        ["suspected", "confirmed", "permit_granted", "closed"],
        ["confirmed", "annotated", "annotation_lifted", "closed"],
        ["confirmed", "regularised", "closed"],
        ["suspected", "dismissed"],
    ]
    for path in paths:
        for src, dst in itertools.pairwise(path):
            workflow.check(src, dst)


def test_closed_and_dismissed_are_final() -> None:
    assert workflow.TERMINAL == {Status.CLOSED, Status.DISMISSED}
    with pytest.raises(InvalidTransition, match="final"):
        workflow.check("closed", "demolished")


def test_new_items_start_suspected_or_confirmed() -> None:
    assert workflow.check(None, "suspected") is Status.SUSPECTED
    assert workflow.check(None, "confirmed") is Status.CONFIRMED
    with pytest.raises(InvalidTransition):
        workflow.check(None, "closed")


def test_unknown_status_is_refused() -> None:
    with pytest.raises(InvalidTransition, match="unknown status"):
        workflow.check("suspected", "vanished")


def test_roles() -> None:
    assert Status.CLOSED in workflow.allowed("demolished", Role.OFFICE)
    assert workflow.allowed("demolished", Role.STREET) == []
    assert workflow.allowed("confirmed", Role.VIEWER) == []
    assert workflow.allowed("confirmed", Role.DRONE) == []
    assert Status.DEMOLISHED in workflow.allowed("case_filed", Role.STREET)
    with pytest.raises(PermissionDenied):
        workflow.authorise("demolished", "closed", Role.STREET)
    assert workflow.authorise("demolished", "closed", Role.OFFICE) is Status.CLOSED


def test_closure_kind() -> None:
    assert workflow.closure_kind("demolished") == "demolition"
    assert workflow.closure_kind("permit_granted") == "permit"
    assert workflow.closure_kind("suspected") is None


def test_labels_cover_every_status() -> None:
    assert set(workflow.LABELS_ZH) == set(Status) == set(workflow.LABELS_EN) == set(workflow.COLOURS)


def test_status_path_is_the_shortest_chain() -> None:
    assert workflow.status_path("closed") == ["confirmed", "demolished", "closed"]
    assert workflow.status_path("dismissed") == ["suspected", "dismissed"]
    assert workflow.status_path("annotation_lifted") == ["confirmed", "annotated", "annotation_lifted"]
    assert workflow.status_path("case_filed", "confirmed") == ["confirmed", "case_filed"]
    with pytest.raises(InvalidTransition, match="unreachable"):
        workflow.status_path("suspected", "confirmed")
