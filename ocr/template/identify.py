"""Which report a document is, and whose: the template it matches, its agency, year and date.

A template is recognised by its printed title or by its tables' words found in the record's tables
(either can be missing or garbled on a scan); agency and year come from the title, the date from the
closing line, each None when it cannot be read.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence

from rapidfuzz import fuzz

from ocr.model import ReportInfo, Table
from ocr.template.labels import normalize, squash
from ocr.template.spec import Template

TITLE_WORDS_MIN = 85.0
RECOGNISE_WORD_MIN = 80.0
RECOGNISE_SHARE = 0.5  # share of a template table's words found in the record's tables to recognise it


def _table_text(table: Table) -> str:
    return normalize("".join(c.text for c in sorted(table.cells, key=lambda c: (c.row, c.col))
                             if c.kind == "label"))


def identify(tables: Sequence[Table], lines: Sequence[str], templates: Sequence[Template]) -> Template | None:
    """The template whose title is printed, or whose tables' words are found, best first; None if none."""
    texts = [_table_text(t) for t in tables]
    norm_lines = [normalize(x) for x in lines]
    best: Template | None = None
    best_score = 0.0
    for template in templates:
        title = any(template.title.search(squash(x)) for x in lines) or any(
            len(x) >= len(template.title_words) // 2 and fuzz.partial_ratio(template.title_words, x) >= TITLE_WORDS_MIN
            for x in norm_lines)
        found = 0
        for t in template.tables:
            hits = sum(any(w in x or fuzz.partial_ratio(w, x) >= RECOGNISE_WORD_MIN for x in texts)
                       for w in t.recognise)
            found += hits / len(t.recognise) >= RECOGNISE_SHARE
        score = float(title) + found / len(template.tables)
        if (title or found) and score > best_score:
            best, best_score = template, score
    return best


def report_info(lines: Sequence[str], template: Template, confidences: Sequence[float] | None = None) -> ReportInfo:
    """Agency and year from the title, ISO date from the closing line; None for what cannot be read.

    Each value is as sure as the line it was read from (a title wrapped over two lines as the less sure of
    them; `confidences` are the lines' OCR confidences, exact text when not given). Title and closing line
    are two readings of the report's identity: where both name the agency, or the date falls in the
    report's year or the next, the value is wrong only if both readings are.
    """
    conf = list(confidences) if confidences is not None else [1.0] * len(lines)
    if len(conf) != len(lines):
        raise ValueError(f"{len(lines)} lines but {len(conf)} confidences")
    squashed = [squash(x) for x in lines]
    read = list(zip(squashed, conf, strict=True))
    candidates = read + [(a + b, min(ca, cb)) for (a, ca), (b, cb) in zip(read, read[1:], strict=False)]  # wrapped
    agency: str | None = None
    year: int | None = None
    title_conf = 0.0
    for text, c in candidates:
        hit = template.title.search(text)
        if hit:
            agency = _clean_agency(hit.group("agency"))
            year = int(hit.group("year"))
            title_conf = c
            break
    agency_conf = title_conf if agency is not None else None
    year_conf = title_conf if year is not None else None
    date: str | None = None
    date_conf: float | None = None
    if template.closing is not None:
        for text, c in reversed(read):
            hit = template.closing.search(text)
            if not hit:
                continue
            try:
                day = dt.date(int(hit.group("year")), int(hit.group("month")), int(hit.group("day")))
            except ValueError:
                continue
            date, date_conf = day.isoformat(), c
            closing_agency = _clean_agency(hit.group("agency") or "") if "agency" in hit.re.groupindex else None
            if agency is None:
                agency, agency_conf = closing_agency, c if closing_agency is not None else None
            elif closing_agency == agency and agency_conf is not None:
                agency_conf = _either(agency_conf, c)
            if year is not None and year_conf is not None and day.year in (year, year + 1):
                year_conf = _either(year_conf, c)
            break
    return ReportInfo(agency=agency, year=year, date=date, agency_confidence=_rounded(agency_conf),
                      year_confidence=_rounded(year_conf), date_confidence=_rounded(date_conf))


def _either(a: float, b: float) -> float:
    """Two independent readings of one value: wrong only if both are."""
    return 1.0 - (1.0 - a) * (1.0 - b)


def _rounded(c: float | None) -> float | None:
    return None if c is None else round(min(1.0, max(0.0, c)), 4)


def _clean_agency(text: str) -> str | None:
    """The agency name without stray marks OCR put around it."""
    text = text.strip("".join(ch for ch in set(text) if unicodedata.category(ch)[0] in "PSZ"))
    return text or None
