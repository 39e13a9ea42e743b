"""Accuracy measures for change masks (pure numpy/OpenCV)."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class Scores:
    """Pooled counts over a set of tiles; derived figures as properties."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    objects: int = 0
    objects_found: int = 0
    false_blobs: int = 0
    pixels: int = 0
    per_tile: dict[str, float] = field(default_factory=dict)

    def add(self, pred: np.ndarray, label: np.ndarray, name: str = "", hit_fraction: float = 0.3) -> None:
        """Add one tile.

        Args:
            pred: bool/0-255 predicted change mask.
            label: bool/0-255 labelled change mask.
            name: tile name (kept for a per-tile F1).
            hit_fraction: a labelled blob counts as found when this share of it is flagged; a
                predicted blob is false when less than this share of it is labelled change.
        """
        p = np.asarray(pred) > 0
        g = np.asarray(label) > 0
        tp = int((p & g).sum())
        fp = int((p & ~g).sum())
        fn = int((~p & g).sum())
        self.tp += tp
        self.fp += fp
        self.fn += fn
        self.tn += int((~p & ~g).sum())
        self.pixels += p.size
        n, lab = cv2.connectedComponents(g.astype(np.uint8), connectivity=8)
        if n > 1:
            cnt = np.bincount(lab.ravel(), minlength=n)
            hit = np.bincount(lab.ravel(), weights=p.ravel().astype(np.float64), minlength=n)
            self.objects += n - 1
            self.objects_found += int((hit[1:] >= hit_fraction * cnt[1:]).sum())
        n, lab = cv2.connectedComponents(p.astype(np.uint8), connectivity=8)
        if n > 1:
            cnt = np.bincount(lab.ravel(), minlength=n)
            hit = np.bincount(lab.ravel(), weights=g.ravel().astype(np.float64), minlength=n)
            self.false_blobs += int((hit[1:] < hit_fraction * cnt[1:]).sum())
        if name:
            self.per_tile[name] = 2 * tp / max(2 * tp + fp + fn, 1)

    @property
    def precision(self) -> float:
        """Change-class precision."""
        return self.tp / max(self.tp + self.fp, 1)

    @property
    def recall(self) -> float:
        """Change-class recall."""
        return self.tp / max(self.tp + self.fn, 1)

    @property
    def f1(self) -> float:
        """Change-class F1."""
        return 2 * self.tp / max(2 * self.tp + self.fp + self.fn, 1)

    @property
    def iou(self) -> float:
        """Change-class intersection over union."""
        return self.tp / max(self.tp + self.fp + self.fn, 1)

    @property
    def object_recall(self) -> float:
        """Share of labelled blobs found."""
        return self.objects_found / max(self.objects, 1)

    @property
    def false_blobs_per_mpx(self) -> float:
        """False predicted blobs per megapixel."""
        return self.false_blobs / max(self.pixels / 1e6, 1e-9)

    def row(self) -> dict[str, float]:
        """The figures as a dict."""
        return {
            "precision": self.precision, "recall": self.recall, "f1": self.f1, "iou": self.iou,
            "object_recall": self.object_recall, "false_blobs_per_mpx": self.false_blobs_per_mpx,
        }


def cva_baseline(a8: np.ndarray, b8: np.ndarray) -> np.ndarray:
    """The plain baseline: change vector analysis in Lab, Otsu threshold, 5x5 opening.

    Args:
        a8: before ``(h, w, 3)`` uint8 (RGB or BGR, consistently).
        b8: after image.

    Returns:
        ``(h, w)`` uint8 0/255 mask.
    """
    la = cv2.cvtColor(a8, cv2.COLOR_RGB2Lab).astype(np.float32)
    lb = cv2.cvtColor(b8, cv2.COLOR_RGB2Lab).astype(np.float32)
    mag = np.sqrt(((la - lb) ** 2).sum(axis=2))
    span = float(mag.max() - mag.min()) or 1.0
    m8 = ((mag - mag.min()) * (255.0 / span)).astype(np.uint8)
    _, th = cv2.threshold(m8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return cv2.morphologyEx(th, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
