"""``python -m samples --out DIR --count N --seed S --tier T`` (same options as ``reportscan samples``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from samples.generate import DIGITAL, generate_samples
from samples.scan import TIERS


def main(argv: list[str] | None = None) -> int:
    """Parse options, generate, print one line per document written."""
    parser = argparse.ArgumentParser(prog="python -m samples", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--count", type=int, default=1, help="number of documents")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--tier", choices=(*TIERS, DIGITAL), default="typical",
                        help="scan quality tier, or digital for a born-digital PDF (text layer, no scan)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    paths = generate_samples(args.out, args.count, args.seed, args.tier)
    for p in paths:
        print(p)
    print(f"{len(paths)} document(s) in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
