"""Words of the reports in Chinese (default) and English."""

from __future__ import annotations

from collections.abc import Callable

from geo.models import Status
from geo.workflow import LABELS_EN, LABELS_ZH

LANGS = ("zh", "en")

WORDS: dict[str, tuple[str, str]] = {
    "monthly_title": ("新增违建动态监测指数月报", "Monthly new-violation monitoring index report"),
    "weekly_title": ("新增违建动态监测周报", "Weekly new-violation monitoring brief"),
    "generated": ("生成时间", "generated"),
    "config": ("指数配置", "index configuration"),
    "district_index": ("全区监测指数", "district monitoring index"),
    "rating": ("评级", "rating"),
    "summary": ("概况", "Summary"),
    "street": ("街镇", "street"),
    "t_found": ("一、新增违建发现情况", "1. New items found"),
    "t_disposal": ("二、依法处置与动态零增长", "2. Lawful disposal and dynamic zero growth"),
    "t_closure": ("三、年度销项进度（1月1日至期末）", "3. Closure progress (1 January to period end)"),
    "t_annotation": ("四、注记、处置时长与无人机巡查", "4. Annotations, time to disposal and drone patrols"),
    "t_complaints": ("五、12345诉件办理", "5. 12345 complaints"),
    "t_ranking": ("六、街镇监测指数排名", "6. Street monitoring index ranking"),
    "t_trend": ("七、近期指数走势", "7. Index trend"),
    "t_map": ("本期新增违建分布（期末状态）", "New items of the period (status at period end)"),
    "t_charts": ("图表", "Charts"),
    "found_total": ("新增发现", "new found"),
    "found_imagery": ("影像发现", "imagery"),
    "found_patrol": ("巡查发现", "patrol"),
    "found_complaint": ("诉件发现", "complaint"),
    "found_area": ("新增面积(m²)", "area found (m²)"),
    "proactive_rate": ("主动发现率", "proactive discovery rate"),
    "confirmed_new": ("属实新增", "confirmed new"),
    "disposed_in_time": ("期限内处置", "disposed in time"),
    "disposal_due": ("到期应处置", "due"),
    "disposal_pending": ("处置中(未到期)", "pending (in deadline)"),
    "lawful_disposal_rate": ("依法处置率", "lawful disposal rate"),
    "removed_new": ("拆除新增(处)", "new removed"),
    "removed_new_area": ("拆除新增面积(m²)", "new removed (m²)"),
    "zero_growth": ("动态零增长", "zero growth"),
    "kept": ("保持", "kept"),
    "not_kept": ("未保持", "not kept"),
    "closed_demolition": ("拆除销项(处)", "demolition (items)"),
    "closed_demolition_area": ("拆除销项(m²)", "demolition (m²)"),
    "closed_permit": ("补证销项(处)", "permit (items)"),
    "closed_permit_area": ("补证销项(m²)", "permit (m²)"),
    "closed_area": ("销项合计(m²)", "closed total (m²)"),
    "target_area": ("年度目标(m²)", "annual target (m²)"),
    "closure_progress": ("完成率", "progress"),
    "closure_kpi": ("年度销项完成率", "closure progress"),
    "permit_target_area": ("补证目标(m²)", "permit target (m²)"),
    "permit_progress": ("补证完成率", "permit progress"),
    "closed_other": ("其他销项(处)", "other closures"),
    "annotated": ("注记(处)", "annotated"),
    "annotated_area": ("注记面积(m²)", "annotated (m²)"),
    "lifted": ("解注(处)", "lifted"),
    "closed_in_period": ("本期销项(处)", "closed in period"),
    "median_days": ("处置时长中位数(天)", "median days to closure"),
    "closed_new_in_period": ("其中新增销项(处)", "of which new items"),
    "median_days_new": ("新增处置时长中位数(天)", "median days, new items"),
    "sorties": ("无人机出动(架次)", "drone sorties"),
    "pilot_shifts": ("飞手人次", "pilot-shifts"),
    "complaints_received": ("受理", "received"),
    "complaints_true": ("属实", "true"),
    "complaints_resolved": ("已办结", "resolved"),
    "complaints_in_progress": ("办理中", "in progress"),
    "complaints_untrue": ("不属实", "untrue"),
    "complaints_explained": ("非重点解释办结", "non-key explained"),
    "complaints_pending": ("待核实", "pending"),
    "complaint_completion": ("办结率", "completion"),
    "complaint_kpi": ("诉件办结率", "complaint completion"),
    "rank": ("排名", "rank"),
    "index": ("监测指数", "index"),
    "flag": ("通报", "flag"),
    "bottom": ("后三位", "bottom"),
    "not_ranked": ("无数据", "no data"),
    "notes": ("说明", "Notes"),
    "note_dash": ("“—”表示分母为零（本期无相应事项），不计为0%。",
                  "\"—\" means an empty denominator (nothing to measure), never 0 %."),
    "note_log": ("全部数据依据状态事件日志截至期末的记录计算，任何时间重新生成结果一致。",
                 "All figures come from the status event log as it stood at the period's end; "
                 "re-running gives the same figures."),
    "note_deadline": ("依法处置期限：确认属实后 {days} 天内。",
                      "Lawful disposal deadline: {days} days after confirmation."),
    "chart_ranking": ("街镇监测指数", "Street monitoring index"),
    "chart_trend": ("监测指数走势", "Monitoring index trend"),
    "chart_found_removed": ("新增发现与拆除对比", "New items found vs removed"),
    "found": ("发现", "found"),
    "removed": ("拆除", "removed"),
    "no_items": ("本期无新增违建", "no new items in this period"),
    "cockpit": ("领导驾驶舱", "Leaders' cockpit"),
    "download_pdf": ("下载PDF", "Download PDF"),
    "download_xlsx": ("下载Excel", "Download Excel"),
    "total": ("合计", "total"),
}


def translator(lang: str) -> Callable[[str], str]:
    """A function giving the word of ``key`` in ``lang`` (the key itself when unknown)."""
    i = 0 if lang != "en" else 1

    def t(key: str) -> str:
        pair = WORDS.get(key)
        return pair[i] if pair else key

    return t


def status_label(status: str, lang: str) -> str:
    """The workflow label of a status."""
    s = Status(status)
    return LABELS_EN[s] if lang == "en" else LABELS_ZH[s]
