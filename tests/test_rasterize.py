"""Input validation and rendering: real PDFs and images made here, bad ones refused with a reason."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pikepdf
import pytest
from PIL import Image
from reportlab.pdfgen import canvas

from ocr.config import Config
from ocr.errors import InputError, PageError
from ocr.rasterize import ink, probe, render_page

CFG = Config(workers=1)


def make_pdf(path, pages=2, size=(595, 842)):
    c = canvas.Canvas(str(path), pagesize=size)
    for i in range(pages):
        c.drawString(72, 720, f"page {i + 1}")
        c.rect(72, 400, 300, 200)
        c.showPage()
    c.save()
    return path


def test_pdf_pages_are_sized_then_rendered_one_at_a_time(tmp_path):
    info = probe(make_pdf(tmp_path / "a.pdf", pages=3), CFG)
    assert (info.kind, info.pages, info.dpi) == ("pdf", 3, 300)
    assert info.page_sizes[0] == (2480, 3509)  # poppler rounds up: 595 x 842 pt at 300 dpi
    page = render_page(info, 2, CFG)
    assert page.rgb.shape == (3509, 2480, 3) and page.number == 2


def test_multipage_tiff_and_declared_dpi(tmp_path):
    frames = [Image.new("RGB", (400, 300), c) for c in ("white", "gray")]
    path = tmp_path / "scan.TIF"
    frames[0].save(path, save_all=True, append_images=frames[1:], dpi=(200, 200))
    info = probe(path, CFG)
    assert (info.kind, info.pages, info.dpi) == ("image", 2, 200)
    assert render_page(info, 2, CFG).rgb[0, 0].tolist() == [128, 128, 128]
    png = tmp_path / "nodpi.png"
    Image.new("L", (50, 40)).save(png)
    assert probe(png, CFG).dpi is None


def test_colour_is_kept_and_red_becomes_paper_in_the_ink_channel():
    rgb = np.array([[[255, 255, 255], [0, 0, 0], [220, 40, 40], [30, 10, 10]]], dtype=np.uint8)
    assert ink(rgb).tolist() == [[255, 0, 255, 30]]


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("empty.pdf", b"", "empty file"),
    ("notes.pdf", b"just some text\n" * 10, "not a PDF or a supported image"),
    ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not a PDF or a supported image|corrupt image"),
])
def test_bad_files_are_refused_with_a_reason(tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError, match=reason) as err:
        probe(path, CFG)
    assert str(err.value).startswith(str(path))


def test_truncated_image_is_refused_up_front(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(buf, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(InputError, match="truncated"):
        probe(path, CFG)


def test_truncated_pdf_is_refused_or_repaired_never_half_read(tmp_path):
    whole = make_pdf(tmp_path / "whole.pdf").read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(whole[: len(whole) // 3])
    try:
        info = probe(cut, CFG)
    except InputError as exc:
        assert "not a readable PDF" in str(exc) or "no pages" in str(exc)
    else:  # poppler repaired it: every page it claims renders at its announced size, or fails as a page
        for n in range(1, info.pages + 1):
            with contextlib.suppress(PageError):
                w, h = info.page_sizes[n - 1]
                assert render_page(info, n, CFG).rgb.shape[:2] == (h, w)


def test_user_password_refused_owner_password_alone_is_fine(tmp_path):
    src = make_pdf(tmp_path / "src.pdf")
    with pikepdf.open(src) as pdf:
        pdf.save(tmp_path / "user.pdf", encryption=pikepdf.Encryption(user="secret", owner="owner"))
        pdf.save(tmp_path / "owner.pdf", encryption=pikepdf.Encryption(user="", owner="owner",
                                                                       allow=pikepdf.Permissions(extract=False)))
    with pytest.raises(InputError, match="encrypted with a user password"):
        probe(tmp_path / "user.pdf", CFG)
    info = probe(tmp_path / "owner.pdf", CFG)
    assert render_page(info, 1, CFG).rgb.shape[0] == 3509


def test_zero_page_pdf(tmp_path):
    pdf = pikepdf.new()
    pdf.save(tmp_path / "zero.pdf")
    with pytest.raises(InputError, match="no pages|not a readable PDF"):
        probe(tmp_path / "zero.pdf", CFG)


def test_oversized_pdf_page_fails_that_page_without_rendering(tmp_path):
    path = make_pdf(tmp_path / "big.pdf", pages=1, size=(14400, 14400))  # 200 in: 60000 x 60000 px at 300 dpi
    info = probe(path, CFG)
    with pytest.raises(PageError, match="over the 100 megapixel limit"):
        render_page(info, 1, CFG)


def test_decompression_bomb_image_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000)).save(path)  # 144 MP, a few KB on disk
    with pytest.raises(InputError, match="megapixel limit|decompression bomb"):
        probe(path, CFG)
    small = Config(workers=1, max_megapixels=0.001)
    buf = io.BytesIO()
    Image.new("RGB", (100, 100)).save(buf, "PNG")
    (tmp_path / "small.png").write_bytes(buf.getvalue())
    with pytest.raises(InputError, match="megapixel limit"):
        probe(tmp_path / "small.png", small)


def test_unreadable_file_is_a_one_line_error(tmp_path, monkeypatch):
    from pathlib import Path

    path = make_pdf(tmp_path / "secret.pdf", pages=1)
    real_open = Path.open

    def refuse(self, *args, **kwargs):  # what a permission or I/O error looks like, even to root
        if self == path:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(InputError, match="cannot be read") as err:
        probe(path, CFG)
    assert str(err.value).startswith(str(path))


def test_ink_in_strips_equals_the_whole_page_formula():
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (1000, 300, 3), dtype=np.uint8)  # several strips and a partial one
    hi, lo = rgb.max(axis=2), rgb.min(axis=2)
    want = np.where(hi.astype(int) - lo > 60, 255, hi).astype(np.uint8)
    assert np.array_equal(ink(rgb), want)


def test_ppm_from_poppler_is_read_exactly_and_a_cut_one_refused(tmp_path):
    from ocr.rasterize import _read_ppm

    rgb = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    good = tmp_path / "p.ppm"
    good.write_bytes(b"P6\n7 5\n255\n" + rgb.tobytes())
    assert np.array_equal(_read_ppm(good, 1), rgb)
    cut = tmp_path / "cut.ppm"
    cut.write_bytes(b"P6\n7 5\n255\n" + rgb.tobytes()[:-10])
    with pytest.raises(PageError, match="page 3 .*cut short"):
        _read_ppm(cut, 3)
    (tmp_path / "p16.ppm").write_bytes(b"P6\n7 5\n65535\n" + rgb.tobytes() * 2)
    with pytest.raises(PageError, match="8-bit"):
        _read_ppm(tmp_path / "p16.ppm", 1)


def _scan_jpeg(size: tuple[int, int], mode: str = "RGB") -> bytes:
    """A noisy page-sized JPEG, as a scanner writes one (A4 at 100 dpi here, to stay small)."""
    rng = np.random.default_rng(5)
    arr = rng.integers(150, 256, (size[1], size[0], 3), dtype=np.uint8)
    arr[200:204, 50:800] = 0  # a rule
    buf = io.BytesIO()
    Image.fromarray(arr).convert(mode).save(buf, "JPEG", quality=80, dpi=(100, 100))
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_page_that_is_one_jpeg_is_decoded_not_rendered(tmp_path, mode):
    import cv2
    import img2pdf

    jpeg = _scan_jpeg((827, 1169), mode)
    path = tmp_path / "scan.pdf"
    path.write_bytes(img2pdf.convert(jpeg))
    cfg = Config(workers=1, dpi=100)
    info = probe(path, cfg)
    page = render_page(info, 1, cfg)
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    want = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    assert page.rgb.shape == (1169, 827, 3) and page.dpi == 100
    assert np.array_equal(page.rgb, want)  # the scan's own pixels, not a resampling of them
    # at another dpi the JPEG is not the page's pixels: poppler renders it
    cfg200 = Config(workers=1, dpi=200)
    assert render_page(probe(path, cfg200), 1, cfg200).rgb.shape[:2] == (2338, 1654)


def _scan_pdf(path, jpeg: bytes):
    import img2pdf

    path.write_bytes(img2pdf.convert(jpeg))
    return path


def _rule_band(page) -> float:
    """Mean darkness where a 12 pt black bar was drawn over the scan (y 380-392 pt on a 100 dpi page)."""
    y = round((841.68 - 386) / 72 * 100)
    return float(page.rgb[y - 2:y + 3, 100:700].max(axis=2).mean())


def test_a_jpeg_with_anything_drawn_over_it_is_rendered(tmp_path):
    path = _scan_pdf(tmp_path / "overlay.pdf", _scan_jpeg((827, 1169)))
    cfg = Config(workers=1, dpi=100)
    assert _rule_band(render_page(probe(path, cfg), 1, cfg)) > 100  # the bare scan: no bar there
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        pdf.pages[0].contents_add(pikepdf.Stream(pdf, b"q 0 g 0 380 595 12 re f Q"), prepend=False)
        pdf.save(path)
    assert _rule_band(render_page(probe(path, cfg), 1, cfg)) < 60  # only a renderer shows the vector bar


def test_an_annotation_over_the_scan_is_rendered(tmp_path):
    path = _scan_pdf(tmp_path / "stamped.pdf", _scan_jpeg((827, 1169)))
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        look = pikepdf.Stream(pdf, b"0 g 0 0 595 12 re f")
        look.Type, look.Subtype, look.BBox = pikepdf.Name.XObject, pikepdf.Name.Form, [0, 0, 595, 12]
        annot = pdf.make_indirect(pikepdf.Dictionary(
            Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Square, Rect=[0, 380, 595, 392], F=4,
            AP=pikepdf.Dictionary(N=look)))
        pdf.pages[0].obj.Annots = pdf.make_indirect(pikepdf.Array([annot]))
        pdf.save(path)
    cfg = Config(workers=1, dpi=100)
    assert _rule_band(render_page(probe(path, cfg), 1, cfg)) < 60


def test_exif_orientation_inside_a_scan_is_ignored_as_poppler_does(tmp_path):
    rng = np.random.default_rng(7)
    arr = rng.integers(150, 256, (1169, 827, 3), dtype=np.uint8)
    arr[:100, :100] = 0  # a dark corner at the top left, as stored
    exif = Image.Exif()
    exif[0x0112] = 3  # "rotate 180 to view"
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90, dpi=(100, 100), exif=exif.tobytes())
    path = tmp_path / "exif.pdf"
    path.write_bytes(_one_jpeg_pdf(buf.getvalue()))
    cfg = Config(workers=1, dpi=100)
    page = render_page(probe(path, cfg), 1, cfg)
    assert page.rgb[:100, :100].mean() < 60 and page.rgb[-100:, -100:].mean() > 120


def _one_jpeg_pdf(jpeg: bytes) -> bytes:
    """img2pdf honours EXIF rotation by turning the page: build the one-image PDF by hand instead."""
    pdf = pikepdf.new()
    image = pikepdf.Stream(pdf, jpeg)
    image.Type, image.Subtype, image.Filter = pikepdf.Name.XObject, pikepdf.Name.Image, pikepdf.Name.DCTDecode
    image.Width, image.Height, image.BitsPerComponent, image.ColorSpace = 827, 1169, 8, pikepdf.Name.DeviceRGB
    page = pdf.add_blank_page(page_size=(595.44, 841.68))
    page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
    page.obj.Contents = pdf.make_stream(b"q 595.44 0 0 841.68 0 0 cm /Im0 Do Q")
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_a_jpeg_larger_than_its_pdf_entries_say_is_rendered_at_the_pages_size(tmp_path):
    big = _scan_jpeg((1654, 2338))  # the image dictionary below claims 827 x 1169
    path = tmp_path / "liar.pdf"
    path.write_bytes(_one_jpeg_pdf(big))
    cfg = Config(workers=1, dpi=100)
    assert render_page(probe(path, cfg), 1, cfg).rgb.shape[:2] == (1169, 827)


def test_a_rotated_scan_page_is_rendered_turned(tmp_path):
    import img2pdf

    path = tmp_path / "rotated.pdf"
    path.write_bytes(img2pdf.convert(_scan_jpeg((827, 1169))))
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        pdf.pages[0].obj["/Rotate"] = 90
        pdf.save(path)
    cfg = Config(workers=1, dpi=100)
    assert render_page(probe(path, cfg), 1, cfg).rgb.shape[:2] == (827, 1169)
