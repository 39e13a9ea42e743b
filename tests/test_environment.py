"""The conda environment and the venv name the same Python dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _conda_pip_requirements(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    indent = len(lines[start + 1]) - len(lines[start + 1].lstrip())
    reqs = []
    for line in lines[start + 1:]:
        if not line.strip() or len(line) - len(line.lstrip()) < indent:
            break
        item = line.strip()[2:].strip()
        if not item.startswith("-e"):
            reqs.append(item)
    return reqs


def test_environment_yml_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    conda = _conda_pip_requirements((ROOT / "environment.yml").read_text())
    assert sorted(map(_name, conda)) == sorted(map(_name, project))
    assert sorted(conda) == sorted(project), "version bounds differ between environment.yml and pyproject.toml"


def test_lock_pins_every_dependency() -> None:
    pinned = {_name(line) for line in (ROOT / "requirements.lock").read_text().splitlines() if "==" in line}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for req in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert _name(req) in pinned, f"{req} is not pinned in requirements.lock (run `make lock`)"
