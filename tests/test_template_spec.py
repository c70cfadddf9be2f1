"""The template file format: the shipped file names every field and the fact sheet's arithmetic, and a
broken file is an error naming the file and the entry."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from ocr.errors import TemplateError
from ocr.template import TEMPLATES_DIR, Template, load_template, load_templates
from samples import template as T

SHIPPED = TEMPLATES_DIR / "gov_disclosure_annual_report.yaml"
TRUTHS = sorted((Path(__file__).resolve().parent.parent / "samples" / "data").glob("*.truth.json"))


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(SHIPPED)


# ---------------------------------------------------------------- the shipped file


def test_shipped_template_names_every_field_like_the_generator(template: Template) -> None:
    assert template.id == "gov_disclosure_annual_report"
    assert list(template.value_types) == list(T.all_field_keys())
    assert template.value_types["administrative_fees.amount"] == "decimal"
    assert {v for k, v in template.value_types.items() if k != "administrative_fees.amount"} == {"integer"}
    assert all(template.labels[k] for k in template.value_types)
    assert template.labels["applications.total.natural_person"] == "（七）总计 自然人"
    assert template.labels["administrative_licensing.decisions"] == "行政许可"
    assert [t.key for t in template.tables] == [T.ACTIVE_DISCLOSURE, T.APPLICATIONS, T.REVIEW_LITIGATION]
    assert load_templates() and load_templates()[0].id == template.id  # the default folder


def _holds(template: Template, fields: dict[str, str]) -> list[str]:
    """Names of the template's constraints that `fields` violate."""
    def total(keys: tuple[str, ...]) -> Decimal:
        return sum((Decimal(fields[k]) for k in keys), Decimal(0))
    return [c.name for c in template.constraints if total(c.lhs) != total(c.rhs)]


def test_constraints_are_the_fact_sheet_arithmetic(template: Template) -> None:
    names = [c.name for c in template.constraints]
    assert len(names) == 25 + 7 + 7 + 3 and len(set(names)) == len(names)
    assert "三 自然人列：一 + 二 = 总计 + 四" in names
    assert "四 行政复议：总计 = 结果维持 + 结果纠正 + 其他结果 + 尚未审结" in names
    assert all(k in template.value_types for c in template.constraints for k in (*c.lhs, *c.rhs))
    rng = random.Random(4)
    for path in TRUTHS:
        fields = json.loads(path.read_text(encoding="utf-8"))["fields"]
        assert _holds(template, fields) == [] == T.arithmetic_errors(fields)
        # Any single changed count breaks both the generator's arithmetic and ours, and only then.
        for key in rng.sample([k for k in fields if k.startswith(("applications.", "review_litigation."))], 25):
            broken = dict(fields, **{key: str(int(fields[key]) + 1)})
            assert _holds(template, broken) and T.arithmetic_errors(broken), key
    assert not any("active_disclosure" in k or k.startswith(("regulations", "administrative"))
                   for c in template.constraints for k in (*c.lhs, *c.rhs))  # 二 has no arithmetic


# ---------------------------------------------------------------- broken files


Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = data
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        if value is _DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value
    return edit


_DELETE = object()

BROKEN: dict[str, tuple[Edit, str]] = {
    "unknown key": (_set("tables/0/colour", "red"), "tables[0]: unknown key 'colour'"),
    "unknown top-level key": (_set("version", 2), "(top level): unknown key 'version'"),
    "missing label": (_set("tables/1/rows/0/label", _DELETE), "tables[1].rows[0]: missing 'label'"),
    "empty label": (_set("tables/1/rows/1/label", ""), "tables[1].rows[1].label:"),
    "duplicate key": (_set("tables/1/rows/2/rows/1/key", "disclosed"),
                      "tables[1].rows[2].rows[1]: duplicate key 'disclosed'"),
    "duplicate field key": (_set("tables/0/blocks/2/rows/0/key", "administrative_licensing"),
                            "tables[0].blocks[2].rows: duplicate field key 'administrative_licensing.decisions'"),
    "leaf without key": (_set("tables/2/columns/0/columns/1/key", _DELETE),
                         "tables[2].columns[0].columns[1]: '结果纠正' has no columns below it, so it needs a key"),
    "unknown value type": (_set("tables/0/type", "float"), "tables[0].type:"),
    "unknown constraint field": (_set("constraints/0/rhs/2", "nobody"),
                                 "constraints[0].rhs[2]: unknown column 'nobody' in table 'applications'"),
    "unknown range end": (_set("constraints/1/rhs/0", "disclosed..other.nothing"),
                          "constraints[1].rhs[0]: unknown row 'other.nothing'"),
    "range backwards": (_set("constraints/1/rhs/0", "other.other..disclosed"),
                        "constraints[1].rhs[0]: range 'other.other..disclosed' runs backwards"),
    "unknown constraint table": (_set("constraints/3/table", "tables_five"),
                                 "constraints[3].table: unknown table 'tables_five'"),
    "bad name placeholder": (_set("constraints/2/name", "{table} {colum}"), "constraints[2].name: bad placeholder"),
    "attribute placeholder": (_set("constraints/2/name", "{table.x}"), "constraints[2].name: bad placeholder"),
    "bad regex": (_set("identify/title", "(?P<agency>[年"), "identify.title: bad regex"),
    "regex without year": (_set("identify/title", "(?P<agency>.+)年度报告"),
                           "identify.title: regex lacks the named group(s) year"),
    "duplicate table": (_set("tables/2/key", "applications"), "tables[2].key: duplicate table key 'applications'"),
    "blocks and rows": (_set("tables/0/rows", [{"key": "x", "label": "某行"}]),
                        "tables[0]: give either 'blocks' or 'stub'/'columns'/'rows', not both"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_template_names_file_and_entry(case: str, tmp_path: Path) -> None:
    edit, message = BROKEN[case]
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(TemplateError) as err:
        load_template(path)
    assert str(err.value).startswith("broken.yaml: ") and message in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


def test_unreadable_files_are_template_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\ntables: [\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"^bad\.yaml: not valid YAML: .* at line \d+$"):
        load_template(bad)
    bad.write_bytes(b"id: \xff\xfe\n")
    with pytest.raises(TemplateError, match=r"^bad\.yaml: not UTF-8 text"):
        load_template(bad)
    bad.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"^bad\.yaml: expected a mapping"):
        load_template(bad)
    (tmp_path / "bad.yaml").unlink()
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(SHIPPED.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(TemplateError, match=r"^b\.yaml: id: duplicate template id 'gov_disclosure_annual_report'"):
        load_templates(tmp_path)
