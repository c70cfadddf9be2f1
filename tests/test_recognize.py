"""Cell cleaning and reading with the real Tesseract: numbers, labels, blanks, dashes, both backends."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from synth import draw, random_rects, simple_table

from ocr.cells import binarize_text, crop_cell
from ocr.config import Config
from ocr.deskew import orient
from ocr.grid import binarize, detect_tables
from ocr.rasterize import ink
from ocr.recognize import clean_text, engine_for, read_cell


@pytest.fixture(scope="module")
def table():
    t = simple_table()
    upright, _ = orient(ink(draw([t])))
    grids, rules = detect_tables(binarize(upright, 1.0), 1.0)
    text = binarize_text(upright, 1.0)
    crops = {(c.row, c.col): crop_cell(text, rules, c, 1.0) for c in grids[0].cells}
    truth = {(c.row, c.col): c.text for c in t.cells}
    return crops, truth


def test_cells_route_and_read(table):
    crops, truth = table
    eng = engine_for(Config(workers=1))
    got = {k: read_cell(c, eng) for k, c in crops.items()}
    assert got[(2, 1)].text == "12" and got[(2, 1)].kind == "number"
    assert got[(3, 1)].text == "0" and got[(3, 1)].kind == "number"
    assert got[(1, 1)].text == "自然人" and got[(1, 1)].kind == "label"
    assert got[(0, 1)].text == "申请人情况"
    # a blank cell is not a dash, and neither is unreadable
    assert (got[(3, 2)].text, got[(3, 2)].kind, got[(3, 2)].flags) == ("", "blank", ["blank"])
    assert (got[(3, 3)].text, got[(3, 3)].kind, got[(3, 3)].flags) == ("-", "number", ["dash"])
    for k, r in got.items():
        assert 0.0 <= r.confidence <= 1.0, k
    right = sum(got[k].text == v for k, v in truth.items())
    assert right >= len(truth) - 1


def test_both_backends_read_the_same_text(table):
    crops, _ = table
    fast = engine_for(Config(workers=1))
    slow = engine_for(Config(workers=1, backend="pytesseract"))
    for key, crop in crops.items():
        if crop.image is None:
            continue
        for mode in ("number", "label"):
            assert fast.read(crop.image, mode).text == slow.read(crop.image, mode).text, (key, mode)


def test_unreadable_ink_is_flagged_not_blank():
    rng = np.random.default_rng(3)
    img = np.full((90, 300), 255, np.uint8)
    img[20:70, 20:280] = np.where(rng.random((50, 260)) < 0.5, 0, 255)  # noise, not text
    from ocr.model import CellImage

    r = read_cell(CellImage(img, 1, False), engine_for(Config(workers=1)))
    assert r.kind != "blank"
    assert r.confidence < 0.6 or "unreadable" in r.flags


def test_spaces_between_chinese_characters_are_removed():
    assert clean_text("本 年 新收 政府 信息", "label") == "本年新收政府信息"
    assert clean_text("1 234", "number") == "1234"
    assert clean_text("Article 20 第二十条", "label") == "Article 20第二十条"
    assert clean_text("第二十条第〈八)项", "label") == "第二十条第（八)项"  # chi_sim's angle-bracket misreading


def test_faint_print_is_read_not_called_blank():
    from ocr.cells import binarize_text

    t = simple_table()
    page = draw([t])
    x0, y0, x1, y1 = next(c for c in t.cells if c.text == "0").bbox
    inner = page[y0 + 6:y1 - 6, x0 + 6:x1 - 6]
    inner[inner < 128] = 234  # the printed "0" fades to a light grey
    rng = np.random.default_rng(2)
    page = np.clip(page.astype(np.int16) + rng.normal(0, 2, page.shape), 0, 255).astype(np.uint8)
    upright, _ = orient(ink(page))
    binary = binarize(upright, 1.0)
    grids, rules = detect_tables(binary, 1.0)
    cell = next(c for c in grids[0].cells if (c.row, c.col) == (3, 1))
    strict = crop_cell(binarize_text(upright, 1.0), rules, cell, 1.0)
    assert strict.image is None  # the strict text threshold loses it...
    r = read_cell(crop_cell(binarize_text(upright, 1.0), rules, cell, 1.0, binary), engine_for(Config(workers=1)))
    assert r.kind != "blank"  # ...but it is not reported as an empty cell
    blank = next(c for c in grids[0].cells if (c.row, c.col) == (3, 2))
    assert crop_cell(binarize_text(upright, 1.0), rules, blank, 1.0, binary).image is None


class _TwoReaders:
    """An engine whose digit and label readers disagree, as Tesseract's sometimes do."""

    def __init__(self, number: str, label: str) -> None:
        self.texts = {"number": number, "label": label}

    def read(self, image, mode):
        from ocr.model import Reading

        return Reading(self.texts[mode], 0.97, mode)


