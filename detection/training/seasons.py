"""Seasonal nuisances drawn onto training pairs: the same vegetation in another season.

Imagery of one place is often months apart (September and March in the district): lawns turn to
straw, plane-tree crowns to bare branches over the road below. None of that is a structure, but
the open labelled sets hold few such pairs, so a model trained on them alone reads "green turned
grey" as something built. Training can also see copies of its pairs in which the unchanged
vegetation of one date is drawn as in winter, with those pixels labelled unchanged
(:data:`detection.training.train.SEASON_NEGATIVES`; off, measured there: more precise on the open
sets' own tiles, fewer objects found on a set never seen).
"""

from __future__ import annotations

import cv2
import numpy as np

from detection import change

#: Excess green (:func:`detection.change.excess_green`) above which a pixel counts as vegetation.
VEGETATION_EXG = 0.03
#: Gaussian sigma (pixels) of the neighbourhood whose non-vegetation colour stands for the ground under
#: a crown.
GROUND_SIGMA = 12.0
#: Luminance weights (ITU-R BT.601) of R, G, B.
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def vegetation(rgb: np.ndarray) -> np.ndarray:
    """Bool ``(h, w)``: the vegetated pixels of an ``(h, w, 3)`` uint8 RGB image."""
    x = rgb.astype(np.float32)
    return np.asarray(change.excess_green(x[..., 0], x[..., 1], x[..., 2]) > VEGETATION_EXG)


def unchanged_vegetation(a: np.ndarray, b: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Bool ``(h, w)``: vegetation on both dates where nothing is labelled, without lone pixels."""
    m = vegetation(a) & vegetation(b) & ~label.astype(bool)
    return np.asarray(cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))) > 0


def winter(rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The image with its ``mask`` pixels drawn as vegetation in winter.

    Each pixel keeps its own texture (the local contrast of its luminance) but turns brown-grey,
    and the ground around the vegetation shows through (bare branches over a road, straw over
    soil); the edge is blended over 1.5 px. One random brightness, tint and see-through share per
    call.

    Args:
        rgb: ``(h, w, 3)`` uint8 RGB.
        mask: bool ``(h, w)`` pixels to redraw.
        rng: random generator (four draws: brightness, tint, lift, see-through).

    Returns:
        A new ``(h, w, 3)`` uint8 image; pixels farther than a few px from ``mask`` are unchanged.
    """
    x = rgb.astype(np.float32)
    lum = x @ _LUMA
    gain = rng.uniform(0.95, 1.5)
    tint = np.array([1.08, 1.0, 0.86], np.float32) * rng.uniform(0.95, 1.05, 3).astype(np.float32)
    bare = lum[..., None] * gain * tint + rng.uniform(5, 25)
    keep = (~mask).astype(np.float32)
    den = cv2.GaussianBlur(keep, (0, 0), GROUND_SIGMA) + 1e-3
    ground = cv2.GaussianBlur(x * keep[..., None], (0, 0), GROUND_SIGMA) / den[..., None]
    through = rng.uniform(0.35, 0.7)
    texture = lum - cv2.GaussianBlur(lum, (0, 0), 3)
    off = ground * (1 - through) + bare * through + texture[..., None] * 0.8
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.5)[..., None]
    return np.clip(x * (1 - soft) + off * soft, 0, 255).astype(np.uint8)
