"""Tests of the deviations family (samples/deviations.py): each effect on a small ruled page, then two whole
documents (slow) whose truth geometry is checked against the scanned pixels.

The small page is drawn here with OpenCV (rules and digits at known places), so every check compares what an
effect reports with what it did to the pixels.
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from samples import deviations as D
from samples import layout as L
from samples import template as T
from samples.content import make_report
from samples.generate import TIER_CODES, doc_name, generate_document, truth_json
from samples.render import PAGE_H, build_tables, draw_pdf, layout_document, make_style
from samples.scan import make_seal, map_points, press_seal
from samples.score import score_document
from samples.validate import validate_truth

XS = [40 + 90 * i for i in range(7)]
YS = [40 + 80 * j for j in range(5)]
RULE = 3  # px


def ruled_page() -> tuple[np.ndarray, list[D.Segment], list[D.PlacedCell]]:
    """A 620 × 420 page with a 4 × 6 grid of 3-px rules and a two-digit number centred in every cell."""
    img = np.full((420, 620, 3), 255, np.uint8)
    segments: list[D.Segment] = []
    for y in YS:
        cv2.line(img, (XS[0], y), (XS[-1], y), (0, 0, 0), RULE)
        segments.append((XS[0], y + 0.5, XS[-1], y + 0.5, RULE))
    for x in XS:
        cv2.line(img, (x, YS[0]), (x, YS[-1]), (0, 0, 0), RULE)
        segments.append((x + 0.5, YS[0], x + 0.5, YS[-1], RULE))
    cells: list[D.PlacedCell] = []
    for r in range(len(YS) - 1):
        for c in range(len(XS) - 1):
            cv2.putText(img, str(10 + 7 * r + c), (XS[c] + 27, YS[r] + 52), cv2.FONT_HERSHEY_SIMPLEX, 0.9,
                        (0, 0, 0), 2, cv2.LINE_AA)
            field = "applications.total.total" if (r, c) == (3, 5) else f"applications.x{r}.{c}"
            ref = {"template_table": T.APPLICATIONS, "part": 0, "row": r, "col": c + 4, "field": field}
            cells.append((ref, (XS[c] + 0.5, YS[r] + 0.5, XS[c + 1] + 0.5, YS[r + 1] + 0.5), "number"))
    return img, segments, cells


def gray(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def inside(rect: tuple[float, float, float, float], mask: np.ndarray) -> bool:
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = rect
    return bool(len(xs)) and x0 - 0.5 <= xs.min() and xs.max() <= x1 and y0 - 0.5 <= ys.min() and ys.max() <= y1


# ---------------------------------------------------------------- which documents get which deviations


def test_every_batch_of_ten_holds_each_deviation_at_least_twice() -> None:
    for seed in range(8):
        counts = {n: 0 for n in D.NAMES}
        for index in range(10):
            for name in D.chosen(seed, TIER_CODES["deviations"], index):
                counts[name] += 1
        assert min(counts.values()) >= 2, (seed, counts)
        plan = D.draw_plan(seed, TIER_CODES["deviations"], 3)
        assert plan.dpi == (200 if D.DPI_200 in plan.names else 300)
        assert (plan.split_fraction is not None) == (D.SPLIT_APPLICATIONS in plan.names)


# ---------------------------------------------------------------- printing


def test_text_touching_rules_moves_print_onto_a_rule_inside_its_box() -> None:
    img, _segments, cells = ruled_page()
    before = img.copy()
    moved = D.touch_rules(img, cells, np.random.default_rng(3), 1.0)
    assert len(moved) >= 2
    n_labels, labels = cv2.connectedComponents((gray(img) < 200).astype(np.uint8), connectivity=8)
    grid = labels[YS[0], XS[0]]
    moved_at = {(m["row"], m["col"]) for m in moved}
    changed = (img != before).any(axis=2)
    for ref, rect, _kind in cells:
        x0, y0, x1, y1 = (int(round(v)) for v in rect)
        if (ref["row"], ref["col"]) in moved_at:
            window = np.zeros_like(changed)
            window[y0 - 2:y1 + 3, x0 - 2:x1 + 3] = changed[y0 - 2:y1 + 3, x0 - 2:x1 + 3]
            assert inside(rect, window)  # the print moved within its ruled box
        interior = labels[y0 + RULE:y1 - RULE, x0 + RULE:x1 - RULE]
        # a moved number joins the grid's rules; one left where it was does not touch them
        assert (grid in set(np.unique(interior))) == ((ref["row"], ref["col"]) in moved_at), ref
    assert n_labels > len(cells) - len(moved)


def test_doubled_rules_print_a_ghost_at_the_offset() -> None:
    img, segments, _cells = ruled_page()
    info = D.double_rules(img, segments, np.random.default_rng(5), 1.0)
    dx, dy = info["offset_px"]
    assert 2 <= abs(dx) <= 8 and 2 <= abs(dy) <= 8
    dark = gray(img) < 128
    ghosts = 0
    for x0, y0, x1, y1, _w in segments:
        if y0 == y1:
            row = int(y0 - 0.5) + dy + (1 if dy > 0 else -1)
            ghosts += dark[row, int(x0) + 12:int(x1) - 12].mean() > 0.9
        else:
            col = int(x0 - 0.5) + dx + (1 if dx > 0 else -1)
            ghosts += dark[int(y0) + 12:int(y1) - 12, col].mean() > 0.9
    assert ghosts == info["rules"] > 0


def test_thick_rules_binarise_into_two() -> None:
    img, segments, _cells = ruled_page()
    outer = [s[1] in (YS[0] + 0.5, YS[-1] + 0.5) if s[1] == s[3] else s[0] in (XS[0] + 0.5, XS[-1] + 0.5)
             for s in segments]
    info = D.thicken_rules(img, segments, outer, np.random.default_rng(7), 1.0)
    assert info["rules"] >= 4 and 6 <= info["width_px"] <= 11
    g = gray(img)
    _t, binary = cv2.threshold(g, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    for x in (XS[0] + 45, XS[3] + 45):  # across the top frame rule, between numbers
        column = binary[YS[0] - 9:YS[0] + 10, x]
        runs = int((np.diff(np.concatenate([[0], column, [0]])) == 1).sum())
        assert runs == 2, column
        assert abs(int(np.ptp(column.nonzero()[0])) + 1 - info["width_px"]) <= 2
    assert (g[YS[0] - 12:YS[0] - 6, XS[0] + 45] == 255).all()  # outside the thick rule: paper


def test_broken_and_faint_rules() -> None:
    img, segments, _cells = ruled_page()
    info = D.break_rules(img, segments, np.random.default_rng(11), 1.0)
    assert info["broken"] == len(segments)  # 15-40 broken rules asked, only 12 on this page
    g = gray(img)
    faint = gaps = 0
    for x0, y0, x1, y1, _w in segments:
        line = g[int(y0), int(x0) + 3:int(x1) - 3] if y0 == y1 else g[int(y0) + 3:int(y1) - 3, int(x0)]
        faint += 120 <= np.median(line) <= 220
        gaps += (line == 255).any()
    assert faint == info["faint"]
    assert gaps >= len(segments) // 2


def test_faded_print_is_grey_on_white() -> None:
    img, _segments, _cells = ruled_page()
    info = D.fade_print(img, np.random.default_rng(13))
    assert 110 <= info["ink"] <= 170
    g = gray(img)
    assert info["ink"] - 16 <= g.min() and g[YS[0], XS[0] + 30] <= info["ink"] + 16
    assert (g[5:30, 5:30] == 255).all()


def test_photocopy_grey_paper_speckle_and_streaks() -> None:
    img = np.full((900, 700, 3), 255, np.uint8)
    info = D.photocopy(img, np.random.default_rng(17), 1.0, lambda pts: pts)
    g = gray(img).astype(np.float32)
    assert 150 <= np.median(g) <= 220 and abs(np.median(g) - info["paper"]) <= 15
    assert (g < np.median(g) - 60).mean() > 1e-4  # toner specks
    assert info["streaks"]
    for s in info["streaks"]:
        (ax, ay), (bx, by) = s["from"], s["to"]
        t = np.linspace(0.2, 0.8, 40)
        xs, ys = ax + (bx - ax) * t, ay + (by - ay) * t
        nx, ny = (12, 0) if s["direction"] == "vertical" else (0, 12)
        on = g[ys.astype(int), xs.astype(int)]
        off = g[np.clip(ys + ny, 0, 899).astype(int), np.clip(xs + nx, 0, 699).astype(int)]
        assert np.median(on) < np.median(off) - 3, s  # darker than the paper beside it
        length = abs(by - ay) if s["direction"] == "vertical" else abs(bx - ax)
        assert length >= 0.24 * (900 if s["direction"] == "vertical" else 700)


def test_seals_over_numbers_hit_the_corner_in_grey_or_red() -> None:
    img, _segments, cells = ruled_page()
    rng = np.random.default_rng(19)
    [first, *_rest] = D.seal_targets(cells, rng, corner=True)
    assert first[0]["field"] == "applications.total.total"
    colours = {D.seal_ink(np.random.default_rng(s))[0] for s in range(12)}
    assert colours == {"grey", "red"}
    for seed in range(12):
        name, colour, opacity = D.seal_ink(np.random.default_rng(seed))
        if name == "grey":
            assert colour.max() - colour.min() <= 16 and 50 <= colour.mean() <= 160
        assert 0.6 <= opacity <= 0.9
    name, colour, opacity = D.seal_ink(np.random.default_rng(0))
    ink = make_seal(rng, "某某县人民政府", 200)
    x0, y0, x1, y1 = first[1]
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    press_seal(img, ink, centre, colour, opacity)
    star = img[int(centre[1]) - 3:int(centre[1]) + 4, int(centre[0]) - 3:int(centre[0]) + 4].reshape(-1, 3)
    r, g, b = np.median(star, axis=0)
    assert (r - g > 40) if name == "red" else (abs(r - b) < 25 and r < 235)


def test_pen_marks_are_ballpoint_over_their_cells() -> None:
    for seed in (23, 24):
        img, _segments, cells = ruled_page()
        before = img.copy()
        marks = D.pen_marks(img, cells, np.random.default_rng(seed), 1.0)
        assert 2 <= len(marks) <= 8 and {m["kind"] for m in marks} <= {"tick", "circle"}
        changed = (img.astype(int) - before).any(axis=2)
        rects = {(ref["row"], ref["col"]): rect for ref, rect, _kind in cells}
        for m in marks:
            x0, y0, x1, y1 = (int(v) for v in rects[(m["row"], m["col"])])
            assert changed[y0:y1, x0:x1].any(), m
        pixels = img[changed].astype(int)
        if marks[0]["colour"] == "blue":
            assert (pixels[:, 2] - pixels[:, 0] > 40).mean() > 0.3
        else:
            assert (np.abs(pixels[:, 2] - pixels[:, 0]) < 30).all()


def test_turned_page_map_follows_the_pixels() -> None:
    img = np.full((60, 40, 3), 255, np.uint8)
    img[10:20, 5:12] = 0  # a box at x 5..12, y 10..20 (pixel edges)
    for rotation in (90, 270):
        turned = D.turn(img, rotation)
        assert turned.shape[:2] == (40, 60)
        q = D.quarter_map(rotation, 40, 60)
        corners = map_points(q, np.array([[5, 10], [12, 10], [12, 20], [5, 20]], float))
        ys, xs = np.nonzero(gray(turned) < 128)
        assert (corners.min(axis=0) == [xs.min(), ys.min()]).all() and (corners.max(axis=0) == [xs.max() + 1,
                                                                                              ys.max() + 1]).all()
        # the clockwise quarter turn ``rotation`` makes the page upright again
        upright = cv2.rotate(turned, cv2.ROTATE_90_CLOCKWISE if rotation == 90 else cv2.ROTATE_90_COUNTERCLOCKWISE)
        assert (upright == img).all()
    with pytest.raises(ValueError):
        D.quarter_map(180, 40, 60)


def test_split_applications_breaks_before_the_row_asked() -> None:
    L.register_font()
    for fraction in (0.0, 0.5, 0.999):
        rng = np.random.default_rng(np.random.SeedSequence([5, 1, 0]))
        report = make_report(rng, "typical")
        style, pages = layout_document(report, rng, None, fraction)
        parts = [(n, p) for n, page in enumerate(pages) for p in page.parts if p.key == T.APPLICATIONS]
        assert len(parts) >= 2 and [p.part for _n, p in parts] == list(range(len(parts)))
        rows = [max(c.row + c.row_span for c in p.cells) for _n, p in parts]
        assert sum(rows) == 28 and len({n for n, _p in parts}) == len(parts)
        again = np.random.default_rng(np.random.SeedSequence([5, 1, 0]))  # layout_document's own draws, replayed
        geom = build_tables(make_report(again, "typical"), make_style(again), again)[T.APPLICATIONS]
        allowed = L.split_rows_allowed(geom, PAGE_H - style.margin_b - style.margin_t)
        assert rows[0] in allowed
        if fraction == 0.0:
            assert rows[0] == T.APPLICATIONS_HEADER_ROWS + 1  # one body row on the first page
        if fraction > 0.99:
            assert rows[0] == max(allowed)
    geom_parts = L.split_rows_at(geom, 20, 1e9)
    assert geom_parts == [(0, 20), (20, 28)]
    with pytest.raises(ValueError):
        L.split_rows_at(geom, 0, 1e9)


def test_second_font_is_printed_and_found(tmp_path: Path) -> None:
    """The second font lays the document out with its own metrics and is the font the PDF embeds."""
    L.register_font()
    assert L.centre_of(L.UMING) == L.CJK_CENTRE
    assert 0.25 < L.centre_of(L.ZENHEI) < 0.5
    assert L.text_width("政府信息公开 2021", 10, L.ZENHEI) != L.text_width("政府信息公开 2021", 10)
    rng = np.random.default_rng(np.random.SeedSequence([5, 1, 0]))
    report = make_report(rng, "typical")
    style, pages = layout_document(report, rng, None, None, L.ZENHEI)
    assert style.font == style.table.font == L.ZENHEI
    pdf = tmp_path / "zenhei.pdf"
    pdf.write_bytes(draw_pdf(style, pages[:1]))
    fonts = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout
    assert "WenQuanYi" in fonts and "UMing" not in fonts
    missing = L.Font("Nowhere", tmp_path / "none.ttc", "fonts-nowhere")
    with pytest.raises(FileNotFoundError, match="fonts-nowhere"):
        L.register_font(missing)


def test_a_200_dpi_scan_is_scored_in_its_own_pixels() -> None:
    """A record's boxes at the dpi the pipeline rendered (300) score against a 200-dpi truth as the same cells."""
    cells = [{"row": 0, "col": c, "row_span": 1, "col_span": 1, "bbox": [100 + 60 * c, 100, 160 + 60 * c, 140],
              "text": str(c), "kind": "number", "field": None} for c in range(4)]
    truth = {"source": "x.pdf", "dpi": 200, "tables": [{"page": 1, "bbox": [100, 100, 340, 140], "n_rows": 1,
                                                        "n_cols": 4, "cells": cells}]}
    at_300 = [{**c, "bbox": [v * 1.5 for v in c["bbox"]], "needs_review": False} for c in cells]
    record = {"dpi": 300, "tables": [{"page": 1, "bbox": [150, 150, 510, 210], "n_rows": 1, "n_cols": 4,
                                      "cells": at_300}]}
    s = score_document(record, truth)
    assert (s.parts_found, s.grids_exact, s.cells_matched, s.numbers_right) == (1, 1, 4, 4)
    assert score_document({**record, "dpi": 200}, truth).parts_found == 0  # read as 200-dpi pixels: elsewhere