def test_disagreeing_readers_send_the_cell_to_review():
    from ocr.model import CellImage
    from ocr.records import needs_review

    crop = CellImage(np.full((60, 120), 255, np.uint8), 1, False)  # not digit-shaped: both readers run
    r = read_cell(crop, _TwoReaders("123", "128"))
    assert "readers_disagree" in r.flags
    assert needs_review(r.kind, r.confidence, r.flags, Config(workers=1))[0]
    agree = read_cell(crop, _TwoReaders("123", "１２３"))
    assert (agree.text, agree.kind, agree.flags) == ("123", "number", [])


def test_the_digit_readers_figure_is_kept_beside_a_label_reading_that_is_no_number():
    from ocr.model import CellImage

    crop = CellImage(np.full((60, 120), 255, np.uint8), 1, False)
    r = read_cell(crop, _TwoReaders("0", "全"))
    assert (r.text, r.kind) == ("全", "label") and r.digits is not None and r.digits.text == "0"
    assert read_cell(crop, _TwoReaders("", "合计")).digits is None  # nothing numeric to keep
    # the real engine: a round 0 too wide for a digit's shape, which chi_sim reads as a letter
    import cv2

    img = np.full((90, 120), 255, np.uint8)
    cv2.ellipse(img, (60, 45), (19, 24), 0, 0, 360, 0, 6)
    real = read_cell(CellImage(img, 1, False), engine_for(Config(workers=1)))
    assert real.kind == "label" and real.digits is not None and real.digits.text == "0"


def test_title_and_closing_lines_are_read_outside_the_tables():
    """Only as many lines as it takes: each prose line costs ~0.25 s of OCR."""
    from PIL import Image, ImageDraw
    from synth import font

    from ocr.model import PageImage
    from ocr.pipeline import analyse_page

    t = simple_table(origin=(100, 260))
    page = Image.fromarray(draw([t], size=(1600, 1500)))
    d = ImageDraw.Draw(page)
    d.text((200, 80), "某某县财政局2021年度政府信息公开工作年度报告", font=font(48), fill="black")
    d.text((700, 1300), "某某县财政局办公室 2022年2月10日", font=font(36), fill="black")
    d.text((300, 1200), "本局无其他需要报告的事项。", font=font(36), fill="black")
    # noise specks between the lines must not merge them into one band
    rng = np.random.default_rng(3)
    arr = np.array(page)
    for y, x in zip(rng.integers(1100, 1450, 300), rng.integers(0, 1600, 300), strict=True):
        arr[y, x] = 0
    res = analyse_page(PageImage(1, arr, 300), Config(workers=1, detect_orientation=False), None, (2, 3))
    # read until complete: the title ends in 报告, the closing line carries its date (lines above it unread)
    assert [ln.replace(" ", "") for ln in res.lines] == [
        "某某县财政局2021年度政府信息公开工作年度报告", "某某县财政局办公室2022年2月10日"]
    assert res.tables and not any("自然人" in ln for ln in res.lines)


