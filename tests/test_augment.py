"""Tests of the augraphy families (samples/augment.py): one cv2 in the venv, every effect offline and in place,
determinism, and one real light-family document (slow) whose truth boxes still sit on its ink.

The small page is drawn here with OpenCV (rules and digits at known places), a quarter of an A4 page at 300 dpi.
"""

from __future__ import annotations

import importlib.metadata
import json
import random
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from samples import augment as A
from samples.content import make_report
from samples.render import layout_document
from samples.scan import rasterize
from samples.validate import validate_truth
from samples.variants import draw_variants

ROOT = Path(__file__).resolve().parent.parent
CV2_DISTRIBUTIONS = ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
                     "opencv-contrib-python-headless")
XS = [60 + 100 * i for i in range(6)]
YS = [120 + 90 * j for j in range(8)]
RULE = 3
GEOMETRIC = {"Geometric", "Folding", "PageBorder"}


def small_page() -> np.ndarray:
    """A 620 × 877 RGB page: a 7 × 5 grid of 3-px rules, a number in every cell, a line of text above."""
    img = np.full((877, 620, 3), 255, np.uint8)
    for y in YS:
        cv2.line(img, (XS[0], y), (XS[-1], y), (0, 0, 0), RULE)
    for x in XS:
        cv2.line(img, (x, YS[0]), (x, YS[-1]), (0, 0, 0), RULE)
    for j in range(len(YS) - 1):
        for i in range(len(XS) - 1):
            cv2.putText(img, str(7 * j + 3 * i), (XS[i] + 30, YS[j] + 58), cv2.FONT_HERSHEY_SIMPLEX, 1.0,
                        (0, 0, 0), 2, cv2.LINE_AA)
    cv2.putText(img, "annual report 2021", (60, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 2, cv2.LINE_AA)
    return img


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every way out to the network raises and is recorded; the list of what tried is returned.

    augraphy is imported first: importing it imports requests, whose urllib3 opens a socket on ::1 to learn
    whether the machine has IPv6 (no traffic); what is forbidden here is what its effects do when they run.
    """
    A._augraphy()
    tried: list[str] = []

    def refuse(*args: object, **_kwargs: object) -> None:
        tried.append(repr(args[:2]))
        raise OSError("network use forbidden in this test")

    class NoSocket(socket.socket):
        def __init__(self, *args: object, **kwargs: object) -> None:
            refuse(*args, **kwargs)

    monkeypatch.setattr(socket, "socket", NoSocket)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(urllib.request, "urlretrieve", refuse)
    return tried


def test_exactly_one_cv2_and_it_is_the_headless_one():
    present = []
    for name in CV2_DISTRIBUTIONS:
        try:
            present.append(importlib.metadata.distribution(name))
        except importlib.metadata.PackageNotFoundError:
            continue
    assert [d.metadata["Name"] for d in present] == ["opencv-python-headless"]
    assert importlib.metadata.packages_distributions()["cv2"] == ["opencv-python-headless"]
    init = next(f for f in present[0].files if str(f).replace("\\", "/") == "cv2/__init__.py")
    assert Path(present[0].locate_file(init)).resolve() == Path(cv2.__file__).resolve()
    # augraphy is there at its pin, installed without its opencv-python requirement
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().split() if "==" in line)
    assert importlib.metadata.version("augraphy") == pins["augraphy"]
    assert any(r.startswith("opencv-python") for r in importlib.metadata.requires("augraphy"))


def test_the_network_guard_catches_a_download(no_network):
    import requests

    with pytest.raises((OSError, requests.exceptions.ConnectionError)):
        requests.get("https://example.org/font.ttf", timeout=1)
    with pytest.raises(OSError):
        urllib.request.urlretrieve("https://example.org/x.png")
    assert no_network


def _rule_offsets(img: np.ndarray) -> list[int]:
    """How far (px) the darkest row/column near each drawn rule lies from where the rule was drawn."""
    ink = 255.0 - cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    offsets = []
    for y in YS:
        band = ink[y - 8:y + 9, XS[0] + 5:XS[-1] - 5].mean(axis=1)
        offsets.append(int(np.argmax(band)) - 8)
    for x in XS:
        band = ink[YS[0] + 5:YS[-1] - 5, x - 8:x + 9].mean(axis=0)
        offsets.append(int(np.argmax(band)) - 8)
    return offsets


@pytest.mark.parametrize("family", A.FAMILIES)
def test_every_effect_runs_offline_deterministically_and_keeps_geometry_outside_the_geometry_family(
        family, no_network, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written to the working directory (augraphy's caches)
    page = small_page()
    effects = A.family_effects(family)
    assert effects and all(e.name != "Scribbles" and e.name != "PaperFactory" for e in effects)
    for n, effect in enumerate(effects):
        runs = []
        for _ in range(2):
            with A.seeded((5, n)):
                runs.append(A.apply_effect(effect, page[:, :, ::-1].copy())[:, :, ::-1])
        out = runs[0]
        assert np.array_equal(runs[0], runs[1]), f"{effect.name} is not deterministic"
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3, effect.name
        if family == A.GEOMETRY:
            continue
        assert effect.name not in GEOMETRIC
        assert out.shape == page.shape, effect.name
        offsets = _rule_offsets(out)
        assert sum(abs(o) <= 3 for o in offsets) >= 0.9 * len(offsets), (effect.name, offsets)
    assert no_network == []
    assert list(tmp_path.iterdir()) == []


def test_pages_are_deterministic_and_leave_the_global_generators_as_they_were(no_network, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    page = small_page()
    random.seed(123)
    np.random.seed(456)
    py_state, np_state = random.getstate(), np.random.get_state()
    for family in A.FAMILIES:
        first, applied = A.degrade_page(page, family, (7, A.FAMILY_CODES[family], 0, 1))
        again, applied_again = A.degrade_page(page, family, (7, A.FAMILY_CODES[family], 0, 1))
        assert applied == applied_again and np.array_equal(first, again), family
        assert first.shape == page.shape
        other = [A.degrade_page(page, family, (8 + k, A.FAMILY_CODES[family], 0, 1))[0] for k in range(2)]
        assert any(not np.array_equal(first, o) for o in other), family
    assert random.getstate() == py_state
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2:] == np_state[2:]
    assert no_network == []


_FIRST_PAGE = """
import hashlib, sys
from samples import augment as A
from tests.test_augment import small_page
page = small_page()
for family in sys.argv[1:]:
    out, _ = A.degrade_page(page, family, (7, A.FAMILY_CODES[family], 0, 1))
print(hashlib.sha256(out.tobytes()).hexdigest())
"""


def test_a_process_first_page_is_the_page_it_makes_after_another_family():
    """A pool worker's first document must not differ from the same document made later in another worker:
    augraphy's import draws from the generators, so it must not happen inside a page's seeded block."""
    def last_page(*families: str) -> str:
        run = subprocess.run([sys.executable, "-W", "ignore", "-c", _FIRST_PAGE, *families], cwd=ROOT,
                             capture_output=True, text=True, check=True)
        return run.stdout.strip()

    assert last_page("augraphy-light") == last_page("augraphy-heavy", "augraphy-light")


def test_geometry_family_truth_says_its_boxes_do_not_hold():
    for family in A.FAMILIES:
        code = A.FAMILY_CODES[family]
        rng = np.random.default_rng(np.random.SeedSequence([3, code, 0]))
        report, plan = draw_variants(make_report(rng, A.CONTENT_TIER[family]), 3, code, 0)
        _style, pages = layout_document(report, rng, plan)
        info = [{"page": n, "width": 2480, "height": 3508, "rotation": 0, "skew": 0.0, "stamps": 0, "augraphy": []}
                for n in range(1, len(pages) + 1)]
        truth = A.family_truth(3, family, 0, f"{family}-s3-000", report, info, pages, plan)
        assert truth["tier"] == family and truth["geometry_kept"] is (family != A.GEOMETRY)
        assert validate_truth(truth) == []


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="family must be one of"):
        A.generate_augmented(Path("/nonexistent"), 1, 0, "augraphy-extreme")


@pytest.mark.slow
def test_a_light_document_keeps_its_truth_on_its_ink(tmp_path, no_network):
    (pdf,) = A.generate_augmented(tmp_path, 1, 11, A.LIGHT)
    assert pdf.name == "augraphy-light-s11-000.pdf"
    truth = json.loads((tmp_path / "augraphy-light-s11-000.truth.json").read_text(encoding="utf-8"))
    assert truth["tier"] == A.LIGHT and truth["geometry_kept"] is True and validate_truth(truth) == []
    scans = rasterize(pdf.read_bytes(), truth["dpi"])
    assert [(s.shape[1], s.shape[0]) for s in scans] == [(p["width"], p["height"]) for p in truth["page_info"]]
    checked = 0
    for table in truth["tables"]:
        gray = cv2.cvtColor(scans[table["page"] - 1], cv2.COLOR_RGB2GRAY)
        numbers = [c for c in table["cells"] if c["kind"] == "number" and c["text"].strip()][:4]
        for cell in numbers:
            x0, y0, x1, y1 = (round(v) for v in cell["bbox"])
            inner = gray[y0 + 8:y1 - 8, x0 + 8:x1 - 8]  # inside the rules
            assert (inner < 128).sum() >= 20, (table["template_table"], cell["row"], cell["col"], cell["text"])
            checked += 1
    assert checked >= 8
    assert no_network == []