def test_the_family_on_the_command_line(tmp_path: Path) -> None:
    from samples.__main__ import main

    assert main(["--out", str(tmp_path), "--count", "0", "--tier", "deviations"]) == 0
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--tier", "pristine"])


# ---------------------------------------------------------------- whole documents (slow)


def _page_images(pdf: Path, tmp: Path) -> list[tuple[np.ndarray, tuple[float, float]]]:
    """Each page's JPEG exactly as stored (pdfimages), with the dpi it declares."""
    subprocess.run(["pdfimages", "-j", str(pdf), str(tmp / "img")], check=True)
    out = []
    for path in sorted(tmp.glob("img-*.jpg")):
        im = Image.open(io.BytesIO(path.read_bytes()))
        out.append((np.asarray(im.convert("RGB")), im.info.get("dpi", (0, 0))))
    return out


def _ink_off_rules(dark: np.ndarray, dpi: int) -> np.ndarray:
    """Dark pixels that are not part of a long straight run (a rule, a streak): the print of figures."""
    n = int(40 * dpi / 300)
    mask = dark.astype(np.uint8)
    lines = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (n, 1)))
    lines |= cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, n)))
    return (mask & ~lines.astype(bool)).astype(bool)


def _upright(box: list[float], rotation: int, w: float, h: float) -> tuple[float, float]:
    """The centre of a box of a turned page, turned clockwise by ``rotation`` (the page made upright)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return (h - cy, cx) if rotation == 90 else (cy, w - cx) if rotation == 270 else (cx, cy)


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, dict[str, Any]]]:
    """Seed 0, indices 6 and 9 (picked for their deviations): 200 dpi, turned pages, split 三, faded, thick
    rules, touching text, pen marks; doubled rules, a photocopy, seals over numbers, the second font."""
    out = tmp_path_factory.mktemp("deviations")
    docs = {}
    for index in (6, 9):
        name = doc_name("deviations", 0, index)
        pdf, truth = generate_document(0, "deviations", index, name)
        (out / f"{name}.pdf").write_bytes(pdf)
        (out / f"{name}.truth.json").write_text(truth_json(truth), encoding="utf-8")
        docs[index] = (out / f"{name}.pdf", truth)
    return docs


@pytest.mark.slow
def test_documents_truth_and_deviations(documents: dict[int, tuple[Path, dict[str, Any]]]) -> None:
    six, nine = documents[6][1], documents[9][1]
    assert sorted(six["deviations"]) == sorted([D.DPI_200, D.FADED_PRINT, D.PEN_MARKS, D.SPLIT_APPLICATIONS,
                                                D.TEXT_TOUCHING_RULES, D.THICK_RULES, D.TURNED_PAGE])
    assert sorted(nine["deviations"]) == sorted([D.DOUBLED_RULES, D.FADED_PRINT, D.PHOTOCOPY,
                                                 D.SEALS_OVER_NUMBERS, D.TURNED_PAGE, D.SECOND_FONT])
    assert nine["deviations"][D.SECOND_FONT]["font"] == L.ZENHEI.name
    for truth in (six, nine):
        assert validate_truth(truth) == [] and truth["tier"] == "deviations" and "variants" in truth
        assert json.loads(json.dumps(truth)) == truth
    assert six["dpi"] == 200 and nine["dpi"] == 300
    split = six["deviations"][D.SPLIT_APPLICATIONS]
    assert len(split["pages"]) == 2 and split["pages"][1] == split["pages"][0] + 1
    corner = [s for p in nine["page_info"] for s in p["deviations"].get(D.SEALS_OVER_NUMBERS, [])
              if s["field"] == "applications.total.total"]
    assert len(corner) == 1
    for truth in (six, nine):  # every cell a deviation names is a cell of the truth, on its page
        for p in truth["page_info"]:
            for name in (D.SEALS_OVER_NUMBERS, D.PEN_MARKS, D.TEXT_TOUCHING_RULES):
                for ref in p["deviations"].get(name, []):
                    table = truth["tables"][ref["table"]]
                    assert (table["page"], table["template_table"], table["part"]) == (p["page"],
                                                                                     ref["template_table"], ref["part"])
                    [cell] = [c for c in table["cells"] if (c["row"], c["col"]) == (ref["row"], ref["col"])]
                    assert cell["field"] == ref["field"]


@pytest.mark.slow
@pytest.mark.parametrize("index", [6, 9])
def test_documents_truth_boxes_follow_the_pixels(documents: dict[int, tuple[Path, dict[str, Any]]], index: int,
                                                 tmp_path: Path) -> None:
    pdf, truth = documents[index]
    pages = _page_images(pdf, tmp_path)
    assert len(pages) == truth["pages"]
    for (img, dpi), info in zip(pages, truth["page_info"], strict=True):
        assert img.shape[:2] == (info["height"], info["width"])
        assert round(dpi[0]) == round(dpi[1]) == truth["dpi"]  # the image declares the scan's dpi
        g = gray(img)
        k = truth["dpi"] / 300
        # print is what is darker than the paper around it (faded print on a grey copy is still print)
        paper = cv2.dilate(g, cv2.getStructuringElement(cv2.MORPH_RECT, (31, 31))).astype(np.int16)
        dark = g < paper - 22
        cells = [c for t in truth["tables"] if t["page"] == info["page"] for c in t["cells"]]
        numbers = [c for c in cells if c["kind"] == "number"]
        # every number cell's box holds a figure: a blob of print that is no rule and no toner speck
        ink = _ink_off_rules(dark, truth["dpi"])
        _n, labels, stats, _c = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
        inked = 0
        for c in numbers:
            x0, y0, x1, y1 = (int(round(v)) for v in c["bbox"])
            found = set(np.unique(labels[y0 + 2:y1 - 2, x0 + 2:x1 - 2])) - {0}
            inked += any(stats[i, cv2.CC_STAT_AREA] >= 20 * k * k for i in found)
        assert inked == len(numbers), (info["page"], inked, len(numbers))
        # and its edges lie on printed rules (within the few pixels an axis-aligned box of a skewed cell allows)
        rules = dark
        edges = on_rule = 0
        for c in numbers:
            x0, y0, x1, y1 = (int(round(v)) for v in c["bbox"])
            for vertical, at, a, b in ((True, x0, y0, y1), (True, x1, y0, y1), (False, y0, x0, x1),
                                       (False, y1, x0, x1)):
                if not 20 * k < b - a <= 250 * k:
                    continue
                lo, hi = a + (b - a) // 10, b - (b - a) // 10
                band = rules[lo:hi, at - 5:at + 6] if vertical else rules[at - 5:at + 6, lo:hi].T
                edges += 1
                on_rule += band.mean(axis=0).max() > 0.5
        assert on_rule >= 0.9 * edges and (edges > 0 or not numbers), (info["page"], on_rule, edges)
        rotation = info["rotation"]
        if rotation:
            assert info["width"] > info["height"]
            # upright, the header rows are above the body and the first column left of the last
            for t in (t for t in truth["tables"] if t["page"] == info["page"]):
                def centres(keep: Any, cells: list[dict[str, Any]] = t["cells"], turn: int = rotation,
                            size: tuple[int, int] = (info["width"], info["height"])) -> np.ndarray:
                    return np.array([_upright(c["bbox"], turn, *size) for c in cells if keep(c)]).reshape(-1, 2)

                top = centres(lambda c, t=t: c["row"] == 0 and c["row_span"] < t["n_rows"])
                bottom = centres(lambda c, t=t: c["row"] > 0 and c["row"] + c["row_span"] == t["n_rows"])
                left = centres(lambda c, t=t: c["col"] == 0 and c["col_span"] < t["n_cols"])
                right = centres(lambda c, t=t: c["col"] > 0 and c["col"] + c["col_span"] == t["n_cols"])
                assert len(left) and len(right)
                assert left[:, 0].mean() < right[:, 0].mean()
                if len(top) and len(bottom):
                    assert top[:, 1].mean() < bottom[:, 1].mean()
            # a figure of three digits or more stands taller than wide when its page is turned
            aspects = []
            for c in numbers:
                if len(c["text"]) >= 3:
                    x0, y0, x1, y1 = (int(v) for v in c["bbox"])
                    ys, xs = np.nonzero(ink[y0 + 6:y1 - 6, x0 + 6:x1 - 6])
                    if len(xs):
                        aspects.append((np.ptp(ys) + 1) / (np.ptp(xs) + 1))
            if aspects:
                assert np.median(aspects) > 1.3
        for seal in info["deviations"].get(D.SEALS_OVER_NUMBERS, []):
            cx, cy = (int(v) for v in seal["centre"])
            r, gg, b = np.median(img[cy - 3:cy + 4, cx - 3:cx + 4].reshape(-1, 3).astype(int), axis=0)
            assert (r - gg > 25) if seal["colour"] == "red" else (abs(r - b) < 30 and r < np.median(g) - 20), seal