def test_edge_lines_stop_once_title_and_closing_are_complete():
    from ocr.pipeline import _read_edge_lines

    texts = ["某某局", "2021年度政府信息公开工作年度报告", "正文一", "正文二", "某某局办公室", "2022年2月10日", "- 5 -"]
    boxes = [(0, i, 1, i + 1) for i in range(len(texts))]
    asked: list[int] = []

    def read(box: tuple[int, int, int, int]) -> str:
        asked.append(box[1])
        return texts[box[1]]

    assert _read_edge_lines(boxes, 2, 3, read) == [texts[1 - 1], texts[1], texts[5], texts[6]]
    assert sorted(asked) == [0, 1, 5, 6]  # 某某局办公室 above the dated line is not needed
    asked.clear()
    assert _read_edge_lines(boxes[:2], 2, 3, read) == texts[:2] and asked == [0, 1]  # nothing read twice
    assert _read_edge_lines(boxes[:1], 0, 3, read) == texts[:1]


@pytest.mark.parametrize("scale", [1.0, 0.32])
def test_text_binarisation_matches_opencvs_adaptive_gaussian(scale):
    """The local mean taken at a quarter size agrees with OpenCV's exact one but for a few pixels."""
    import cv2

    t = simple_table()
    page = ink(draw([t], size=(1600, 1200)))
    light = np.linspace(-40, 25, page.shape[1])[None, :]  # uneven lighting across the page
    gray = np.clip(page.astype(np.float32) + light, 0, 255).astype(np.uint8)
    if scale != 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    block = max(15, int(round(101 * scale)) | 1)
    exact = cv2.adaptiveThreshold(cv2.GaussianBlur(gray, (3, 3), 0), 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C,
                                  cv2.THRESH_BINARY_INV, block, 26)
    fast = binarize_text(gray, scale)
    assert fast.dtype == np.uint8 and set(np.unique(fast)) <= {0, 255}
    if scale < 0.5:  # a small page takes the exact threshold: its blur is cheap there
        assert np.array_equal(fast, exact)
    else:  # the quarter-size mean: a few pixels on the edge of the threshold differ
        assert 0 < np.count_nonzero(fast != exact) <= 0.005 * np.count_nonzero(exact)


def test_specks_are_dropped_band_by_band_exactly_as_over_the_whole_page():
    """Touching bands, bands split by one empty row, specks beside glyphs: the same pixels survive."""
    from ocr.cells import _drop_specks

    rng = np.random.default_rng(5)
    for _ in range(30):
        h, w = int(rng.integers(40, 900)), int(rng.integers(40, 700))
        page = random_rects(rng, h, w, int(rng.integers(0, 600)), (1, 14), (1, 14))
        page[int(h * rng.random()):int(h * rng.random()) + 1] = 0  # an empty row, or none
        if rng.random() < 0.5:
            page[h // 4:3 * h // 4] = 0  # a blanked-out table
        _, labels, stats, _ = cv2.connectedComponentsWithStats(page, connectivity=8)
        whole = page.copy()
        whole[np.isin(labels, np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < 12)) & (labels > 0)] = 0
        got = _drop_specks(page, 12)
        assert np.array_equal(got, whole)
        assert got is page or not np.array_equal(got, page)  # copied only when something was dropped


def test_a_failed_read_takes_a_heavier_clean_up_only_when_another_reading_confirms_it(table):
    from ocr.model import CellImage
    from ocr.recognize import CellReading, reread_cell

    crops, _ = table
    eng = engine_for(Config(workers=1))
    good = crops[(2, 1)]  # "12"
    failed = CellReading("()", 0.3, "label", [])
    always_failed = lambda r: r.confidence < 0.5  # noqa: E731
    sure = lambda r: False  # noqa: E731
    # one clean-up alone reading a sure "12" is not trusted with it
    assert reread_cell(failed, good, [good], eng, sure) is failed
    # two clean-ups agreeing are
    assert reread_cell(failed, good, [good, good], eng, sure).text == "12"
    # nor is anything taken that still fails
    noise = CellImage(np.full((60, 120), 255, np.uint8), 1, False)
    assert reread_cell(failed, good, [noise, noise], eng, always_failed) is failed
    # the failed text read again is no new evidence: the first reading stays as unsure as it was
    unsure = CellReading("12", 0.5, "number", [])
    assert reread_cell(unsure, good, [good, good], eng, sure) is unsure
    # a short label read as words is no figure gone wrong: not re-read
    words = CellReading("其他", 0.5, "label", [])
    assert reread_cell(words, good, [good, good], eng, sure) is words
    # a label cell (two lines, and so are its clean-ups) is left as read
    label = CellImage(crops[(0, 1)].image, 2, False)
    assert reread_cell(failed, label, [label, label], eng, sure) is failed
    # a figure a roller's stripes cut into bands that counted as two lines is read once clean-ups make it one
    assert reread_cell(failed, label, [good, good], eng, sure).text == "12"


