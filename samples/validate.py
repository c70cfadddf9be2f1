"""Consistency checks of a truth dictionary (used by the tests, handy for anyone editing the generator).

``validate_truth`` returns human-readable problems instead of raising, so one run lists them all.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from samples import deviations as D
from samples import template as T
from samples import variants as V

EXPECTED_COLS = {T.ACTIVE_DISCLOSURE: 4, T.APPLICATIONS: 10, T.REVIEW_LITIGATION: 15}


def _inside(inner: list[float], outer: list[float]) -> bool:
    return outer[0] <= inner[0] <= inner[2] <= outer[2] and outer[1] <= inner[1] <= inner[3] <= outer[3]


def tiling_errors(table: dict[str, Any]) -> list[str]:
    """Every (row, col) slot of the part covered by exactly one cell's span."""
    n_rows, n_cols = table["n_rows"], table["n_cols"]
    cover = [[0] * n_cols for _ in range(n_rows)]
    errors: list[str] = []
    for c in table["cells"]:
        if c["row_span"] < 1 or c["col_span"] < 1:
            errors.append(f"cell ({c['row']},{c['col']}) has an empty span")
        for r in range(c["row"], c["row"] + c["row_span"]):
            for k in range(c["col"], c["col"] + c["col_span"]):
                if not (0 <= r < n_rows and 0 <= k < n_cols):
                    errors.append(f"cell ({c['row']},{c['col']}) spans outside the {n_rows}×{n_cols} grid")
                    continue
                cover[r][k] += 1
    for r in range(n_rows):
        for k in range(n_cols):
            if cover[r][k] != 1:
                errors.append(f"slot ({r},{k}) covered {cover[r][k]} times")
    return errors


def _template_errors(key: str, parts: list[dict[str, Any]], procurement: bool,
                     variants: frozenset[str] = frozenset()) -> list[str]:
    """The parts of one template table, stacked again, reproduce the generator's template exactly
    (with the label texts its ``variants`` print)."""
    spec = next(s for s in V.template_specs(variants, procurement) if s.key == key)
    errors: list[str] = []
    total_rows = sum(p["n_rows"] for p in parts)
    if total_rows != spec.n_rows:
        return [f"{key}: parts have {total_rows} rows, template {spec.n_rows}"]
    pieces: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    offset = 0
    for p in parts:
        for c in p["cells"]:
            pieces[(c["row"] + offset, c["col"])].append(c)
        offset += p["n_rows"]
    expected = {(c.row, c.col): c for c in spec.cells}
    # A cell cut by a page break appears again at the top of the next part: fold it back into its origin.
    for pos in sorted(pieces):
        if pos in expected:
            continue
        covering = (e for e in spec.cells if e.col == pos[1] and e.row < pos[0] < e.row + e.row_span)
        origin = next(covering, None)
        if origin is None:
            errors.append(f"{key}: unexpected cell at {pos}")
            continue
        pieces[(origin.row, origin.col)] += pieces[pos]
        del pieces[pos]
    for pos, e in expected.items():
        got = pieces.get(pos)
        if not got:
            errors.append(f"{key}: missing cell at {pos}")
            continue
        text = "".join(c["text"] for c in got)
        span = sum(c["row_span"] for c in got)
        if (span, got[0]["col_span"]) != (e.row_span, e.col_span):
            errors.append(f"{key} {pos}: spans {span}×{got[0]['col_span']}, "
                          f"template {e.row_span}×{e.col_span}")
        if e.kind == T.LABEL and text != e.text:
            errors.append(f"{key} {pos}: text {text!r}, template {e.text!r}")
        if any(c["field"] != e.field for c in got):
            errors.append(f"{key} {pos}: field {got[0]['field']!r}, template {e.field!r}")
    return errors


