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
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)

    def digest(self) -> str:
        """Short hash of the settings that change results (not of `workers`)."""
        payload = self.model_dump_json(exclude={"workers"})
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
