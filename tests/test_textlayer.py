"""Born-digital PDFs are read from their text layer; a hidden OCR layer over a scan is not trusted."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas
from synth import draw, simple_table

from ocr.config import Config
from ocr.pipeline import process_document
from ocr.rasterize import probe
from ocr.records import build_record
from ocr.textlayer import page_words
from samples.generate import generate_samples
from samples.score import score_document


@pytest.fixture(scope="module")
def digital(tmp_path_factory):
    out = tmp_path_factory.mktemp("digital")
    pdf = generate_samples(out, 1, 21, "digital")[0]
    return pdf, json.loads(pdf.with_name(pdf.stem + ".truth.json").read_text(encoding="utf-8"))


def test_born_digital_cells_come_from_the_text_layer(digital):
    pdf, truth = digital
    cfg = Config(workers=1)
    info, pages = process_document(str(pdf), cfg)
    record = build_record(info, pages, cfg).model_dump(mode="json")
    cells = [c for t in record["tables"] for c in t["cells"]]
    assert {c["read_by"] for c in cells if c["kind"] != "blank"} == {"text_layer"}
    assert all(c["confidence"] == 1.0 and not c["needs_review"] for c in cells)
    s = score_document(record, truth)
    assert s.parts_found == s.table_parts and s.grids_exact == s.table_parts
    assert s.numbers_right == s.numbers and s.labels_right == s.labels


def test_hidden_ocr_layer_over_a_scan_is_ignored(tmp_path):
    scan = tmp_path / "page.png"
    Image.fromarray(draw([simple_table()], size=(2480, 3508))).save(scan)
    path = tmp_path / "ocred.pdf"
    c = canvas.Canvas(str(path), pagesize=(595.2, 841.92))
    c.drawImage(ImageReader(str(scan)), 0, 0, width=595.2, height=841.92)
    t = c.beginText(30, 800)
    t.setTextRenderMode(3)  # invisible, as OCR tools lay it
    t.textLine("12 3 15 wrong words from an earlier OCR")
    c.drawText(t)
    c.save()
    info = probe(path, Config(workers=1))
    assert page_words(info, 1) is None


def test_text_layer_words_go_to_one_cell_and_lines_of_figures_are_not_glued():
    from ocr.pipeline import read_text_layer
    from ocr.textlayer import Word, text_in

    words = [Word("12", (10, 10, 30, 30)), Word("34", (10, 40, 30, 60)), Word("边", (90, 10, 110, 30))]
    assert text_in((0, 0, 100, 100), words) == ["12", "34"]
    assert text_in((100, 0, 200, 100), words) == ["边"]  # centre x == 100 belongs to the right cell only
    r = read_text_layer((0, 0, 100, 100), words)
    assert r.text == "12 34" and "readers_disagree" in r.flags
    wrapped = [Word("本年新收政府", (10, 10, 90, 30)), Word("信息公开申请", (10, 40, 90, 60))]
    assert read_text_layer((0, 0, 100, 100), wrapped).text == "本年新收政府信息公开申请"