def _variant_errors(truth: dict[str, Any], variants: frozenset[str]) -> list[str]:
    """What the truth says about variants agrees with itself (a truth without ``variants`` has none)."""
    if "variants" not in truth:
        return ["source_inconsistent without variants"] if "source_inconsistent" in truth else []
    errors = [f"unknown variant {n!r}" for n in truth["variants"] if n not in V.NAMES]
    if truth["variants"] != [n for n in V.NAMES if n in variants]:
        errors.append(f"variants {truth['variants']} not listed once each in the order {V.NAMES}")
    if (V.PROCUREMENT_ROW in variants) != bool(truth["unmapped"]):
        errors.append("procurement_row listed but no 政府集中采购 row, or the other way round")
    if (V.BROKEN_ARITHMETIC in variants) != bool(truth.get("source_inconsistent")):
        errors.append("broken_arithmetic listed without source_inconsistent fields, or the other way round")
    return errors


def _deviation_errors(truth: dict[str, Any]) -> list[str]:
    """What the truth says about deviations agrees with itself and with the pages (none without ``deviations``)."""
    pages = truth["page_info"]
    if "deviations" not in truth:
        return [f"page {p['page']}: rotation {p['rotation']} or deviations without the deviations family"
                for p in pages if p["rotation"] or p.get("deviations")]
    listed: dict[str, Any] = truth["deviations"]
    errors = [f"unknown deviation {n!r}" for n in listed if n not in D.NAMES]
    if (truth["dpi"] == D.LOW_DPI) != (D.DPI_200 in listed):
        errors.append(f"dpi {truth['dpi']} with deviations {sorted(listed)}")
    for p in pages:
        where = f"page {p['page']}"
        errors += [f"{where}: {n!r} is not a page deviation" for n in p["deviations"] if n not in D.PAGE_NAMES]
        errors += [f"{where}: {n} not in the document's deviations" for n in p["deviations"]
                   if n not in listed or p["page"] not in listed[n].get("pages", ())]
        turned = D.TURNED_PAGE in p["deviations"]
        if turned != (p["rotation"] in (90, 270)) or p["rotation"] not in (0, 90, 270):
            errors.append(f"{where}: rotation {p['rotation']}, turned_page {'' if turned else 'not '}listed")
        if turned and not p["width"] > p["height"]:
            errors.append(f"{where}: turned but not landscape ({p['width']}×{p['height']})")
    for name, info in listed.items():
        on = [p["page"] for p in pages if name in p["deviations"]]
        if name in D.PAGE_NAMES and info.get("pages") != on:
            errors.append(f"{name}: listed on pages {info.get('pages')}, pages say {on}")
    if D.SPLIT_APPLICATIONS in listed:
        parts = [t for t in truth["tables"] if t["template_table"] == T.APPLICATIONS]
        if len(parts) < 2 or parts[0]["n_rows"] != listed[D.SPLIT_APPLICATIONS]["at_row"]:
            errors.append(f"split_applications at row {listed[D.SPLIT_APPLICATIONS]['at_row']}, "
                          f"parts of {[t['n_rows'] for t in parts]} rows")
    return errors


def _arithmetic_errors(fields: dict[str, str], inconsistent: list[str]) -> list[str]:
    """The 勾稽关系 hold, except where the truth says the report's own arithmetic is wrong: then every
    broken rule involves a listed field and every listed field is in a broken rule."""
    if not inconsistent or T.value_errors(fields):
        return T.arithmetic_errors(fields)
    if any(key not in fields for key in inconsistent):
        return [f"source_inconsistent names unknown fields {inconsistent}"]
    broken = T.broken_rules(fields)
    if not broken:
        return [f"source_inconsistent {inconsistent} but the arithmetic holds"]
    errors = [f"broken by no source_inconsistent field: {r.message.format(lhs='…', rhs='…')}" for r in broken
              if not set(inconsistent) & set(r.lhs + r.rhs)]
    errors += [f"source_inconsistent {key} breaks no rule" for key in inconsistent
               if not any(key in r.lhs + r.rhs for r in broken)]
    return errors


