"""The faint-rule test (`ocr.faint_rules`): its fast form agrees with the textbook one, always."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ocr.faint_rules import ALONG, LONG, median6, thin_dips
from ocr.grid import GridParams


def _thin_dips_by_windows(samples: np.ndarray, tol: int, p: GridParams, candidate: bool) -> np.ndarray:
    """The textbook form of `thin_dips` (every window materialised, np.median): the fast one must agree."""
    reach = tol + p.faint_side
    if samples.shape[1] < 8 or samples.shape[0] < 2 * reach + 1:
        return np.zeros(max(0, samples.shape[0] - 2 * reach), dtype=bool)
    smooth = cv2.blur(samples, (ALONG, 1))
    win = np.lib.stride_tricks.sliding_window_view(smooth, 2 * reach + 1, axis=0)
    offs = np.arange(-reach, reach + 1)
    inner = win[..., reach - tol:reach + tol + 1]
    centre, where = inner.min(axis=2), inner.argmin(axis=2)
    sides = win[..., np.abs(offs) >= tol + 3]
    half = sides.shape[2] // 2
    paper = np.minimum(np.median(sides[..., :half], axis=2), np.median(sides[..., half:], axis=2))
    settled = tol if candidate else np.median(where, axis=1, keepdims=True)
    steady = np.abs(where - settled) <= (2 if candidate else 1)
    clear = (sides < (paper - p.faint_dip)[..., None]).sum(axis=2) <= 2
    dark = centre <= np.median(smooth) - p.faint_dip
    good = (paper - centre >= p.faint_dip) & steady & clear & dark
    fifth = max(1, good.shape[1] // 5)
    head, tail = good[:, :fifth].mean(axis=1) >= 0.5, good[:, -fifth:].mean(axis=1) >= 0.5
    share = good.mean(axis=1)
    if good.shape[1] < LONG:
        return (share >= p.faint_share) & head & tail
    whole_end = good[:, :fifth].all(axis=1) | good[:, -fifth:].all(axis=1)
    worn = p.broken_rule_share if candidate else p.broken_share
    return (share >= p.faint_share) & (head & tail | whole_end) | (share >= worn) & whole_end


def test_the_median_of_six_is_numpys_for_every_order():
    from itertools import permutations

    for perm in permutations([3.0, 1.5, 7.25, 7.25, 0.0, 2.0]):
        assert median6([np.array([v], np.float32) for v in perm])[0] == np.float32(2.5)
    rng = np.random.default_rng(3)
    arrays = [rng.normal(200, 30, (7, 50)).astype(np.float32) for _ in range(6)]
    assert np.array_equal(median6(arrays), np.median(np.stack(arrays), axis=0))


@pytest.mark.parametrize("candidate", [False, True])
def test_the_faint_rule_test_agrees_with_its_textbook_form(candidate):
    """Noise, ties, faint dips of every depth, short and long stretches: the same rows, always."""
    rng = np.random.default_rng(11)
    p = GridParams()
    hits = 0
    for _ in range(400):
        tol = int(rng.integers(2, 8))
        reach = tol + p.faint_side
        rows, along = int(rng.integers(2 * reach + 1, 2 * reach + 40)), int(rng.integers(8, 300))
        s = rng.normal(200, 20, (rows, along))
        s[int(rng.integers(0, rows))] -= rng.uniform(3, 60)
        if rng.random() < 0.3:
            s = np.round(s)
        s = np.clip(s, 0, 255).astype(np.float32)
        fast = thin_dips(s, tol, p, candidate)
        assert np.array_equal(fast, _thin_dips_by_windows(s, tol, p, candidate))
        hits += int(fast.sum())
    assert hits > 20  # the comparison saw rules, not only their absence
