"""The review snapshot: small, in record pixels through `scale`, and a printed digit still reads in it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw
from synth import draw, font, simple_table

from ocr import pipeline
from ocr.config import Config
from ocr.model import PageImage
from ocr.snapshot import SNAPSHOT_DPI, snapshot

A4_300 = (2480, 3508)
POINT_AT_300 = 300 / 72  # px per typographic point at 300 dpi


def decode(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None, "the snapshot is not a decodable image"
    return img


def page_with_figures(text: str, at: tuple[int, int], points: float) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A white A4 page at 300 dpi with `text` printed at `points` size; returns it and the text's box."""
    img = Image.new("RGB", A4_300, "white")
    d = ImageDraw.Draw(img)
    f = font(round(points * POINT_AT_300))
    d.text(at, text, fill="black", font=f)
    x0, y0, x1, y1 = d.textbbox(at, text, font=f)
    return np.asarray(img).copy(), (int(x0), int(y0), int(x1), int(y1))


def test_a_300_dpi_page_becomes_a_grey_jpeg_at_150_dpi():
    rgb, _ = page_with_figures("12", (500, 500), 12)
    snap = snapshot(rgb, 300)
    assert snap.media_type == "image/jpeg" and snap.data[:3] == b"\xff\xd8\xff"
    assert snap.scale == pytest.approx(SNAPSHOT_DPI / 300)
    assert (snap.width, snap.height) == (1240, 1754)
    img = decode(snap.data)
    assert img.ndim == 2 and img.shape == (1754, 1240)
    assert len(snap.data) < 150_000  # a near-blank page is small; a scanned one measured 150-200 KiB


def test_scale_follows_the_dpi_and_never_enlarges():
    rgb = np.full((1100, 850, 3), 255, np.uint8)  # letter at 100 dpi
    assert snapshot(rgb, 100).scale == 1.0
    assert (snapshot(rgb, 100).width, snapshot(rgb, 100).height) == (850, 1100)
    big = np.full((A4_300[1], A4_300[0], 3), 255, np.uint8)
    assert snapshot(big, None).scale == pytest.approx(0.5, abs=0.01)  # no dpi declared: guessed as A4
    s200 = snapshot(np.full((2339, 1654, 3), 255, np.uint8), 200)
    assert s200.scale == 0.75 and (s200.width, s200.height) == (1240, 1754)
    grey = snapshot(np.full((1200, 1600), 255, np.uint8), 300)  # a grey input page works too
    assert (grey.width, grey.height) == (800, 600)


@pytest.mark.parametrize("figures", ["3805", "6981"])
def test_a_digit_sized_box_still_reads_at_the_snapshot_scale(figures):
    """五号 (10.5 pt) figures: cut out of the snapshot by their record box times `scale`, the ink is kept and
    Tesseract (no better reader than a person) still reads them: 3 vs 8 and 6 vs 9 survive the shrinking."""
    rgb, box = page_with_figures(figures, (900, 1400), 10.5)
    snap = snapshot(rgb, 300)
    img = decode(snap.data)
    x0, y0, x1, y1 = (round(v * snap.scale) for v in box)
    assert y1 - y0 >= 12  # a digit ~15 px tall at 150 dpi
    crop = img[y0 - 6:y1 + 6, x0 - 6:x1 + 6]
    assert crop.min() < 80 and np.median(crop) > 230  # dark strokes on white paper
    assert (img[:y0 - 20] > 230).all()  # and nothing smeared into the paper above
    from ocr.recognize import engine_for

    enlarged = cv2.resize(crop, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    assert engine_for(Config(workers=1)).read(enlarged, "number").text.replace(" ", "") == figures


def test_a_red_seal_stays_visible_for_the_operator():
    """Luminance, not the OCR's ink channel (which turns red into paper): the seal over a cell is shown."""
    img = Image.new("RGB", A4_300, "white")
    ImageDraw.Draw(img).ellipse((1000, 1000, 1400, 1400), fill=(220, 30, 30))
    snap = snapshot(np.asarray(img).copy(), 300)
    assert decode(snap.data)[600, 600] < 150


def test_the_page_stage_keeps_a_snapshot_only_for_a_page_with_a_table():
    cfg = Config(workers=1, detect_orientation=False)
    table_page = draw([simple_table()])
    res = pipeline.analyse_page(PageImage(1, table_page, 300), cfg)
    assert res.tables and res.snapshot is not None
    assert res.snapshot.scale == pytest.approx(0.5)
    assert (res.snapshot.width, res.snapshot.height) == (res.width // 2, res.height // 2)
    img = decode(res.snapshot.data)
    # the cell boxes map onto the snapshot through `scale`: a cell's rules sit on its box edges
    cell = next(c for c in res.tables[0].cells if c.text == "12")
    x0, y0, x1, y1 = (round(v * res.snapshot.scale) for v in cell.bbox)
    assert img[y0 - 2:y0 + 3, x0 + 5:x1 - 5].min() < 100  # the top rule
    assert img[y0 + 8:y1 - 8, x0 + 3:x1 - 3].min() < 100  # the figures inside

    blank = np.full((1200, 1600, 3), 255, np.uint8)
    res = pipeline.analyse_page(PageImage(1, blank, 300), cfg)
    assert not res.tables and res.snapshot is None
