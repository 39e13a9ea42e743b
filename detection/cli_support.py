"""The logic of ``python app.py detect``: run the pipeline on any pair without a database."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from detection import rasterio_io
from detection.errors import RegionsError, TileWriteError
from detection.mask_png import BinaryMaskPng
from detection.pipeline import check_pair, detect_files
from detection.types import LOOK_BACK_MARGIN_M, ChangeResult, DetectParams


@dataclass
class CliSummary:
    """What the command reports when it is done."""

    polygons: int
    appeared: int
    disappeared: int
    changed_fraction: float
    crs: str | None
    seconds: float


def _check_target(path: Path) -> None:
    folder = path.resolve().parent
    if not folder.is_dir():
        raise TileWriteError(f"{path}: 目录不存在 / folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise TileWriteError(f"{path}: 目录不可写 / folder {folder} is not writable")


def run_detect(
    before: str | os.PathLike[str],
    after: str | os.PathLike[str],
    mask_out: str | os.PathLike[str],
    geojson_out: str | os.PathLike[str] | None = None,
    params: DetectParams | None = None,
    progress: Callable[[float], None] | None = None,
    client: object = None,
    look_back: str | os.PathLike[str] | None = None,
) -> CliSummary:
    """Detect changes between two files and write a 0/255 mask PNG (and GeoJSON).

    Outputs are written under temporary names in their folders and renamed at the end, so a
    failure leaves nothing half-written.

    Args:
        before: earlier image (GeoTIFF, or PNG/JPEG when ``after`` is plain too).
        after: later image; the mask has its size.
        mask_out: single-band 0/255 PNG to write.
        geojson_out: optional GeoJSON of the polygons (in the CRS of ``after``, or pixel coordinates).
        params: method parameters.
        progress: called with the finished fraction.
        client: optional Dask client.
        look_back: optional GeoJSON of recorded violations (see :func:`read_regions`) inside
            which structures that vanished are looked for too.

    Returns:
        A :class:`CliSummary`.

    Raises:
        TileReadError: an input cannot be read.
        RegionsError: ``look_back`` cannot be read.
        GridMismatchError: the inputs cannot be compared.
        TileWriteError: an output cannot be written.
    """
    mask_path = Path(mask_out)
    geo_path = Path(geojson_out) if geojson_out else None
    for p in (mask_path, geo_path):
        if p is not None:
            _check_target(p)
    check_pair(before, after)
    regions = read_regions(look_back, after) if look_back else []
    tmp_dir = tempfile.mkdtemp(prefix=".detect-", dir=mask_path.resolve().parent)
    tmp_png = Path(tmp_dir) / "mask.png"
    tmp_geo = Path(tmp_dir) / "out.geojson"
    try:
        ai = rasterio_io.info(after)
        png = BinaryMaskPng(ai.width, ai.height)

        def sink(window: Window, block: np.ndarray) -> None:
            png.add(int(window.row_off), int(window.col_off), block)

        result: ChangeResult = detect_files(
            before, after, params, progress=progress, client=client, mask_sink=sink, keep_mask=False,
            look_back=regions,
        )
        png.write(tmp_png)
        if geo_path is not None:
            with open(tmp_geo, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(result.to_geojson(), ensure_ascii=False))  # one shot: the C encoder
        os.replace(tmp_png, mask_path)
        if geo_path is not None:
            os.replace(tmp_geo, geo_path)
    except OSError as exc:
        if isinstance(exc, TileWriteError) or getattr(exc, "filename", None) is None:
            raise
        raise TileWriteError(f"{exc.filename}: 无法写入 / cannot write ({exc.strerror})") from exc
    finally:
        for f in (tmp_png, tmp_geo):
            with suppress(OSError):
                f.unlink()
        with suppress(OSError):
            os.rmdir(tmp_dir)
    app = sum(1 for p in result.polygons if p.change == "appeared")
    return CliSummary(
        polygons=len(result.polygons), appeared=app, disappeared=len(result.polygons) - app,
        changed_fraction=png.changed / max(ai.width * ai.height, 1), crs=result.crs,
        seconds=result.stats.get("seconds", 0.0),
    )


def read_regions(path: str | os.PathLike[str], image: str | os.PathLike[str]) -> list[BaseGeometry]:
    """The polygons of a GeoJSON file on the grid of ``image``, each with a margin.

    Coordinates are longitude/latitude (RFC 7946) for a georeferenced image, and pixel
    coordinates (as ``detect`` writes them) for a plain one. Each polygon gets
    :data:`detection.types.LOOK_BACK_MARGIN_M` all round: metres on the ground at any latitude
    and in any CRS (pixels for a plain image).

    Raises:
        RegionsError: the file is missing, is not GeoJSON, or holds no polygon.
    """
    from shapely.geometry import shape

    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        feats = doc["features"] if doc.get("type") == "FeatureCollection" else [doc]
        geoms = [f.get("geometry") if f.get("type") == "Feature" else f for f in feats]
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as exc:
        raise RegionsError(f"{p}: 不是可读的 GeoJSON / not a readable GeoJSON file ({exc})") from exc
    polys = [g for g in geoms if isinstance(g, dict) and g.get("type") in ("Polygon", "MultiPolygon")]
    if not polys:
        raise RegionsError(f"{p}: 没有多边形 / holds no Polygon or MultiPolygon")
    info = rasterio_io.info(image)
    out: list[BaseGeometry] = []
    for i, g in enumerate(polys):
        try:
            geom: BaseGeometry
            if info.crs is None:
                geom = shape(g).buffer(LOOK_BACK_MARGIN_M)
            else:
                geom = _buffer_m(g, LOOK_BACK_MARGIN_M, info.crs)
        except (ValueError, TypeError, KeyError) as exc:
            raise RegionsError(f"{p}: 第 {i + 1} 个多边形无效 / polygon {i + 1} is invalid ({exc})") from exc
        out.append(geom)
    return out


def _buffer_m(lonlat: dict[str, Any], metres: float, crs: str) -> BaseGeometry:
    """A GeoJSON polygon in longitude/latitude grown by ``metres`` on the ground, in ``crs``.

    The buffer is drawn on a transverse Mercator centred on the polygon (scale error below 1e-6
    within a few kilometres of it), so it is as many metres east-west as north-south at any
    latitude, whatever the units of ``crs``.
    """
    from rasterio.warp import transform_geom
    from shapely.geometry import mapping, shape

    c = shape(lonlat).centroid
    local = f"+proj=tmerc +lat_0={c.y:.8f} +lon_0={c.x:.8f} +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"
    grown = shape(transform_geom("EPSG:4326", local, lonlat)).buffer(metres)
    return shape(transform_geom(local, crs, mapping(grown)))
