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


def report_info(lines: Sequence[str], template: Template) -> ReportInfo:
    """Agency and year from the title, ISO date from the closing line; None for what cannot be read."""
    agency: str | None = None
    year: int | None = None
    date: str | None = None
    squashed = [squash(x) for x in lines]
    candidates = squashed + [a + b for a, b in zip(squashed, squashed[1:], strict=False)]  # a title wrapped
    for text in candidates:
        hit = template.title.search(text)
        if hit:
            agency = _clean_agency(hit.group("agency"))
            year = int(hit.group("year"))
            break
    if template.closing is not None:
        for text in reversed(squashed):
            hit = template.closing.search(text)
            if not hit:
                continue
            try:
                date = dt.date(int(hit.group("year")), int(hit.group("month")), int(hit.group("day"))).isoformat()
            except ValueError:
                continue
            if agency is None and "agency" in hit.re.groupindex:
                agency = _clean_agency(hit.group("agency") or "")
            break
    return ReportInfo(agency=agency, year=year, date=date)


def _clean_agency(text: str) -> str | None:
    """The agency name without stray marks OCR put around it."""
    text = text.strip("".join(ch for ch in set(text) if unicodedata.category(ch)[0] in "PSZ"))
    return text or None
