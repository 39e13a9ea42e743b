"""The logic of ``python app.py detect``: run the pipeline on any pair without a database."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from detection import rasterio_io
from detection.errors import TileWriteError
from detection.pipeline import check_pair, detect_files
from detection.types import ChangeResult, DetectParams


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

    Returns:
        A :class:`CliSummary`.

    Raises:
        TileReadError: an input cannot be read.
        GridMismatchError: the inputs cannot be compared.
        TileWriteError: an output cannot be written.
    """
    mask_path = Path(mask_out)
    geo_path = Path(geojson_out) if geojson_out else None
    for p in (mask_path, geo_path):
        if p is not None:
            _check_target(p)
    check_pair(before, after)
    tmp_dir = tempfile.mkdtemp(prefix=".detect-", dir=mask_path.resolve().parent)
    tmp_tif = Path(tmp_dir) / "mask.tif"
    tmp_png = Path(tmp_dir) / "mask.png"
    tmp_geo = Path(tmp_dir) / "out.geojson"
    try:
        ai = rasterio_io.info(after)
        counts = [0]
        with rasterio_io.MaskWriter(tmp_tif, ai.width, ai.height, ai.transform, ai.crs) as writer:

            def sink(window: object, block: object) -> None:
                import numpy as np

                arr = np.asarray(block)
                counts[0] += int((arr > 0).sum())
                writer.write(window, np.where(arr > 0, 255, 0).astype(np.uint8))  # type: ignore[arg-type]

            result: ChangeResult = detect_files(
                before, after, params, progress=progress, client=client, mask_sink=sink, keep_mask=False
            )
        rasterio_io.copy_to_png(tmp_tif, tmp_png)
        if geo_path is not None:
            with open(tmp_geo, "w", encoding="utf-8") as fh:
                json.dump(result.to_geojson(), fh, ensure_ascii=False)
        os.replace(tmp_png, mask_path)
        if geo_path is not None:
            os.replace(tmp_geo, geo_path)
    except OSError as exc:
        if isinstance(exc, TileWriteError) or getattr(exc, "filename", None) is None:
            raise
        raise TileWriteError(f"{exc.filename}: 无法写入 / cannot write ({exc.strerror})") from exc
    finally:
        for f in (tmp_tif, tmp_png, tmp_geo, Path(f"{tmp_png}.aux.xml")):
            with suppress(OSError):
                f.unlink()
        with suppress(OSError):
            os.rmdir(tmp_dir)
    app = sum(1 for p in result.polygons if p.change == "appeared")
    return CliSummary(
        polygons=len(result.polygons), appeared=app, disappeared=len(result.polygons) - app,
        changed_fraction=counts[0] / max(ai.width * ai.height, 1), crs=result.crs,
        seconds=result.stats.get("seconds", 0.0),
    )
