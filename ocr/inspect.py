"""Debug overlay: a page with its detected grid, cells coloured by how sure the reading is."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ocr.config import Config
from ocr.errors import PageError
from ocr.model import PageResult
from ocr.pipeline import analyse_page
from ocr.rasterize import probe, render_page
from ocr.records import write_atomic


def draw_overlay(rgb: np.ndarray, result: PageResult) -> np.ndarray:
    """Green = sure, through yellow, to red = needs review; grey = blank; tables outlined in blue."""
    out = rgb.copy()
    fill = out.copy()
    for t in result.tables:
        for c in t.cells:
            x0, y0, x1, y1 = c.bbox
            if c.kind == "blank":
                colour = (200, 200, 200)
            elif c.needs_review:
                colour = (230, 40, 40)
            else:
                g = float(np.clip((c.confidence - 0.5) * 2, 0, 1))
                colour = (int(255 * (1 - g)), 200, 40)
            cv2.rectangle(fill, (x0, y0), (x1, y1), colour, thickness=-1)
        for c in t.cells:
            x0, y0, x1, y1 = c.bbox
            cv2.rectangle(out, (x0, y0), (x1, y1), (0, 90, 255), thickness=2)
        x0, y0, x1, y1 = t.bbox
        cv2.rectangle(out, (x0, y0), (x1, y1), (0, 0, 255), thickness=6)
    return cv2.addWeighted(fill, 0.35, out, 0.65, 0)


def write_overlay(path: Path, page: int, out_dir: Path, cfg: Config) -> Path:
    info = probe(path, cfg)
    if not 1 <= page <= info.pages:
        raise PageError(f"page {page} does not exist (the file has {info.pages})")
    image = render_page(info, page, cfg)
    rgb = image.rgb
    result = analyse_page(image, cfg)
    picture = draw_overlay(rgb, result)
    target = out_dir / f"{path.stem}-p{page}.png"

    def write(tmp: Path) -> None:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {target}")

    write_atomic(target, write)
    return target
