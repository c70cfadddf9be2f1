"""What a sample report says: agency, year, date, the table numbers and the prose.

Numbers are drawn so that every 勾稽关系 of the template holds (checked with
``template.arithmetic_errors`` before returning).  Prose recombines sentences of the seed report
(/work/shared/seeds/000_491d5e7aac25b4a8.txt) with the agency and year substituted, and quotes the
application counts of table 三 so text and tables agree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from samples import template as T

CN_DIGITS = "零一二三四五六七八九十"


@dataclass(frozen=True)
class Agency:
    """The reporting body, how it refers to itself and to whom it reports."""

    name: str
    self_ref: str  # 本师 / 本区 / 本局 ...
    upper: str  # 兵团 / 市委、市政府 ...
    corps: bool  # 新疆生产建设兵团 wording


@dataclass(frozen=True)
class Block:
    """One element of the document flow: title, heading, subheading, para, table or closing."""

    kind: str
    text: str = ""


@dataclass(frozen=True)
class Report:
    """Everything printed in one document (layout-independent)."""

    agency: Agency
    year: int
    date: dt.date
    fields: dict[str, str]
    procurement: str | None  # value of the old-template 政府集中采购 row, if printed
    blocks: tuple[Block, ...]

    @property
    def date_text(self) -> str:
        """The date as printed on the closing line, e.g. 2022年2月10日."""
        return f"{self.date.year}年{self.date.month}月{self.date.day}日"


def _pick(rng: np.random.Generator, items: tuple[str, ...] | list[str]) -> str:
    return items[int(rng.integers(len(items)))]


def _cn_number(n: int) -> str:
    """1..99 in Chinese numerals (第十一师)."""
    if n <= 10:
        return CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else CN_DIGITS[tens]) + "十" + (CN_DIGITS[ones] if ones else "")


_CITIES = ("临江", "青山", "安平", "东阳", "云溪", "永宁", "清河", "长乐", "南屏", "宁远", "凤城", "白水",
           "石门", "金沙", "平川", "江口", "桐乡", "望城")
_DISTRICTS = ("城关", "新城", "东湖", "西林", "鼓楼", "北塘", "南山", "高新", "河西", "滨江")
_COUNTIES = ("宁安", "清水", "丰乐", "通安", "龙泉", "兴隆", "柳河", "太和", "合川", "梅岭")
_TOWNS = ("石桥", "河口", "新集", "黄土岭", "双溪", "马坊")
_BUREAUS = (
    ("财政局", "本局"), ("教育局", "本局"), ("自然资源局", "本局"), ("生态环境局", "本局"),
    ("交通运输局", "本局"), ("住房和城乡建设局", "本局"), ("卫生健康委员会", "本委"),
    ("市场监督管理局", "本局"), ("人力资源和社会保障局", "本局"), ("民政局", "本局"),
    ("农业农村局", "本局"), ("统计局", "本局"),
)


def make_agency(rng: np.random.Generator) -> Agency:
    """An agency name from a pool of shapes: 兵团师, 区/县人民政府, 县/市直部门, 镇人民政府."""
    shape = int(rng.choice(4, p=[0.25, 0.3, 0.35, 0.1]))
    if shape == 0:
        return Agency(f"第{_cn_number(int(rng.integers(1, 15)))}师", "本师", "兵团", True)
    if shape == 1:
        if rng.random() < 0.5:
            name = f"{_pick(rng, _CITIES)}市{_pick(rng, _DISTRICTS)}区人民政府"
            return Agency(name, "本区", "市政府", False)
        return Agency(f"{_pick(rng, _COUNTIES)}县人民政府", "本县", "市政府", False)
    if shape == 2:
        bureau, self_ref = _BUREAUS[int(rng.integers(len(_BUREAUS)))]
        place = f"{_pick(rng, _COUNTIES)}县" if rng.random() < 0.5 else f"{_pick(rng, _CITIES)}市"
        return Agency(place + bureau, self_ref, place[-1] + "政府", False)
    town = _pick(rng, _TOWNS)
    return Agency(f"{_pick(rng, _COUNTIES)}县{town}镇人民政府", "本镇", "县政府", False)


# ---------------------------------------------------------------- numbers


def _split(rng: np.random.Generator, total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` over rows with sparse random weights (most rows stay zero)."""
    active = rng.random(len(weights)) < 0.35
    active[0] = True
    w = weights * active * rng.uniform(0.3, 1.7, len(weights))
    return rng.multinomial(total, w / w.sum())


