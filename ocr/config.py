"""The one typed configuration object every stage reads."""

from __future__ import annotations

import hashlib
import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Config(BaseModel):
    """Settings for a run; hashed into each record so results can be traced to them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dpi: int = Field(300, ge=50, le=1200, description="rasterization resolution for PDF pages")
    max_megapixels: float = Field(100.0, gt=0, description="refuse pages larger than this, before allocating")
    backend: Literal["tesserocr", "pytesseract"] = "tesserocr"
    label_lang: str = "chi_sim"
    number_lang: str = "eng"
    detect_orientation: bool = Field(True, description="run Tesseract OSD to catch 90/180/270 degree pages")
    # Calibrated on generated documents (bench/calibrate_review.py); see docs/review-threshold.md.
    review_threshold_number: float = Field(0.805, ge=0, le=1)
    review_threshold_label: float = Field(0.855, ge=0, le=1)
    # Repair (ocr/repair.py): one set for every document, calibrated by bench/calibrate_repair.py on seeds
    # 9500-9502 (docs/repair-thresholds.json); the reasoning for each is in its description.
    repair_doubtful_below: float = Field(
        0.85, ge=0, le=1,
        description="a reading under this confidence (or one recognition already sends to review) is doubtful: "
                    "the arithmetic may change it; at or above it a reading is trusted, and a failing 勾稽关系 "
                    "of trusted readings is the report's own inconsistency; also the least confidence a repaired "
                    "value must earn to skip review. Calibrated: 0.95 let wrong repairs through")
    repair_accept_from: float = Field(
        0.7, ge=0, le=1,
        description="a doubtful reading that two independent 勾稽关系 confirm as read skips review when its "
                    "confidence is at least this: two sums agreeing by chance with a wrong figure is rare, but "
                    "below that Tesseract has mostly read noise. Calibrated")
    repair_max_search: int = Field(
        2, ge=0, le=4,
        description="most doubtful cells the search for the smallest explanation frees at once, when freeing "
                    "them all leaves the arithmetic open (combinations grow fast; two covers a misread "
                    "inside a rectangle of doubtful cells)")
    review_threshold_unchecked: float = Field(
        0.9, ge=0, le=1,
        description="a field no 勾稽关系 checks (all of table 二) is reviewed below this confidence: nothing but "
                    "the reading vouches for it. Calibrated by bench/calibrate_repair.py")
    review_threshold_open: float = Field(
        0.95, ge=0, le=1,
        description="a field of the arithmetic (三, 四) whose 勾稽关系, all of them or all along one axis, are "
                    "left open by blank or unreadable cells is reviewed below this confidence: a misread, or two "
                    "values swapped between columns, passes every sum that can still be evaluated, so the reading "
                    "alone vouches for it, in a neighbourhood damage already touched (stricter than "
                    "review_threshold_unchecked)")
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)

    def digest(self) -> str:
        """Short hash of the settings that change results (not of `workers`)."""
        payload = self.model_dump_json(exclude={"workers"})
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
