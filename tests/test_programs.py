"""Poppler's programs start by posix_spawn: a forked page worker would count twice in the tree's RSS."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ocr import programs
from ocr.config import Config
from ocr.errors import PageError
from ocr.rasterize import probe, render_page

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "data" / "clean-s1-001.pdf"


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The programs started through os.posix_spawn (CPython's subprocess forks when it cannot use it)."""
    calls: list[str] = []
    real = os.posix_spawn

    def spy(path: str, *args: object, **kwargs: object) -> int:
        calls.append(os.path.basename(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "posix_spawn", spy)
    return calls


def test_run_program_spawns_without_forking(spawned: list[str]) -> None:
    out = programs.run_program(["pdfinfo", "-v"], timeout=30)
    assert out.returncode == 0 and "pdfinfo" in out.stderr
    assert spawned == ["pdfinfo"]


def test_probing_and_rendering_a_pdf_page_never_fork(spawned: list[str]) -> None:
    cfg = Config(workers=1, dpi=100)
    info = probe(SAMPLE, cfg)
    from ocr.rasterize import _poppler_render  # the JPEG shortcut would skip poppler altogether

    page = _poppler_render(info, 1, cfg)
    assert page.rgb.shape[:2] == (info.page_sizes[0][1], info.page_sizes[0][0])
    assert spawned == ["pdfinfo", "pdftoppm"]
    assert render_page(info, 2, cfg).number == 2


def test_missing_program_raises_oserror() -> None:
    with pytest.raises(OSError):
        programs.run_program(["reportscan-no-such-program"], timeout=5)


def test_a_page_poppler_cannot_render_is_a_page_error(tmp_path: Path) -> None:
    cfg = Config(workers=1, dpi=100)
    info = probe(SAMPLE, cfg)
    broken = tmp_path / "gone.pdf"
    broken.write_bytes(b"%PDF-1.4\n%%EOF\n")  # the file changed under the batch: poppler refuses it
    from dataclasses import replace

    from ocr.rasterize import _poppler_render

    with pytest.raises(PageError, match="page 1 could not be rendered"):
        _poppler_render(replace(info, path=broken), 1, cfg)


def test_a_killed_renderer_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pdftoppm killed by a signal (out of memory) raises OSError, which the flow's task retries."""
    from ocr import rasterize

    cfg = Config(workers=1, dpi=100)
    info = probe(SAMPLE, cfg)
    monkeypatch.setattr(rasterize, "run_program",
                        lambda args, timeout, text: subprocess.CompletedProcess(args, -9, "", ""))
    with pytest.raises(OSError, match="killed by signal 9"):
        rasterize._poppler_render(info, 1, cfg)


def test_a_scanned_page_starts_no_program_for_its_text_layer(spawned: list[str], tmp_path: Path) -> None:
    from ocr.textlayer import _draws_text, page_words
    from samples.generate import generate_samples

    cfg = Config(workers=1)
    scan = probe(SAMPLE, cfg)
    assert not _draws_text(scan, 1)
    spawned.clear()
    assert page_words(scan, 1) is None
    assert spawned == []  # no pdftotext, no pdfimages
    [digital] = generate_samples(tmp_path, 1, 47, "digital")  # born-digital: text drawn in fonts
    born = probe(digital, cfg)
    assert _draws_text(born, 1)
    words = page_words(born, 1)
    assert words and "pdftotext" in spawned