# Rough shares of the 21 result rows in real reports: mostly 予以公开 and 不掌握.
_RESULT_WEIGHTS = np.array([10, 3, 0.3, 0.3, 0.2, 0.6, 0.4, 0.5, 0.2, 0.3, 4, 0.8, 0.6,
                            1, 0.8, 0.5, 0.2, 0.3, 0.5, 0.1, 0.8], dtype=float)


def make_numbers(rng: np.random.Generator) -> dict[str, str]:
    """All 200 field values as printed, satisfying the template arithmetic."""
    profile = int(rng.choice(3, p=[0.3, 0.55, 0.15]))  # 0 quiet year, 1 small counts, 2 big agency
    fields: dict[str, str] = {}

    # 二: free integers and the fee.
    small = profile < 2
    fields["regulations.issued"] = str(int(rng.integers(0, 3 if small else 12)) if rng.random() < 0.3 else 0)
    fields["regulations.repealed"] = str(int(rng.integers(0, 3)) if rng.random() < 0.2 else 0)
    in_force = int(rng.integers(0, 20 if small else 150))
    fields["regulations.in_force"] = str(in_force if rng.random() < 0.4 else 0)
    fields["normative_documents.issued"] = str(int(rng.integers(0, 30 if small else 300)))
    fields["normative_documents.repealed"] = str(int(rng.integers(0, 10 if small else 80)))
    fields["normative_documents.in_force"] = str(int(rng.integers(0, 120 if small else 2000)))
    for key, hi_small, hi_big in (("administrative_licensing.decisions", 400, 90000),
                                  ("administrative_penalty.decisions", 200, 30000),
                                  ("administrative_enforcement.decisions", 20, 3000)):
        fields[key] = str(int(rng.integers(0, hi_small if small else hi_big)) if rng.random() < 0.8 else 0)
    if rng.random() < 0.2:
        fields["administrative_fees.amount"] = "0"
    else:
        amount = float(rng.uniform(0.5, 600.0 if small else 60000.0))
        decimals = 4 if rng.random() < 0.75 else 2
        fields["administrative_fees.amount"] = f"{amount:.{decimals}f}"

    # 三: per applicant column, results first, then carried over / forward, new = the balance.
    scale = (0.0, float(rng.uniform(2, 40)), float(rng.uniform(150, 12000)))[profile]
    shares = np.array([1.0, 0.25, 0.03, 0.04, 0.06, 0.1]) * rng.uniform(0.3, 1.5, 6)
    table: dict[str, np.ndarray] = {}
    results = np.zeros((len(T.RESULT_ROWS), 6), dtype=np.int64)
    carried_over = np.zeros(6, dtype=np.int64)
    carried_forward = np.zeros(6, dtype=np.int64)
    for c in range(6):
        if profile == 0 or (c > 0 and rng.random() < 0.55):
            continue
        total = int(rng.poisson(scale * shares[c]))
        results[:, c] = _split(rng, total, _RESULT_WEIGHTS) if total else 0
        if rng.random() < 0.5:
            carried_forward[c] = int(rng.integers(0, max(1, total // 6) + 1))
        pending = total + int(carried_forward[c])
        if pending and rng.random() < 0.5:  # carried over can only be what was then handled or carried on
            carried_over[c] = int(rng.integers(0, max(1, pending // 6) + 1))
    result_total = results.sum(axis=0)
    new = result_total + carried_forward - carried_over
    table["new_applications"] = new
    table["carried_over"] = carried_over
    for i, row in enumerate(T.RESULT_ROWS):
        table[row] = results[i]
    table["total"] = result_total
    table["carried_forward"] = carried_forward
    for row in T.APPLICATION_ROWS:
        values = [int(v) for v in table[row]]
        for col, value in zip(T.APPLICATION_COLS, [*values, sum(values)], strict=True):
            fields[f"applications.{row}.{col}"] = str(value)

    # 四: mostly zeros; each group's 总计 is the sum of its four results.
    for g, group in enumerate(T.REVIEW_GROUPS):
        parts = [0, 0, 0, 0]
        if profile and rng.random() < (0.5, 0.35, 0.25)[g]:
            lam = float(rng.uniform(0.3, 3.0 if profile == 1 else 60.0))
            parts = [int(v) for v in rng.poisson(lam * np.array([1.0, 0.3, 0.4, 0.3]))]
        for name, value in zip(T.REVIEW_COLS, [*parts, sum(parts)], strict=True):
            fields[f"review_litigation.{group}.{name}"] = str(value)

    errors = T.arithmetic_errors(fields)
    if errors:  # pragma: no cover - a bug in this function, not a data condition
        raise AssertionError(errors)
    return fields


# ---------------------------------------------------------------- prose


def _intro(rng: np.random.Generator, a: Agency, year: int) -> str:
    spirit = "党的二十大精神" if year >= 2023 else "党的十九大和十九届历次全会精神"
    notice = "（国办发〔2021〕12号）" if year == 2021 else ""
    first = (f"{year}年，{a.name}坚持以习近平新时代中国特色社会主义思想为指导，全面贯彻落实{spirit}，"
             f"贯彻落实党中央有关的决策部署，认真贯彻落实《中华人民共和国政府信息公开条例》（国务院令第711号）、"
             f"《国务院办公厅关于印发{year}年政务公开工作要点的通知》{notice}精神。")
    if a.corps:
        middle = "紧紧围绕新疆工作总目标，聚焦兵团职责使命，认真执行兵团党委、兵团关于政务公开工作决策部署，"
    else:
        middle = _pick(rng, (f"紧紧围绕{a.upper}中心工作，认真执行上级关于政务公开工作决策部署，",
                             "坚持以公开为常态、不公开为例外，聚焦群众关切，"))
    return first + middle + "确保政府信息做到了依法主动公开、依申请公开，进一步推动政府信息公开再上新台阶。"


def _active(rng: np.random.Generator, a: Agency, year: int, fields: dict[str, str]) -> list[str]:
    posts = int(rng.integers(120, 4000))
    site = f"{a.name}政务门户网站" if a.corps else f"{a.name}门户网站"
    first = (f"一是拓展公开内容，提升规范化水平。按照国务院办公厅和《条例》规定，优化网站功能，规范平台建设，"
             f"提升{a.self_ref}主动公开工作整体实效。{year}年，{site}充分发挥政务公开主阵地作用，"
             f"全年发布政务信息{posts}条，充分保障了社会公众的知情权、参与权、表达权和监督权。")
    second = (f"二是按照统一名称、统一格式的要求，聚焦法定主动公开内容，其中：制发行政规范性文件"
              f"{fields['normative_documents.issued']}件，政策解读{int(rng.integers(3, 200))}条；"
              f"公布{year - 1}年度政府信息公开工作年度报告和政府网站工作年度报表。")
    third = ("在网站首页“政务公开”栏目开设“财政公开”专栏，扎实推进财政预决算、“三公”经费等相关内容公开。")
    paras = [first, second]
    if rng.random() < 0.6:
        paras[-1] += third
    return paras


def _on_request(a: Agency, year: int, fields: dict[str, str]) -> str:
    new = int(fields["applications.new_applications.total"])
    old = int(fields["applications.carried_over.total"])
    if new == 0 and old == 0:
        return f"{year}年度未收到政府信息公开申请。"
    text = f"{year}年度，{a.self_ref}共收到政府信息公开申请{new}件"
    if old:
        text += f"，上年结转{old}件"
    done = int(fields["applications.total.total"])
    text += f"，办结{done}件"
    later = int(fields["applications.carried_forward.total"])
    if later:
        text += f"，结转下年度继续办理{later}件"
    return text + "。所有申请均在法定期限内予以答复，未发生因依申请公开引发的负面舆情。"


def _management(rng: np.random.Generator, a: Agency) -> str:
    return _pick(rng, (
        f"{a.self_ref}加强和完善政府信息公开制度，根据《中华人民共和国政府信息公开条例》要求，结合工作实际，"
        "建立了常态化工作机制和信息发布审核制度，形成信息发布逐级审核、层层把关，发布前审核、发布后复查的"
        "工作闭环。同时加强对工作人员的教育培训，确保信息实时动态更新，充分保障公众知情权，提高工作透明度。",
        "严格落实信息发布“三审”制度，对拟公开的政府信息进行保密审查，做到应公开尽公开、不该公开的坚决不公开。"
        "定期清理网站栏目，对空白栏目、更新不及时栏目进行整改。",
    ))


def _platform(rng: np.random.Generator, a: Agency) -> str:
    return _pick(rng, (
        f"依托{a.name}官网、政务服务一体化平台、政务新媒体等载体，公开政府的机构职能、工作动态、"
        "政府信息公开工作年度报告和其他便民服务措施，让广大群众通过不同渠道获取信息，自觉接受群众监督。",
        "持续优化政府网站集约化平台，规范政务新媒体运营管理，在办事大厅设置政府信息公开查阅点，"
        "方便群众就近查阅政府信息。",
    ))


def _oversight(rng: np.random.Generator, a: Agency, year: int) -> str:
    ref = "兵团" if a.corps else "上级"
    return (f"{a.self_ref}严格按照{ref}要求，在门户网站、办事服务中心等公布监督方式，主动接受群众监督评议。"
            + _pick(rng, (f"{year}年全年无信息公开方面投诉处理事件。",
                          "全年未发生因政府信息公开工作引发的责任追究情况。")))


_PROBLEMS = (
    ("政务信息公开工作业务培训有待进一步加强。",
     "下一步将针对工作需要，对公开的涉及面广、社会关注度高的政府信息，建立相关业务培训常态化制度，"
     "提高工作能力，保证信息的时效性，以确保政务信息公开工作落实到位。"),
    ("政府信息公开的数量和质量存在差距。",
     "下一步将按照政府信息公开有关工作要求，进一步推动政府信息公开各项工作，加强基层调研，"
     "建立与群众的经常沟通机制，对群众关注的信息加大公开力度，做到应公开尽公开。"
     "加强政策解读宣传力度，提升政策解读回应水平，在信息提供中强化服务意识，提高服务质量和效率。"),
    ("公开方式比较单一，公开途径不够广泛。",
     "下一步将进一步优化政务新媒体、门户网站等平台栏目，切实做好信息公开平台的维护，"
     "加强对信息公开工作的宣传力度，引导群众正确使用政府信息公开服务功能。"),
    ("政策解读形式不够丰富。",
     "下一步将综合运用图片图表、音频视频、动漫等形式开展解读，增强政策解读的针对性和可读性。"),
)


def make_blocks(rng: np.random.Generator, a: Agency, year: int, fields: dict[str, str],
                date_text: str) -> tuple[Block, ...]:
    """The document flow: prose sections around the three tables and the closing line."""
    blocks = [Block("title", f"{a.name}{year}年度政府信息公开工作年度报告")]
    if rng.random() < 0.5:
        blocks.append(Block("para", f"本报告根据《中华人民共和国政府信息公开条例》要求编制，"
                                    f"所列数据统计期限自{year}年1月1日起至{year}年12月31日止。"))
    blocks += [Block("heading", "一、总体情况"), Block("para", _intro(rng, a, year))]
    subs = [
        ("（一）主动公开", _active(rng, a, year, fields)),
        ("（二）依申请公开", [_on_request(a, year, fields)]),
        ("（三）政府信息管理", [_management(rng, a)]),
        ("（四）政府信息公开平台建设", [_platform(rng, a)]),
        ("（五）监督保障", [_oversight(rng, a, year)]),
    ]
    for title, paras in subs:
        blocks.append(Block("subheading", title))
        blocks += [Block("para", p) for p in paras]
    blocks += [
        Block("heading", "二、主动公开政府信息情况"), Block("table", T.ACTIVE_DISCLOSURE),
        Block("heading", "三、收到和处理政府信息公开申请情况"), Block("table", T.APPLICATIONS),
        Block("heading", "四、政府信息公开行政复议、行政诉讼情况"), Block("table", T.REVIEW_LITIGATION),
        Block("heading", "五、存在的主要问题及改进情况"),
    ]
    order = rng.permutation(len(_PROBLEMS))[: int(rng.integers(2, 4))]
    for n, i in enumerate(order, start=1):
        head, body = _PROBLEMS[int(i)]
        blocks.append(Block("para", f"{n}.{head}{body}"))
    blocks.append(Block("heading", "六、其他需要报告的事项"))
    blocks.append(Block("para", _pick(rng, ("无", "无。", f"{a.self_ref}无其他需要报告的事项。"))))
    blocks.append(Block("closing", f"{a.name}办公室 {date_text}"))
    return tuple(blocks)


def make_report(rng: np.random.Generator, tier: str) -> Report:
    """A complete report; the old-template 政府集中采购 row appears in ~25% of non-clean documents."""
    agency = make_agency(rng)
    year = int(rng.integers(2020, 2024))
    date = dt.date(year + 1, int(rng.integers(1, 4)), int(rng.integers(1, 29)))
    fields = make_numbers(rng)
    procurement = None
    if tier != "clean" and rng.random() < 0.25:
        procurement = str(int(rng.integers(0, 400)))
    date_text = f"{date.year}年{date.month}月{date.day}日"
    blocks = make_blocks(rng, agency, year, fields, date_text)
    return Report(agency, year, date, fields, procurement, blocks)
