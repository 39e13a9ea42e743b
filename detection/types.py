"""Typed data objects: pixels never travel without their location."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from affine import Affine
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

ChangeKind = Literal["appeared", "disappeared"]

#: Mask value of a pixel where a structure appeared.
APPEARED = 1
#: Mask value of a pixel where a structure disappeared.
DISAPPEARED = 2
#: Margin around a recorded violation within which a vanished structure is looked for, metres
#: (records are drawn by hand and the imagery is co-registered to a metre or two).
LOOK_BACK_MARGIN_M = 2.0


@dataclass(frozen=True)
class ImageData:
    """An image with its location.

    Attributes:
        array: pixel values, shape ``(bands, height, width)``.
        transform: affine transform from pixel (col, row) to CRS (x, y); identity for plain images.
        crs: the CRS as a string (e.g. ``"EPSG:32651"``) or ``None`` for pixel-only images.
        valid: boolean mask ``(height, width)``, True where data is valid.
    """

    array: np.ndarray
    transform: Affine = field(default_factory=Affine.identity)
    crs: str | None = None
    valid: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"ImageData.array must be (bands, h, w), got shape {self.array.shape}")
        if self.valid is not None and self.valid.shape != self.array.shape[1:]:
            raise ValueError("ImageData.valid must have the array's (h, w) shape")

    @property
    def height(self) -> int:
        """Number of rows."""
        return int(self.array.shape[1])

    @property
    def width(self) -> int:
        """Number of columns."""
        return int(self.array.shape[2])

    @property
    def count(self) -> int:
        """Number of bands."""
        return int(self.array.shape[0])

    @property
    def pixel_size(self) -> float | None:
        """Ground size of one pixel in CRS units (metres for projected CRS), None without CRS."""
        if self.crs is None:
            return None
        return float((abs(self.transform.a) * abs(self.transform.e)) ** 0.5)

    @property
    def valid_mask(self) -> np.ndarray:
        """The valid-data mask, all True when none was given."""
        if self.valid is None:
            return np.ones((self.height, self.width), dtype=bool)
        return self.valid

    @classmethod
    def from_hwc(cls, image: np.ndarray, **kwargs: Any) -> ImageData:
        """Build from an OpenCV-style ``(h, w, bands)`` or ``(h, w)`` array (RGB order expected)."""
        if image.ndim == 2:
            image = image[:, :, None]
        return cls(array=np.ascontiguousarray(np.moveaxis(image, -1, 0)), **kwargs)


@dataclass(frozen=True)
class ChangePolygon:
    """One detected change.

    Attributes:
        geometry: polygon in the image CRS (pixel coordinates when the image has no CRS).
        change: ``"appeared"`` (new structure) or ``"disappeared"`` (demolition).
        area_m2: ground area in square metres, None for pixel-only images.
        score: confidence in 0..1.
        crs: the CRS of ``geometry`` or None (pixel coordinates).
    """

    geometry: BaseGeometry
    change: ChangeKind
    area_m2: float | None
    score: float
    crs: str | None = None

    def to_feature(self) -> dict[str, Any]:
        """GeoJSON Feature dict."""
        return {
            "type": "Feature",
            "geometry": mapping(self.geometry),
            "properties": {
                "change": self.change,
                "area_m2": None if self.area_m2 is None else round(self.area_m2, 2),
                "score": round(self.score, 4),
            },
        }


@dataclass
class ChangeResult:
    """The output of a detection run.

    Attributes:
        mask: ``(h, w)`` uint8 with 0 = no change, 1 = appeared, 2 = disappeared, on the AFTER grid;
            None when the mask was streamed to ``mask_path`` instead (large rasters).
        polygons: the change polygons.
        transform: transform of the mask grid.
        crs: CRS of the mask grid and polygons.
        mask_path: file holding the mask when it was written to disk.
        shape: ``(h, w)`` of the mask grid.
        stats: timings and counters for diagnostics.
    """

    mask: np.ndarray | None
    polygons: list[ChangePolygon]
    transform: Affine = field(default_factory=Affine.identity)
    crs: str | None = None
    mask_path: Path | None = None
    shape: tuple[int, int] = (0, 0)
    stats: dict[str, float] = field(default_factory=dict)

    def binary_mask(self) -> np.ndarray:
        """The in-memory mask as 0/255 uint8 (any change)."""
        if self.mask is None:
            raise ValueError("the mask was streamed to disk; read mask_path instead")
        return np.where(self.mask > 0, 255, 0).astype(np.uint8)

    def to_geojson(self) -> dict[str, Any]:
        """A GeoJSON FeatureCollection of the polygons (CRS named in a ``crs`` member when known)."""
        fc: dict[str, Any] = {"type": "FeatureCollection", "features": [p.to_feature() for p in self.polygons]}
        if self.crs:
            fc["crs"] = {"type": "name", "properties": {"name": self.crs}}
        return fc


@dataclass(frozen=True)
class DetectParams:
    """Parameters of the method; defaults are meant for structures in general, not any one tile.

    Attributes:
        min_area_m2: smallest polygon kept, square metres (used when the CRS is known).
        min_area_px: smallest polygon kept, pixels at working resolution (pixel-only images).
        work_gsd_m: imagery finer than this (metres/pixel) is resampled to it for the costly
            stage; None to always work at native resolution. 0.3 m puts the smallest structure
            kept (``min_area_m2``, 5 m²) on about 55 working pixels, what the 7-15 px cues
            resolve; at 0.5 m it was 20. Held out tile by tile, every open set lost object recall
            when worked coarser than its native grid (at 0.6 of it: levir .855 -> .745, dsifn
            .738 -> .569, levir_tiles .978 -> .945, egy .895 -> .868). On the 0.2 m drone tiles
            of ``sample_tiles/`` (the project's own, synthetic) 0.3 found 19 of the 23 changes
            instead of 10 (0.25: as many, with 30 instead of 13 false blobs per Mpx; 0.4: 12).
            It costs drone imagery (0.5 / 0.3)² = 2.8x the costly stage's pixels per m².
        threshold: probability above which a pixel may join a neighbouring seed.
        seed_threshold: probability of seed pixels.
        blob_score: a blob is kept only if its mean probability reaches this.
        prior_reference: share of changed pixels the model's probabilities are calibrated for
            (about the share of change in its training sample).
        prior_gamma: how strongly a window's own estimated share of change moves its
            probabilities (0: not at all; 1: a full Bayes prior correction). Held out tile by
            tile, 1.3-2.0 raised levir_tiles F1 (.417 -> .445-.472) and dsifn object recall (.74
            -> .77-.79) but lowered levir F1 (.482 -> .472-.446) and egy's (.740 -> .729-.694).
        prior_floor: the estimated share of change never goes below this (a window with next
            to no candidates keeps its clear changes).
        predict_stride: the model is evaluated on every ``predict_stride``-th candidate pixel of
            each row and column (plus candidates with no such pixel near); the others get the
            mean of their evaluated neighbours. 3 costs a ninth of the predictions and scored
            the same held out as every candidate evaluated at 2 (F1 within .002, object recall
            within .01 on each open set). 4 (a sixteenth, 8 % less detect time on the 10k speed
            pair) moved held-out F1 within .003 tile by tile and .005 set by set, but lost a
            76 m² rooftop addition of the sample tiles (object recall .826 -> .783): not taken.
            1 evaluates every candidate.
        both_ways: the model also scores each pixel with the dates swapped, the larger
            probability counts and says which way the change went (as it does everywhere inside
            the ``look_back`` regions of :func:`detection.pipeline.detect_files`). Off: on the
            generated speed pair it finds 55 % of the demolished roofs instead of none (object
            recall .58 -> .76), but held out tile by tile the open sets' precision collapses
            (levir .34 -> .20, levir_tiles .27 -> .06: bare ground covered by grass looks like a
            roof removed); discounting the reverse odds (x0.3, x0.1) lost the demolitions first.
        smooth_radius: radius (working pixels) of the guided filter that spreads the probability
            within regions of homogeneous brightness of the after image; 0 turns it off.
        smooth_eps: edge sensitivity of that filter (lightness variance, 0..1 scale).
        grow_steps: 1-px steps a seed may grow into pixels above ``threshold``.
        vegetation_veto: level of :func:`detection.change.excess_green` above which a pixel of the
            after image as captured (before radiometric matching) is vegetation, and so no structure
            that appeared: its probability is set to 0 before and after the smoothing, except where
            the model looks back and finds a structure vanished (demolished ground is often grass).
            New estates are flagged with their lawns and verges; the labels mark the houses. Held
            out tile by tile (the same 35 models), F1 rose on every open set (levir .477 -> .517,
            levir_tiles .413 -> .507, dsifn .580 -> .583, egy .744 -> .758; object recall levir .855
            -> .845, the others the same), and set by set (levir .449 -> .488, levir_tiles .138 ->
            .212, dsifn .521 -> .520, egy .714 -> .721; levir object recall .809 -> .782, false
            blobs 36 -> 42 per Mpx); on the generated speed pair pixel precision rose .38 -> .65 and
            new-building recall .878 -> .898. 0.05 was the first level tried; 0.04 lost object
            recall (levir .845 -> .736, dsifn .800 -> .769), 0.06 half the levir_tiles gain (.478).
            Vetoing only where the cue evidence of the pixel itself says "appeared" gave less (levir
            .502, levir_tiles .508) and kept the lawns of an estate whose after image, matched to
            bare ground, looks like soil. Matched colours in place of captured ones lost dsifn
            recall (.73 -> .67: an urban after image matched to a green before one has green roofs).
            A roof painted vegetation green or teal is missed (a teal one the model finds without the
            veto; ``python app.py detect --keep-vegetation``); None turns the veto off.
        prefilter: lowest level of the cheap first stage (0..255 scale, range test at 1/4
            resolution, raised by the window's own difference spread); blocks below it
            everywhere are skipped.
        candidate_dilate: side (first-stage cells, 4 native pixels each) of the disc the first
            stage's candidates are dilated by before the costly stage scores them. Held out tile
            by tile, 5 (half the candidates of the speed pair) lost object recall (dsifn .74 ->
            .57, levir .86 -> .76) and 7 still some (dsifn .65). Wider discs find changes of the
            Chinese set whose own first-stage response is too weak but which lie beside other
            changes: at 15 (60 native pixels), held out tile by tile, dsifn object recall .738 ->
            .800 (F1 .579 -> .576) and egy's .895 -> .921 (F1 .740 -> .747); 11 and 13 stopped at
            .785. Not taken: at 15 the LEVIR sets lost F1 (levir .482 -> .473, levir_tiles .417 ->
            .409), and the generated speed pair doubled its candidates (1.7 % -> 3.6 % of its
            pixels), lost pixel precision (.42 -> .31, false blobs 1.2 -> 2.3 per Mpx) and over a
            quarter of its speed (5k pair in one process: 15 instead of 21 Mpx/s). With the
            vegetation veto, 7 (or 13 around large groups) still lost dsifn object recall (.800 ->
            .769).
        candidate_cluster_cells: candidate groups of at least this many first-stage cells (before
            dilation; 30 cells are 480 native pixels) are dilated by ``candidate_cluster_dilate``
            instead: around a changed area the size of a building site the weak changes beside it
            are looked at too, while lone small candidates keep the narrow disc. Held out tile by
            tile, against every group at 9: dsifn object recall .738 -> .800 (F1 .579 -> .580,
            false blobs 29.0 -> 27.5 per Mpx), egy .895 -> .921 (F1 .740 -> .744), levir F1 .482
            -> .477 and levir_tiles .417 -> .413 (object recall unchanged); on the 5k speed pair
            the same 106 polygons and new-building recall (.878), pixel precision .42 -> .38, with
            2.2 % instead of 1.7 % of its pixels candidates (about 8 % more time). 20 cells gave
            the same on dsifn for 2.6 %; 50 cells .769. 0 turns it off.
        candidate_cluster_dilate: side (cells) of the disc those groups are dilated by.
        window: window size in pixels for file processing.
        overlap: window overlap in pixels (context for filters; seams merged).
        coregister: estimate a sub-pixel shift per window with phase correlation.
        max_shift_px: shifts larger than this are ignored as implausible.
        simplify_px: polygon simplification tolerance in pixels.
        model_path: path of the learned model; None for the committed default.
    """

    min_area_m2: float = 5.0
    min_area_px: int = 40
    work_gsd_m: float | None = 0.3
    threshold: float = 0.1
    seed_threshold: float = 0.25
    blob_score: float = 0.25
    prior_reference: float = 0.15
    prior_gamma: float = 1.0
    prior_floor: float = 0.02
    predict_stride: int = 3
    both_ways: bool = False
    smooth_radius: int = 8
    smooth_eps: float = 0.01
    grow_steps: int = 4
    vegetation_veto: float | None = 0.05
    prefilter: float = 2.0
    candidate_dilate: int = 9
    candidate_cluster_cells: int = 30
    candidate_cluster_dilate: int = 15
    window: int = 2048
    overlap: int = 64
    coregister: bool = True
    max_shift_px: float = 8.0
    simplify_px: float = 1.0
    model_path: str | None = None
