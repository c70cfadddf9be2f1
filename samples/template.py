"""The generator's own description of the 2021 national template (国办公开办函〔2021〕30号).

Written from /work/shared/template-2021.md, independently of the pipeline's template, so the two
can check each other.  Each table is a grid of ``CellSpec`` (row/col from 0, with spans); number cells
carry the field key the truth uses.  ``rules`` states the 勾稽关系 once for the number generator, the
variants that break them on purpose and the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

LABEL = "label"
NUMBER = "number"
BLANK = "blank"

ACTIVE_DISCLOSURE = "active_disclosure"
APPLICATIONS = "applications"
REVIEW_LITIGATION = "review_litigation"

PROCUREMENT_LABEL = "政府集中采购"
"""Old-template row some reports still append to table 二 (not part of the 2021 template)."""


@dataclass(frozen=True)
class CellSpec:
    """One cell of a template table: position, spans, printed label or the field of its number."""

    row: int
    col: int
    row_span: int = 1
    col_span: int = 1
    text: str = ""
    kind: str = LABEL
    field: str | None = None


@dataclass(frozen=True)
class TableSpec:
    """A whole template table; ``header_rows`` rows on top are never separated from each other."""

    key: str
    n_rows: int
    n_cols: int
    header_rows: int
    cells: tuple[CellSpec, ...]


# ---------------------------------------------------------------- 二、主动公开政府信息情况

ACTIVE_FIELDS: tuple[str, ...] = (
    "regulations.issued",
    "regulations.repealed",
    "regulations.in_force",
    "normative_documents.issued",
    "normative_documents.repealed",
    "normative_documents.in_force",
    "administrative_licensing.decisions",
    "administrative_penalty.decisions",
    "administrative_enforcement.decisions",
    "administrative_fees.amount",
)

_DECISIONS = "本年处理决定数量"


def active_disclosure(procurement: bool = False) -> TableSpec:
    """Table 二: four blocks, each headed by a row spanning all 4 columns (14 × 4, 15 with 政府集中采购)."""
    cells: list[CellSpec] = []

    def block_header(row: int, text: str) -> None:
        cells.append(CellSpec(row, 0, 1, 4, text))

    def single_number_row(row: int, label: str, field: str | None) -> None:
        cells.append(CellSpec(row, 0, text=label))
        cells.append(CellSpec(row, 1, 1, 3, kind=NUMBER, field=field))

    block_header(0, "第二十条第（一）项")
    cells += [
        CellSpec(1, 0, text="信息内容"),
        CellSpec(1, 1, text="本年制发件数"),
        CellSpec(1, 2, text="本年废止件数"),
        CellSpec(1, 3, text="现行有效件数"),
    ]
    for row, label, prefix in ((2, "规章", "regulations"), (3, "行政规范性文件", "normative_documents")):
        cells.append(CellSpec(row, 0, text=label))
        for col, what in enumerate(("issued", "repealed", "in_force"), start=1):
            cells.append(CellSpec(row, col, kind=NUMBER, field=f"{prefix}.{what}"))
    block_header(4, "第二十条第（五）项")
    cells += [CellSpec(5, 0, text="信息内容"), CellSpec(5, 1, 1, 3, _DECISIONS)]
    single_number_row(6, "行政许可", "administrative_licensing.decisions")
    block_header(7, "第二十条第（六）项")
    cells += [CellSpec(8, 0, text="信息内容"), CellSpec(8, 1, 1, 3, _DECISIONS)]
    single_number_row(9, "行政处罚", "administrative_penalty.decisions")
    single_number_row(10, "行政强制", "administrative_enforcement.decisions")
    block_header(11, "第二十条第（八）项")
    cells += [CellSpec(12, 0, text="信息内容"), CellSpec(12, 1, 1, 3, "本年收费金额（单位：万元）")]
    single_number_row(13, "行政事业性收费", "administrative_fees.amount")
    n_rows = 14
    if procurement:
        single_number_row(14, PROCUREMENT_LABEL, None)
        n_rows = 15
    return TableSpec(ACTIVE_DISCLOSURE, n_rows, 4, 2, tuple(cells))


ACTIVE_BLOCK_STARTS: tuple[int, ...] = (0, 4, 7, 11)
"""First row of each 第二十条 block of table 二: where it is cut when printed as four small tables."""


# ---------------------------------------------------------------- 三、收到和处理政府信息公开申请情况

APPLICATION_COLS: tuple[str, ...] = (
    "natural_person",
    "commercial_enterprise",
    "research_institution",
    "public_interest_org",
    "legal_service_org",
    "other_org",
    "total",
)
APPLICANT_COLS = APPLICATION_COLS[:6]

CORNER_NOTE = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"

_WITHHELD = (
    ("state_secret", "1.属于国家秘密"),
    ("prohibited_by_law", "2.其他法律行政法规禁止公开"),
    ("security_stability", "3.危及“三安全一稳定”"),
    ("third_party_rights", "4.保护第三方合法权益"),
    ("internal_affairs", "5.属于三类内部事务信息"),
    ("process_information", "6.属于四类过程性信息"),
    ("enforcement_files", "7.属于行政执法案卷"),
    ("inquiry_matters", "8.属于行政查询事项"),
)
_UNAVAILABLE = (
    ("not_held", "1.本机关不掌握相关政府信息"),
    ("needs_creation", "2.没有现成信息需要另行制作"),
    ("still_unclear", "3.补正后申请内容仍不明确"),
)
_NOT_PROCESSED = (
    ("petition", "1.信访举报投诉类申请"),
    ("duplicate", "2.重复申请"),
    ("publication", "3.要求提供公开出版物"),
    ("excessive", "4.无正当理由大量反复申请"),
    ("confirmation", "5.要求行政机关确认或重新出具已获取信息"),
)
_OTHER = (
    ("no_correction", "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请"),
    ("fee_unpaid", "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请"),
    ("other", "3.其他"),
)
_RESULT_GROUPS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("withheld", "（三）不予公开", _WITHHELD),
    ("unavailable", "（四）无法提供", _UNAVAILABLE),
    ("not_processed", "（五）不予处理", _NOT_PROCESSED),
    ("other", "（六）其他处理", _OTHER),
)



def straighten(text: str) -> str:
    """Typographic double quotes as a typist without a Chinese input method prints them."""
    return text.replace("“", '"').replace("”", '"')


RESULT_ROWS: tuple[str, ...] = (
    "disclosed",
    "partially_disclosed",
    *(f"{group}.{key}" for group, _, items in _RESULT_GROUPS for key, _ in items),
)
"""The 21 result rows whose sum is （七）总计."""

APPLICATION_ROWS: tuple[str, ...] = (
    "new_applications", "carried_over", *RESULT_ROWS, "total", "carried_forward",
)
"""The 25 body rows of table 三, top to bottom."""

APPLICATIONS_HEADER_ROWS = 3


PARTIAL_NOTE = "（区分处理的，只计这一情形，不计其他情形）"


def applications(partial_note: bool = True, straight_quotes: bool = False) -> TableSpec:
    """Table 三: 28 × 10, a 3-row column header and 25 body rows of 7 numbers.

    Real reports drop the note after （二）部分公开 or type "" for “”: both are label variants the
    matching must survive, so the template can print them.
    """
    cells: list[CellSpec] = [
        CellSpec(0, 0, 3, 3, CORNER_NOTE),
        CellSpec(0, 3, 1, 7, "申请人情况"),
        CellSpec(1, 3, 2, 1, "自然人"),
        CellSpec(1, 4, 1, 5, "法人或其他组织"),
        CellSpec(1, 9, 2, 1, "总计"),
    ]
    for col, text in enumerate(("商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他"), start=4):
        cells.append(CellSpec(2, col, text=text))

    def numbers(row: int, key: str) -> None:
        for col, name in enumerate(APPLICATION_COLS, start=3):
            cells.append(CellSpec(row, col, kind=NUMBER, field=f"applications.{key}.{name}"))

    row = APPLICATIONS_HEADER_ROWS
    cells.append(CellSpec(row, 0, 1, 3, "一、本年新收政府信息公开申请数量"))
    numbers(row, "new_applications")
    row += 1
    cells.append(CellSpec(row, 0, 1, 3, "二、上年结转政府信息公开申请数量"))
    numbers(row, "carried_over")
    row += 1
    cells.append(CellSpec(row, 0, 22, 1, "三、本年度办理结果"))
    cells.append(CellSpec(row, 1, 1, 2, "（一）予以公开"))
    numbers(row, "disclosed")
    row += 1
    cells.append(CellSpec(row, 1, 1, 2, "（二）部分公开" + (PARTIAL_NOTE if partial_note else "")))
    numbers(row, "partially_disclosed")
    row += 1
    for group, label, items in _RESULT_GROUPS:
        cells.append(CellSpec(row, 1, len(items), 1, label))
        for key, item in items:
            cells.append(CellSpec(row, 2, text=straighten(item) if straight_quotes else item))
            numbers(row, f"{group}.{key}")
            row += 1
    cells.append(CellSpec(row, 1, 1, 2, "（七）总计"))
    numbers(row, "total")
    row += 1
    cells.append(CellSpec(row, 0, 1, 3, "四、结转下年度继续办理"))
    numbers(row, "carried_forward")
    row += 1
    return TableSpec(APPLICATIONS, row, 10, APPLICATIONS_HEADER_ROWS, tuple(cells))


# ---------------------------------------------------------------- 四、行政复议、行政诉讼

REVIEW_GROUPS: tuple[str, ...] = ("admin_review", "litigation_direct", "litigation_after_review")
REVIEW_COLS: tuple[str, ...] = ("upheld", "corrected", "other", "pending", "total")
_REVIEW_LABELS = ("结果维持", "结果纠正", "其他结果", "尚未审结", "总计")


def review_litigation() -> TableSpec:
    """Table 四: 4 × 15, three header rows over one body row of 15 integers."""
    cells: list[CellSpec] = [
        CellSpec(0, 0, 1, 5, "行政复议"),
        CellSpec(0, 5, 1, 10, "行政诉讼"),
        CellSpec(1, 5, 1, 5, "未经复议直接起诉"),
        CellSpec(1, 10, 1, 5, "复议后起诉"),
    ]
    for i, text in enumerate(_REVIEW_LABELS):
        cells.append(CellSpec(1, i, 2, 1, text))
    for start in (5, 10):
        for i, text in enumerate(_REVIEW_LABELS):
            cells.append(CellSpec(2, start + i, text=text))
    for g, group in enumerate(REVIEW_GROUPS):
        for i, name in enumerate(REVIEW_COLS):
            cells.append(CellSpec(3, 5 * g + i, kind=NUMBER, field=f"review_litigation.{group}.{name}"))
    return TableSpec(REVIEW_LITIGATION, 4, 15, 3, tuple(cells))


# ---------------------------------------------------------------- fields and arithmetic


def all_field_keys() -> tuple[str, ...]:
    """Every field key of the truth, in table order (二, 三, 四)."""
    apps = tuple(f"applications.{row}.{col}" for row in APPLICATION_ROWS for col in APPLICATION_COLS)
    review = tuple(f"review_litigation.{g}.{c}" for g in REVIEW_GROUPS for c in REVIEW_COLS)
    return ACTIVE_FIELDS + apps + review


@dataclass(frozen=True)
class Rule:
    """One 勾稽关系: sum(lhs) == sum(rhs); ``message`` is formatted with the two sums when it fails."""

    message: str
    lhs: tuple[str, ...]
    rhs: tuple[str, ...]


def rules() -> tuple[Rule, ...]:
    """Every 勾稽关系 of the fact sheet, over field keys (named, so a broken one can name its cells)."""
    def app(row: str, col: str) -> str:
        return f"applications.{row}.{col}"

    out: list[Rule] = []
    for row in APPLICATION_ROWS:
        out.append(Rule(f"applications.{row}: 总计 {{lhs}} != sum of applicants {{rhs}}", (app(row, "total"),),
                        tuple(app(row, col) for col in APPLICANT_COLS)))
    for col in APPLICATION_COLS:
        out.append(Rule(f"applications.*.{col}: （七）总计 {{lhs}} != sum of results {{rhs}}", (app("total", col),),
                        tuple(app(row, col) for row in RESULT_ROWS)))
        out.append(Rule(f"applications.*.{col}: 一+二 {{lhs}} != （七）总计+四 {{rhs}}",
                        (app("new_applications", col), app("carried_over", col)),
                        (app("total", col), app("carried_forward", col))))
    for group in REVIEW_GROUPS:
        keys = tuple(f"review_litigation.{group}.{c}" for c in REVIEW_COLS)
        out.append(Rule(f"review_litigation.{group}: 总计 {{lhs}} != sum {{rhs}}", keys[4:], keys[:4]))
    return tuple(out)


def value_errors(fields: Mapping[str, str]) -> list[str]:
    """Fields missing or not printed as numbers (the rules can only be checked without these)."""
    missing = [key for key in all_field_keys() if key not in fields]
    if missing:
        return [f"missing fields: {missing[:5]}{'...' if len(missing) > 5 else ''}"]
    errors: list[str] = []
    for key in all_field_keys():
        value = fields[key]
        if key == "administrative_fees.amount":
            try:
                Decimal(value)
            except InvalidOperation:
                errors.append(f"{key}={value!r} is not a number")
        elif not value.isdigit():
            errors.append(f"{key}={value!r} is not a non-negative integer")
    return errors


def broken_rules(fields: Mapping[str, str]) -> list[Rule]:
    """The rules ``fields`` violates; the fields must all be present and numeric (see arithmetic_errors)."""
    def total(keys: tuple[str, ...]) -> int:
        return sum(int(fields[k]) for k in keys)

    return [r for r in rules() if total(r.lhs) != total(r.rhs)]


def arithmetic_errors(fields: Mapping[str, str]) -> list[str]:
    """Every 勾稽关系 of the fact sheet that ``fields`` violates (empty list when all hold)."""
    errors = value_errors(fields)
    if errors:
        return errors
    return [r.message.format(lhs=sum(int(fields[k]) for k in r.lhs), rhs=sum(int(fields[k]) for k in r.rhs))
            for r in broken_rules(fields)]
