"""The monitoring index: weights and bands from an editable file, ranking, bottom three, CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from reports import config as rconfig
from reports import index as rindex
from reports import periods
from reports.errors import ReportConfigError
from reports.indicators import Figures
from reports.scope import TOTAL, Scope
from tests.report_states import add_district, bj, item, move

MARCH = periods.month("2025-03")


def _fig(unit: int, name: str, found: int, imagery: int, removed: int) -> Figures:
    return Figures(unit, name, found_total=found, found_imagery=imagery, removed_new=removed)


def test_weights_bands_ranking_and_bottom_three() -> None:
    cfg = rconfig.load()
    figs = {i: _fig(i, f"街道{i}", 10, 10 - i, 10 - i) for i in range(1, 7)}
    figs[7] = Figures(7, "街道7")  # nothing happened: zero growth kept, the rest undefined → no index
    figs[TOTAL] = _fig(TOTAL, "区", 60, 39, 39)
    sc = Scope(1, "区", tuple((i, f"街道{i}") for i in range(1, 8)), True)
    ranked = rindex.ranking(figs, sc, MARCH, cfg)
    assert ranked[0].name == "街道1"
    assert ranked[-1].name == "街道7" and ranked[-1].value is None and ranked[-1].rank is None
    first = next(r for r in ranked if r.name == "街道1")
    # proactive 90 and zero growth 90, the other indicators undefined: weights rescaled
    assert first.value == 90.0 and first.rating == "excellent" and first.scores["lawful_disposal"] is None
    assert [r.rank for r in ranked] == [1, 2, 3, 4, 5, 6, None]
    assert [r.name for r in ranked if r.flagged] == ["街道4", "街道5", "街道6"]
    worst = ranked[-2]
    assert worst.value == 40.0 and worst.rating == "poor"
    assert rindex.rating(85.0, cfg) == "good" and rindex.rating(60.0, cfg) == "fair"


def test_office_config_in_data_dir_overrides_default(tmp_path: Path) -> None:
    text = rconfig.DEFAULT_PATH.read_text(encoding="utf-8").replace("excellent = 90.0", "excellent = 95.0")
    (tmp_path / "index_config.toml").write_text(text, encoding="utf-8")
    cfg = rconfig.load(None, tmp_path)
    assert cfg.bands["excellent"] == 95.0 and cfg.source.endswith("index_config.toml")
    assert rindex.rating(92.0, cfg) == "good"
    assert rconfig.load(None, tmp_path / "elsewhere").bands["excellent"] == 90.0


@pytest.mark.parametrize("edit, field", [
    (("proactive_discovery = 0.20", 'proactive_discovery = "high"'), "weights.proactive_discovery"),
    (("deadline_days = 30", "deadline_days = 0"), "lawful_disposal.deadline_days"),
    (('"regularised", "closed"]', '"gone"]'), "lawful_disposal.statuses"),
    (("good = 80.0", "good = 99.0"), "bands"),
    (("[weights]", "[weights]\nspeed = 1"), "weights"),
])
def test_bad_config_names_file_and_field(tmp_path: Path, edit: tuple[str, str], field: str) -> None:
    path = tmp_path / "bad.toml"
    text = rconfig.DEFAULT_PATH.read_text(encoding="utf-8")
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1]), encoding="utf-8")
    with pytest.raises(ReportConfigError) as info:
        rconfig.load(path)
    assert str(path) in str(info.value) and info.value.field == field


def test_unparsable_config(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[weights\n", encoding="utf-8")
    with pytest.raises(ReportConfigError, match="not valid TOML"):
        rconfig.load(path)


def test_cli_monthly_writes_three_files_and_refuses_bad_input(engine, sessions, tmp_path: Path) -> None:
    import app as app_module

    with sessions.begin() as s:
        district, (st, _) = add_district(s, streets=2, lon=121.70, lat=31.30)
        v = item(s, st, bj(2025, 3, 31, 23, 30))
        move(s, v.id, ("confirmed", bj(2025, 4, 1, 9)))
        name = district.name
    env = {"DATABASE_URL": engine.url.render_as_string(hide_password=False), "DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    out = tmp_path / "out"
    res = runner.invoke(app_module.cli, ["report", "monthly", "--month", "2025-03", "--district", name,
                                         "--out", str(out)], env=env)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "report.pdf", "report.xlsx"]
    assert "新增违建动态监测指数月报" in (out / "index.html").read_text(encoding="utf-8")

    res = runner.invoke(app_module.cli, ["report", "weekly", "--week", "2025-W14", "--district", name,
                                         "--out", str(tmp_path / "week"), "--lang", "en"], env=env)
    assert res.exit_code == 0, res.output
    assert "Weekly new-violation monitoring brief" in (tmp_path / "week" / "index.html").read_text(encoding="utf-8")

    bad = runner.invoke(app_module.cli, ["report", "monthly", "--month", "2025-3", "--district", name,
                                         "--out", str(tmp_path / "bad")], env=env)
    assert bad.exit_code == 1 and "2025-3" in bad.output and not (tmp_path / "bad").exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    res = runner.invoke(app_module.cli, ["report", "monthly", "--month", "2025-03", "--district", name,
                                         "--out", str(blocker / "sub")], env=env)
    assert res.exit_code == 1 and str(blocker) in res.output
    assert os.listdir(tmp_path / "out") == os.listdir(out)  # earlier output untouched
