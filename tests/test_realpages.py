"""Three real ~96 dpi pages nobody here made (ICDAR 2019 cTDaR, BSD-2; see tests/data/ctdar/README.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ocr.config import Config
from ocr.pipeline import analyse_page
from ocr.rasterize import probe, render_page
from samples.score import iou

DATA = Path(__file__).parent / "data" / "ctdar"


def _boxes(xml: Path, element: str) -> list[tuple[int, int, int, int]]:
    """Axis-aligned boxes of the `table` or `cell` polygons of a cTDaR annotation (point order varies)."""
    boxes = []
    pattern = rf"<{element}[^>]*>\s*<Coords points=\"([^\"]+)\""
    for points in re.findall(pattern, xml.read_text(encoding="utf-8")):
        xy = [tuple(map(int, p.split(","))) for p in points.split()]
        xs, ys = [p[0] for p in xy], [p[1] for p in xy]
        boxes.append((min(xs), min(ys), max(xs), max(ys)))
    return boxes


def _holder(box: tuple[int, int, int, int], cells: list) -> object | None:
    """The predicted cell holding most of a truth text box (at least half of it)."""
    area = max(1, (box[2] - box[0]) * (box[3] - box[1]))
    best, share = None, 0.5
    for c in cells:
        ix = max(0, min(box[2], c.bbox[2]) - max(box[0], c.bbox[0]))
        iy = max(0, min(box[3], c.bbox[3]) - max(box[1], c.bbox[1]))
        if ix * iy / area >= share:
            best, share = c, ix * iy / area
    return best


@pytest.mark.parametrize("name", ["testA_cTDaR_t10101", "testB2_cTDaR_t10030", "testB2_cTDaR_t10021"])
def test_every_ruled_table_is_found_upright(name):
    cfg = Config(workers=1)
    result = analyse_page(render_page(probe(DATA / f"{name}.jpg", cfg), 1, cfg), cfg)
    assert result.rotation == 0 and abs(result.skew) < 0.5
    truth = _boxes(DATA / f"{name}.xml", "table")
    found = [max((iou(t, p.bbox) for p in result.tables), default=0.0) for t in truth]
    assert all(v >= 0.5 for v in found), found
    assert len(result.tables) == len(truth)
    # text is seen at ~96 dpi too: the cells holding the truth's text boxes are read, not called blank
    cells = [c for t in result.tables for c in t.cells]
    held = [_holder(box, cells) for box in _boxes(DATA / f"{name}.xml", "cell")]
    assert sum(c is not None for c in held) >= 0.9 * len(held)
    assert sum(c is not None and c.kind != "blank" for c in held) >= 0.9 * len(held)
