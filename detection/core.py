"""The in-memory method on one window: normalise, co-register, two-stage change, decide."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from detection import align, change
from detection.types import DetectParams

#: Block size (pixels at working resolution) of the costly stage and its context margin.
BLOCK = 128
PAD = 24


@dataclass
class WindowOutput:
    """What one window yields: labelled mask, blob score and diagnostics."""

    mask: np.ndarray
    score: np.ndarray
    shift: tuple[float, float]
    candidate_fraction: float


def prepare_pair(
    a8: np.ndarray, b8: np.ndarray, valid: np.ndarray | None, params: DetectParams
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Radiometric normalisation of ``b8`` to ``a8`` and sub-pixel co-registration.

    Args:
        a8: before ``(h, w, 3)`` uint8 RGB.
        b8: after ``(h, w, 3)`` uint8 RGB on the same grid.
        valid: pixels valid in both.
        params: method parameters.

    Returns:
        ``(a8, b8_matched_and_shifted, (dx, dy))``.
    """
    bm = align.match_histograms(b8, a8, valid)
    shift = (0.0, 0.0)
    if params.coregister:
        bm, shift = align.coregister(a8, bm, valid, max_shift=params.max_shift_px)
    return a8, bm, shift


def probability_in_blocks(
    a8: np.ndarray, b8: np.ndarray, cand: np.ndarray, model: Any, stats: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Run the costly stage only on blocks that hold candidate pixels.

    Args:
        a8: before ``(h, w, 3)`` uint8.
        b8: after ``(h, w, 3)`` uint8, matched to ``a8``.
        cand: bool ``(h, w)`` candidate pixels.
        model: pixel classifier.
        stats: cue statistics of the whole window (computed here when None).

    Returns:
        ``(prob, direction)`` float32 ``(h, w)`` maps (0 outside processed blocks).
    """
    h, w = cand.shape
    prob = np.zeros((h, w), np.float32)
    direction = np.zeros((h, w), np.float32)
    if not cand.any():
        return prob, direction
    if stats is None:
        stats = change.cue_stats(a8, b8)
    for y0 in range(0, h, BLOCK):
        for x0 in range(0, w, BLOCK):
            y1, x1 = min(y0 + BLOCK, h), min(x0 + BLOCK, w)
            c = cand[y0:y1, x0:x1]
            if not c.any():
                continue
            py0, px0 = max(0, y0 - PAD), max(0, x0 - PAD)
            py1, px1 = min(h, y1 + PAD), min(w, x1 + PAD)
            region = np.zeros((py1 - py0, px1 - px0), bool)
            inner = (slice(y0 - py0, y1 - py0), slice(x0 - px0, x1 - px0))
            region[inner] = c
            p, d = change.change_probability(
                a8[py0:py1, px0:px1].astype(np.float32), b8[py0:py1, px0:px1].astype(np.float32),
                model, region=region, stats=stats,
            )
            prob[y0:y1, x0:x1] = p[inner]
            direction[y0:y1, x0:x1] = d[inner]
    return prob, direction


def detect_window(
    a8: np.ndarray,
    b8: np.ndarray,
    valid: np.ndarray | None,
    params: DetectParams,
    scale: float = 1.0,
    min_area_px: int | None = None,
    model: Any = None,
) -> WindowOutput:
    """Detect changes in one window of a pair already on one grid.

    Args:
        a8: before ``(h, w, 3)`` uint8 RGB.
        b8: after ``(h, w, 3)`` uint8 RGB.
        valid: bool ``(h, w)`` valid in both (None = all).
        params: method parameters.
        scale: working resolution factor (< 1 shrinks fine imagery before the costly stage).
        min_area_px: smallest blob in native pixels (default ``params.min_area_px``).
        model: classifier (default: the committed model).

    Returns:
        A :class:`WindowOutput` on the native window grid.
    """
    if model is None:
        model = change.load_model(params.model_path)
    h, w = a8.shape[:2]
    a8, bm, shift = prepare_pair(a8, b8, valid, params)
    cand_small = change.candidate_mask(a8, bm, params.prefilter)
    if scale != 1.0:
        wh, ww = max(8, round(h * scale)), max(8, round(w * scale))
        a_w = cv2.resize(a8, (ww, wh), interpolation=cv2.INTER_AREA)
        b_w = cv2.resize(bm, (ww, wh), interpolation=cv2.INTER_AREA)
    else:
        wh, ww = h, w
        a_w, b_w = a8, bm
    cand = cv2.resize(cand_small.astype(np.uint8), (ww, wh), interpolation=cv2.INTER_NEAREST).astype(bool)
    if valid is not None and not valid.all():
        vw = cv2.resize(valid.astype(np.uint8), (ww, wh), interpolation=cv2.INTER_NEAREST).astype(bool)
        cand &= cv2.erode(vw.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    prob, direction = probability_in_blocks(a_w, b_w, cand, model)
    min_px = params.min_area_px if min_area_px is None else min_area_px
    mask, score = change.decide(
        prob, direction, threshold=params.threshold, seed_threshold=params.seed_threshold,
        blob_score=params.blob_score, min_area_px=max(1, round(min_px * scale * scale)), grow_steps=params.grow_steps,
    )
    if (wh, ww) != (h, w):
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
        score = cv2.resize(score, (w, h), interpolation=cv2.INTER_NEAREST)
    if valid is not None:
        mask[~valid] = 0
        score[~valid] = 0
    return WindowOutput(mask, score, shift, float(cand.mean()))