def validate_truth(truth: dict[str, Any]) -> list[str]:
    """All problems found in one truth dictionary (empty when it is consistent)."""
    errors: list[str] = []
    fields: dict[str, str] = truth["fields"]
    if set(fields) != set(T.all_field_keys()):
        odd = sorted(set(fields) ^ set(T.all_field_keys()))
        errors.append(f"field keys differ from the template: {odd[:5]}")
    variants = frozenset(truth.get("variants", ()))
    errors += _variant_errors(truth, variants)
    errors += _deviation_errors(truth)
    errors += _arithmetic_errors(fields, truth.get("source_inconsistent", []))
    if len(truth["page_info"]) != truth["pages"]:
        errors.append("page_info does not list every page")
    pages = {p["page"]: p for p in truth["page_info"]}
    seen_fields: dict[str, int] = defaultdict(int)
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    procurement = bool(truth["unmapped"])
    for i, table in enumerate(truth["tables"]):
        key = table["template_table"]
        where = f"table {i} ({key} part {table['part']})"
        if key not in EXPECTED_COLS:
            errors.append(f"{where}: unknown template table")
            continue
        if table["n_cols"] != EXPECTED_COLS[key]:
            errors.append(f"{where}: {table['n_cols']} columns")
        prev = table["continued_from"]
        if table["part"] == 0 and prev is not None:
            errors.append(f"{where}: part 0 continues another table")
        good_prev = (prev is not None and 0 <= prev < i and truth["tables"][prev]["template_table"] == key
                     and truth["tables"][prev]["part"] == table["part"] - 1)
        if table["part"] > 0 and not good_prev:
            errors.append(f"{where}: bad continued_from {prev}")
        by_key[key].append(table)
        errors += [f"{where}: {e}" for e in tiling_errors(table)]
        page = pages.get(table["page"])
        if page is None:
            errors.append(f"{where}: page {table['page']} not in page_info")
            continue
        if not _inside(table["bbox"], [0, 0, page["width"], page["height"]]):
            errors.append(f"{where}: bbox {table['bbox']} outside the page")
        for c in table["cells"]:
            if not _inside(c["bbox"], table["bbox"]):
                errors.append(f"{where}: cell ({c['row']},{c['col']}) bbox outside the table bbox")
            if c["kind"] == T.NUMBER and c["field"] is not None:
                seen_fields[c["field"]] += 1
                if fields.get(c["field"]) != c["text"]:
                    errors.append(f"{where}: cell {c['field']} prints {c['text']!r}, fields say "
                                  f"{fields.get(c['field'])!r}")
            if c["kind"] == T.BLANK and c["text"]:
                errors.append(f"{where}: blank cell with text")
            if "\n" in c["text"]:
                errors.append(f"{where}: cell ({c['row']},{c['col']}) text holds a line break")
    for key in EXPECTED_COLS:
        if len(by_key[key]) == 0:
            errors.append(f"{key}: missing")
            continue
        errors += _template_errors(key, by_key[key], procurement, variants)
    active = by_key[T.ACTIVE_DISCLOSURE]
    if V.SPLIT_ACTIVE in variants:
        starts = T.ACTIVE_BLOCK_STARTS
        want = [b - a for a, b in zip(starts, [*starts[1:], 15 if procurement else 14], strict=True)]
        if [t["n_rows"] for t in active] != want:
            errors.append(f"active_disclosure: split into parts of {[t['n_rows'] for t in active]} rows, "
                          f"not one per 第二十条 block {want}")
    elif active and (len(active) != 1 or active[0]["n_rows"] != (15 if procurement else 14)):
        errors.append("active_disclosure: not one part of 14 rows (15 with 政府集中采购)")
    for key in T.all_field_keys():
        if seen_fields.get(key, 0) != 1:
            errors.append(f"field {key} printed in {seen_fields.get(key, 0)} cells")
    for u in truth["unmapped"]:
        table = truth["tables"][u["table"]]
        label = [c for c in table["cells"] if c["row"] == u["row"] and c["kind"] == T.LABEL]
        nums = [c["text"] for c in table["cells"] if c["row"] == u["row"] and c["kind"] == T.NUMBER]
        if [c["text"] for c in label] != [u["label"]] or nums != u["values"]:
            errors.append(f"unmapped {u['label']}: row {u['row']} of table {u['table']} does not match")
    return errors
