"""Draw a truth file's table and cell boxes over its scanned page, to check the geometry by eye.

``python -m samples.overlay samples/data/hard-s3-000.pdf 3 /tmp/overlay.png [--scale 0.5]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw


def overlay(pdf: Path, page: int, out: Path, scale: float = 0.5) -> Path:
    """Rasterize ``page`` (1-based) at the truth's dpi and outline every table (blue) and cell (green)."""
    truth = json.loads(pdf.with_suffix(".truth.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        stem = Path(tmp) / "p"
        subprocess.run(["pdftoppm", "-r", str(truth["dpi"]), "-f", str(page), "-l", str(page), "-singlefile",
                        str(pdf), str(stem)], check=True)
        img = Image.open(f"{stem}.ppm").convert("RGB")
    draw = ImageDraw.Draw(img)
    for table in truth["tables"]:
        if table["page"] != page:
            continue
        draw.rectangle(table["bbox"], outline=(0, 0, 255), width=5)
        for cell in table["cells"]:
            colour = (0, 170, 0) if cell["kind"] != "blank" else (255, 140, 0)
            draw.rectangle(cell["bbox"], outline=colour, width=2)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    img.save(out)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line wrapper around ``overlay``."""
    parser = argparse.ArgumentParser(prog="python -m samples.overlay", description=__doc__)
    parser.add_argument("pdf", type=Path)
    parser.add_argument("page", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--scale", type=float, default=0.5)
    args = parser.parse_args(argv)
    print(overlay(args.pdf, args.page, args.out, args.scale))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