def test_a_crop_wider_than_tesseract_takes_is_read_not_raised() -> None:
    """A two-pixel sliver enlarged to text height came out 66,904 px wide and failed its whole page."""
    from ocr.config import Config
    from ocr.recognize import TESSERACT_MAX_SIDE, engine_for, within_tesseract_limits

    wide = np.full((64, 66904), 255, np.uint8)
    wide[28:36, 100:66800:40] = 0
    assert max(within_tesseract_limits(wide).shape) < TESSERACT_MAX_SIDE
    reading = engine_for(Config(workers=1)).read(wide, "label")
    assert 0.0 <= reading.confidence <= 1.0


_WQY = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"  # the deviations family's second font (scripts/setup)


def _cell_of(text: str, size: int = 16, dx: int = 0, w: int = 100, h: int = 50, mark=None):
    """A one-cell crop of `text` in WenQuanYi Zen Hei, `dx` px off the middle; `mark(draw)` adds pen ink."""
    from PIL import Image, ImageDraw, ImageFont

    from ocr.model import GridCell

    img = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(img)
    f = ImageFont.truetype(_WQY, size)
    left, top, right, bottom = d.textbbox((0, 0), text, font=f)
    d.text(((w - (right - left)) / 2 - left + dx, (h - (bottom - top)) / 2 - top), text, font=f, fill=0)
    if mark is not None:
        mark(d)
    g = np.array(img)
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    return crop_cell(binarize_text(g, 1.0), np.zeros_like(g), GridCell(0, 0, 1, 1, corners), 1.0)


def test_a_lone_oval_confirms_a_zero_tesseract_is_unsure_of_in_a_font_it_did_not_learn():
    engine = engine_for(Config(workers=1))
    crop = _cell_of("0")
    assert crop.ring
    assert engine.read(crop.image, "number").confidence < Config(workers=1).review_threshold_number  # alone: unsure
    r = read_cell(crop, engine)
    assert (r.text, r.kind, r.flags) == ("0", "number", [])
    assert r.confidence >= Config(workers=1).review_threshold_open  # two readings agree: no review for want of a sum


@pytest.mark.parametrize("text", ["6", "8", "9", "00", "10"])
def test_other_figures_are_no_lone_oval(text):
    assert not _cell_of(text, size=24).ring


def test_an_oval_that_lost_its_neighbour_or_carries_pen_ink_is_no_zero():
    # '10' whose faint '1' vanished: the '0' is left off the cell's middle
    def erase_the_one(d):
        d.rectangle((0, 0, 49, 50), fill=255)
    assert not _cell_of("10", size=24, mark=erase_the_one).ring
    assert _cell_of("0", size=24).ring
    assert not _cell_of("0", size=24, mark=lambda d: d.line((44, 30, 58, 14), fill=0, width=2)).ring  # a pen tick
    assert not _cell_of("0", size=24, mark=lambda d: d.ellipse((30, 4, 70, 46), outline=0, width=2)).ring  # circled


def test_an_oval_read_as_another_figure_goes_to_review():
    from ocr.records import needs_review

    crop = _cell_of("0")
    r = read_cell(crop, _TwoReaders("6", "6"))
    assert "readers_disagree" in r.flags
    assert needs_review(r.kind, r.confidence, r.flags, Config(workers=1))[0]


