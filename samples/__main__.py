"""``python -m samples --out DIR --count N --seed S --tier T [--variants]`` (as ``reportscan samples``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from samples.generate import FAMILIES, generate_samples, print_written


def main(argv: list[str] | None = None) -> int:
    """Parse options, generate, print one line per document written."""
    parser = argparse.ArgumentParser(prog="python -m samples", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--count", type=int, default=1, help="number of documents")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--tier", choices=FAMILIES, default="typical",
                        help="scan quality tier, digital for a born-digital PDF (text layer, no scan), or "
                             "deviations: typical scans with the variants and what users' scans show (turned "
                             "pages, 200 dpi, doubled/thick/broken rules, faded print, photocopies, seals, pen)")
    parser.add_argument("--variants", action="store_true",
                        help="add the deviations of real reports: label line breaks, （二）部分公开 without its note, "
                             "straight quotes, 二 as four tables, 政府集中采购, a total that does not add up")
    args = parser.parse_args(argv)
    return print_written(lambda: generate_samples(args.out, args.count, args.seed, args.tier, args.variants))


if __name__ == "__main__":
    raise SystemExit(main())
