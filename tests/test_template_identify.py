"""Identifying a report: agency, year and date from its title and closing line, as OCR reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ocr.template import TEMPLATES_DIR, Template, identify, load_template, report_info

IDENTITY = {"agency", "year", "date"}  # the values; the record adds how sure each is
TRUTHS = sorted((Path(__file__).resolve().parent.parent / "samples" / "data").glob("*.truth.json"))


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(TEMPLATES_DIR / "gov_disclosure_annual_report.yaml")


# ---------------------------------------------------------------- report identity


def test_report_info_from_title_and_closing(template: Template) -> None:
    lines = ["第十一师 2021 年度政府信息公开工作 年度报告", "一、总体情况", "第十一师办公室 2022年2月10日"]
    info = report_info(lines, template)
    assert (info.agency, info.year, info.date) == ("第十一师", 2021, "2022-02-10")
    assert identify([], lines, [template]) is template
    wrapped = ["— 1 —", "合川县生态环境局２０２０年度政府信息", "公开工作年度报告", "合川县生态环境局办 公室",
               "2021 年 3 月 27 日"]
    info = report_info(wrapped, template)
    assert (info.agency, info.year) == ("合川县生态环境局", 2020)
    assert report_info(["某某局办公室 2022年2月10日"], template).model_dump(include=IDENTITY) == {
        "agency": "某某局", "year": None, "date": "2022-02-10"}
    assert report_info(["政府信息公开工怍年度报吿", "某某局 2022年2月30日"], template).model_dump(include=IDENTITY) == {
        "agency": None, "year": None, "date": None}
    assert report_info([], template).model_dump(include=IDENTITY) == {"agency": None, "year": None, "date": None}


@pytest.mark.parametrize("path", TRUTHS, ids=[p.name.removesuffix(".truth.json") for p in TRUTHS])
def test_report_info_of_the_samples(path: Path, template: Template) -> None:
    report = json.loads(path.read_text(encoding="utf-8"))["report"]
    y, m, d = (int(x) for x in report["date"].split("-"))
    lines = [f"{report['agency']}{report['year']}年度政府信息公开工作年度报告", "五、存在的主要问题及改进情况",
             f"{report['agency']}办公室 {y}年{m}月{d}日"]
    assert report_info(lines, template).model_dump(include=IDENTITY) == report