def test_a_coarse_scan_is_read_at_300_dpi_and_its_boxes_stay_in_its_own_pixels():
    # a web image of a report at 96 dpi (the real pages' resolution): binarised at that size the strokes
    # of 到期日, 信用, 否 filled their glyphs and the cells read as nothing
    from synth import SynthCell, SynthTable

    from ocr.model import PageImage
    from ocr.pipeline import analyse_page
    from samples.score import iou

    texts = ["到期日", "信用", "否", "借款用途", "起息日", "合计", "50,000", "12"]
    t = SynthTable([300, 300, 300, 300], [110, 110], [SynthCell(i // 4, i % 4, 1, 1, s) for i, s in enumerate(texts)])
    page = draw([t], size=(1500, 500), text_px=46)
    k = 96 / 300
    coarse = cv2.resize(page, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    res = analyse_page(PageImage(1, coarse, 96), Config(workers=1))
    assert len(res.tables) == 1
    cells = {(c.row, c.col): c for c in res.tables[0].cells}
    read = [cells[(c.row, c.col)].text for c in t.cells]
    assert sum(r == s for r, s in zip(read, texts, strict=True)) >= 7, read
    for c in t.cells:  # boxes in the coarse image's pixels, not the enlarged page's
        assert iou(cells[(c.row, c.col)].bbox, tuple(v * k for v in c.bbox)) > 0.8


def test_a_label_block_tesseract_fails_on_is_read_line_by_line():
    # a clean two-line label whose second line is one centred glyph, from an augraphy-light page; read as
    # one block it came out as garbage at 0.0 and its row of 三 went unmapped
    from pathlib import Path

    from ocr.model import CellImage

    crop = cv2.imread(str(Path(__file__).parent / "data" / "labels" / "augraphy-light-s7603-000-p3-two-lines.png"),
                      cv2.IMREAD_GRAYSCALE)
    engine = engine_for(Config(workers=1))
    assert engine.read(crop, "label").confidence < 0.3  # the block read fails
    r = read_cell(CellImage(crop, 2, False), engine)
    assert (r.text, r.kind) == ("3.补正后申请内容仍不明确", "label") and r.confidence > 0.5


def test_an_oval_the_digit_reader_misses_and_the_label_reader_reads_as_zero_is_a_zero():
    # augraphy-medium: on one page the digit reader read nothing in 31 clean zeros, the label reader '0'
    crop = _cell_of("0")
    r = read_cell(crop, _TwoReaders("", "0"))
    assert (r.text, r.kind, r.flags) == ("0", "number", []) and r.confidence >= Config(workers=1).review_threshold_open
    # a letter O is the shape alone, no second reading: left as the label reader read it
    assert read_cell(crop, _TwoReaders("", "O")).kind == "label"
    # no oval, no confirmation: the label reader's text stays a label's
    assert read_cell(_cell_of("0", mark=lambda d: d.line((44, 30, 58, 14), fill=0, width=2)),
                     _TwoReaders("", "0")).kind == "label"


def test_an_image_that_declares_72_dpi_with_a_fine_scans_pixels_is_not_enlarged():
    # phones and screenshots declare 72 dpi whatever their pixels: enlarged by 300/72 a 4000 px page would
    # take 16 times the memory of a real scan, and measured at 72 dpi every pixel threshold would be 3x small
    from ocr.pipeline import _enlarge

    fine = np.full((4000, 3000), 255, np.uint8)
    out, f, dpi = _enlarge(fine, 72.0)
    assert f == 1.0 and out is fine and dpi == pytest.approx(4000 / 16.54)  # at least A3's fineness
    coarse = np.full((1123, 794), 255, np.uint8)  # A4 at 96 dpi
    out, f, dpi = _enlarge(coarse, 96.0)
    assert f == pytest.approx(300 / 96) and dpi == 96.0 and out.shape == (round(1123 * f), round(794 * f))
    big = np.full((2000, 1400), 255, np.uint8)  # declared 72 dpi: a poster's worth of inches, so ~121 dpi
    out, f, dpi = _enlarge(big, 72.0)
    assert dpi == pytest.approx(2000 / 16.54) and max(out.shape) <= round(16.54 * 300)  # A3's long side
