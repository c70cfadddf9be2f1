"""Synthetic scanned 政府信息公开工作年度报告 with exact ground truth.

The generator lays the three template tables out from its own description of the 2021 national
template (``samples.template``) and deliberately does not import the pipeline (``ocr``), so that a
mistake in either template is caught by the other.  Entry point: ``samples.generate.generate_samples``.
"""

from __future__ import annotations

GENERATOR_VERSION = 1
"""Bumped whenever the output for a given (seed, tier, index) changes on purpose."""

__all__ = ["GENERATOR_VERSION"]
