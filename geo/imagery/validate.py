"""Validation of an uploaded GeoTIFF, before anything is stored.

The checks run cheapest first and refuse before any large allocation: the file name, the
size, the magic bytes, then the dimensions read from the TIFF header by a tiny parser of our
own (so a header claiming 10^6 × 10^6 px is refused before GDAL even opens it), then the
georeferencing, bands, pixel size, footprint and capture time from rasterio's metadata, and
last a streaming read of every block (corrupt compressed blocks, all-nodata imagery) that
holds one block in memory at a time.

Every refusal is an :class:`~geo.imagery.errors.ImageryError` naming the file and giving the
reason in Chinese and English.

The "footprint inside the district" rule uses ``Limits.district`` (a shapely geometry in
EPSG:4326). ``None`` disables it: callers load the district from the database with
:func:`geo.imagery.ingest.district_geometry`, tests pass their own.
"""

from __future__ import annotations

import math
import struct
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from pyproj import Geod
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.windows import Window
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from geo.imagery.errors import ImageryError

#: GDAL options for every open: no sidecar files (.aux.xml, .prj, .tfw) may add a CRS, and a
#: block cache of 64 MB (GDAL's default, 5 % of RAM, would keep 1.2 GB of a scanned file).
GDAL_ENV: dict[str, Any] = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GTIFF_REPORT_COMPD_CS": False,
                            "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif", "GDAL_CACHEMAX": 64}

SENSORS = ("drone", "satellite")
ALLOWED_SUFFIXES = (".tif", ".tiff")
_BAD_UNICODE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


@dataclass(frozen=True)
class Limits:
    """Configurable limits of the checks.

    Attributes:
        min_side_px: smallest width or height accepted.
        max_side_px: largest width or height accepted.
        max_pixels: largest width × height accepted.
        max_file_bytes: largest file accepted.
        resolution_m: per sensor, the (finest, coarsest) pixel size in metres.
        max_block_bytes: largest compressed block (tile or strip) once decoded; larger ones
            would need a large allocation to read.
        earliest: capture times before this are implausible.
        future_slack: capture times later than now + this are implausible.
        district: the district (EPSG:4326); the footprint must overlap it. None: no check.
        district_name_zh, district_name_en: how refusals name the district.
    """

    min_side_px: int = 64
    max_side_px: int = 200_000
    max_pixels: int = 4_000_000_000
    max_file_bytes: int = 30 * 2**30
    resolution_m: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"drone": (0.005, 1.0), "satellite": (0.1, 10.0)})
    max_block_bytes: int = 64 * 2**20
    earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    future_slack: timedelta = timedelta(days=1)
    district: BaseGeometry | None = None
    district_name_zh: str = "本区"
    district_name_en: str = "the district"


@dataclass(frozen=True)
class SceneInfo:
    """What validation learnt about a good file.

    Attributes:
        filename: the (checked) name the user gave.
        width, height: pixels.
        band_count: 3 or 4.
        dtype: ``uint8`` or ``uint16``.
        crs: the CRS as ``EPSG:n`` when it has a code, else WKT.
        resolution_m: mean pixel size in metres.
        footprint: the image outline in EPSG:4326.
        nodata: the nodata value, if any.
        size_bytes: file size.
    """

    filename: str
    width: int
    height: int
    band_count: int
    dtype: str
    crs: str
    resolution_m: float
    footprint: MultiPolygon
    nodata: float | None
    size_bytes: int


def _refuse(name: str, code: str, zh: str, en: str) -> ImageryError:
    return ImageryError(name, code, zh, en)


# ----------------------------------------------------------------------------- name
def check_filename(name: str) -> str:
    """Check the name a user gave a file; return it unchanged.

    Refuses path separators and ``..``, control and invisible format characters (bidi
    overrides, zero-width spaces), unassigned or private-use code points, names that are not
    NFC-normalised, hidden names, reserved device names and other suffixes than .tif/.tiff.
    Chinese names are fine.

    Raises:
        ImageryError: the name is unsafe.
    """
    shown = name.encode("unicode_escape").decode("ascii") if any(
        unicodedata.category(c) in _BAD_UNICODE_CATEGORIES for c in name) else name
    if not name or len(name) > 200:
        raise _refuse(shown or "(empty)", "bad_name", "文件名为空或超过 200 个字符",
                      "the file name is empty or longer than 200 characters")
    if "/" in name or "\\" in name or ".." in name or name.startswith("."):
        raise _refuse(shown, "bad_name", "文件名不得包含路径（/、\\、..）或以点开头",
                      "the file name must not contain a path (/, \\, ..) or start with a dot")
    bad = [c for c in name if unicodedata.category(c) in _BAD_UNICODE_CATEGORIES]
    if bad:
        codes = ", ".join(f"U+{ord(c):04X}" for c in bad[:5])
        raise _refuse(shown, "bad_name", f"文件名含有控制字符或不可见字符（{codes}）",
                      f"the file name contains control or invisible characters ({codes})")
    if unicodedata.normalize("NFC", name) != name:
        raise _refuse(shown, "bad_name", "文件名不是规范化（NFC）的 Unicode",
                      "the file name is not NFC-normalised Unicode")
    stem, _, suffix = name.rpartition(".")
    if "." + suffix.lower() not in ALLOWED_SUFFIXES or not stem.strip():
        raise _refuse(shown, "bad_suffix", "只接受 .tif / .tiff 文件", "only .tif / .tiff files are accepted")
    if stem.split(".")[0].upper() in _WINDOWS_RESERVED:
        raise _refuse(shown, "bad_name", "文件名是保留的设备名", "the file name is a reserved device name")
    return name


# ----------------------------------------------------------------------------- header
_MAGIC_OTHER = (
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"PK\x03\x04", "ZIP"), (b"PK\x05\x06", "ZIP"), (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"), (b"%PDF", "PDF"), (b"\x1f\x8b", "GZIP"), (b"Rar!", "RAR"), (b"7z\xbc\xaf", "7Z"),
)


@dataclass(frozen=True)
class TiffHeader:
    """The first image's dimensions, read straight from the TIFF header."""

    width: int
    height: int
    samples: int
    bits: int
    bigtiff: bool


def sniff_tiff_header(path: Path, name: str) -> TiffHeader:
    """Read the first IFD's dimensions with a few small reads (no GDAL, no allocation).

    Raises:
        ImageryError: not a TIFF (names PNG, ZIP, ... when recognised) or a truncated header.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(16)
        for magic, kind in _MAGIC_OTHER:
            if head.startswith(magic):
                raise _refuse(name, "not_tiff", f"这是 {kind} 文件，不是 GeoTIFF（扩展名被改过）",
                              f"this is a {kind} file renamed .tif, not a GeoTIFF")
        if head[:2] == b"II":
            bo = "<"
        elif head[:2] == b"MM":
            bo = ">"
        else:
            raise _refuse(name, "not_tiff", "不是 TIFF 文件（文件头不符）", "not a TIFF file (bad magic bytes)")
        if len(head) < 8:
            raise _refuse(name, "truncated", "TIFF 文件头不完整（文件被截断）", "the TIFF header is truncated")
        version = struct.unpack(bo + "H", head[2:4])[0]
        if version == 42:
            big, (ifd,) = False, struct.unpack(bo + "I", head[4:8])
        elif version == 43 and len(head) >= 16:
            big, (ifd,) = True, struct.unpack(bo + "Q", head[8:16])
        else:
            raise _refuse(name, "not_tiff", "不是 TIFF 文件（版本号不符）", "not a TIFF file (bad version number)")
        count_fmt, entry_size = ("Q", 20) if big else ("H", 12)
        count_size = 8 if big else 2
        if ifd < 8 or ifd + count_size > size:
            raise _refuse(name, "truncated", "TIFF 目录超出文件末尾（文件被截断）",
                          "the TIFF directory lies past the end of the file (truncated)")
        f.seek(ifd)
        (n,) = struct.unpack(bo + count_fmt, f.read(count_size))
        if n == 0 or n > 4096 or ifd + count_size + n * entry_size > size:
            raise _refuse(name, "truncated", "TIFF 目录不完整（文件被截断或损坏）",
                          "the TIFF directory is incomplete (truncated or corrupt)")
        raw = f.read(n * entry_size)
    tags: dict[int, int] = {}
    for i in range(n):
        entry = raw[i * entry_size:(i + 1) * entry_size]
        tag, typ = struct.unpack(bo + "HH", entry[:4])
        value = entry[12:] if big else entry[8:]
        if typ == 3:  # SHORT
            tags[tag] = struct.unpack(bo + "H", value[:2])[0]
        elif typ == 4:  # LONG
            tags[tag] = struct.unpack(bo + "I", value[:4])[0]
        elif typ == 16 and big:  # LONG8
            tags[tag] = struct.unpack(bo + "Q", value[:8])[0]
    if 256 not in tags or 257 not in tags:
        raise _refuse(name, "not_tiff", "TIFF 缺少图像宽度或高度", "the TIFF lacks an image width or height")
    return TiffHeader(width=tags[256], height=tags[257], samples=tags.get(277, 1), bits=tags.get(258, 8),
                      bigtiff=big)


def check_dimensions(name: str, width: int, height: int, limits: Limits) -> None:
    """Refuse dimensions outside the limits.

    Raises:
        ImageryError: too small or too large.
    """
    if width < limits.min_side_px or height < limits.min_side_px:
        raise _refuse(name, "too_small", f"图像只有 {width} × {height} 像素，至少需要 {limits.min_side_px} 像素见方",
                      f"the image is only {width} × {height} px; at least {limits.min_side_px} px a side is needed")
    if width > limits.max_side_px or height > limits.max_side_px or width * height > limits.max_pixels:
        raise _refuse(name, "too_large",
                      f"图像为 {width:,} × {height:,} 像素，超过上限"
                      f"（每边 {limits.max_side_px:,}，共 {limits.max_pixels:,} 像素）",
                      f"the image claims {width:,} × {height:,} px, over the limit "
                      f"({limits.max_side_px:,} a side, {limits.max_pixels:,} in all)")


# ----------------------------------------------------------------------------- metadata
def _crs_string(crs: rasterio.crs.CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def _resolution_m(ds: Any) -> float:
    t = ds.transform
    rx, ry = math.hypot(t.a, t.d), math.hypot(t.b, t.e)
    if ds.crs.is_geographic:
        lat = math.radians((ds.bounds.top + ds.bounds.bottom) / 2)
        return float((rx * 111_320 * math.cos(lat) + ry * 110_540) / 2)
    factor = ds.crs.linear_units_factor[1] if ds.crs.linear_units_factor else 1.0
    return float((rx + ry) / 2 * factor)


def footprint_wgs84(ds: Any) -> MultiPolygon:
    """The outline of a dataset's pixels in EPSG:4326 (edges densified, rotation honoured)."""
    from rasterio.warp import transform_geom

    t, w, h = ds.transform, ds.width, ds.height
    ring = Polygon([t @ (0, 0), t @ (w, 0), t @ (w, h), t @ (0, h)])
    ring = shapely.segmentize(ring, max_segment_length=max(ring.length / 400, 1e-9))
    geom = shape(transform_geom(ds.crs, "EPSG:4326", ring.__geo_interface__))
    geom = shapely.make_valid(geom)
    polys = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, Polygon)]
    return MultiPolygon(polys)


def distance_km(a: BaseGeometry, b: BaseGeometry) -> float:
    """Geodesic distance in km between the nearest points of two EPSG:4326 geometries."""
    pa, pb = nearest_points(a, b)
    _, _, metres = Geod(ellps="WGS84").inv(pa.x, pa.y, pb.x, pb.y)
    return float(metres) / 1000


def check_capture_time(name: str, captured_at: datetime | None, limits: Limits,
                       now: datetime | None = None) -> datetime:
    """Refuse a missing, naive or implausible capture time; return it in UTC.

    Raises:
        ImageryError: missing, without a time zone, too early or in the future.
    """
    if captured_at is None:
        raise _refuse(name, "no_capture_time", "缺少拍摄时间", "the capture time is missing")
    if captured_at.tzinfo is None:
        raise _refuse(name, "naive_time", "拍摄时间缺少时区（例如 +08:00）",
                      "the capture time has no time zone (e.g. +08:00)")
    now = now or datetime.now(UTC)
    if captured_at < limits.earliest or captured_at > now + limits.future_slack:
        raise _refuse(name, "implausible_time",
                      f"拍摄时间 {captured_at.isoformat()} 不合理（早于 {limits.earliest.date()} 或在未来）",
                      f"the capture time {captured_at.isoformat()} is implausible "
                      f"(before {limits.earliest.date()} or in the future)")
    return captured_at.astimezone(UTC)


def _check_metadata(ds: Any, name: str, sensor: str, limits: Limits) -> tuple[str, float, MultiPolygon]:
    if ds.crs is None:
        if ds.gcps[0]:
            raise _refuse(name, "gcps_only",
                          f"影像只有 {len(ds.gcps[0])} 个地面控制点（GCP），没有坐标变换；"
                          "请先正射校正（gdalwarp）再上传",
                          f"the image has only {len(ds.gcps[0])} ground control points (GCPs) and no geotransform; "
                          "orthorectify it (gdalwarp) before uploading")
        raise _refuse(name, "no_crs", "影像没有坐标参考系（CRS），无法定位",
                      "the image has no coordinate reference system (CRS)")
    if ds.transform.is_identity or ds.transform.determinant == 0:
        raise _refuse(name, "no_transform", "影像没有有效的地理变换（geotransform）",
                      "the image has no valid geotransform")
    if ds.count not in (3, 4):
        raise _refuse(name, "bands", f"影像有 {ds.count} 个波段，需要 3 个（RGB）或 4 个（RGBA/RGBN）",
                      f"the image has {ds.count} band(s); 3 (RGB) or 4 (RGBA/RGBN) are needed")
    dtypes = set(ds.dtypes)
    if not dtypes <= {"uint8", "uint16"} or len(dtypes) != 1:
        kinds = ", ".join(sorted(dtypes))
        raise _refuse(name, "dtype", f"像素类型为 {kinds}，只接受 8 位或 16 位无符号整数（浮点数据可能含 NaN）",
                      f"the pixel type is {kinds}; only 8- or 16-bit unsigned integers are accepted "
                      "(floating-point data may hold NaN)")
    res = _resolution_m(ds)
    lo, hi = limits.resolution_m[sensor]
    if not (lo <= res <= hi):
        raise _refuse(name, "resolution", f"像素大小 {res:.3g} 米超出{_SENSOR_ZH[sensor]}影像的范围 {lo}–{hi} 米",
                      f"the pixel size {res:.3g} m is outside the {sensor} range {lo}–{hi} m")
    try:
        foot = footprint_wgs84(ds)
    except Exception as exc:
        raise _refuse(name, "footprint", f"无法把影像范围转换到 WGS 84：{exc}",
                      f"the footprint cannot be transformed to WGS 84: {exc}") from exc
    if foot.is_empty or not foot.is_valid:
        raise _refuse(name, "footprint", "影像范围无效", "the image footprint is invalid")
    if limits.district is not None and not foot.intersects(limits.district):
        km = distance_km(foot, limits.district)
        raise _refuse(name, "outside_district",
                      f"影像范围距{limits.district_name_zh}约 {km:,.0f} 公里，不在辖区内",
                      f"the footprint is about {km:,.0f} km from {limits.district_name_en}, outside it")
    return _crs_string(ds.crs), res, foot


_SENSOR_ZH = {"drone": "无人机", "satellite": "卫星"}


# ----------------------------------------------------------------------------- pixels
def _windows(ds: Any) -> list[Window]:
    bh, bw = ds.block_shapes[0]
    if bw >= ds.width and bh < 256:  # strips: read bands of rows, not one row at a time
        rows = max(bh, (256 // bh) * bh)
        return [Window(0, r, ds.width, min(rows, ds.height - r)) for r in range(0, ds.height, rows)]
    return [w for _, w in ds.block_windows(1)]


def _check_pixels(ds: Any, name: str, limits: Limits, progress: Callable[[float], None] | None = None) -> None:
    bh, bw = ds.block_shapes[0]
    itemsize = np.dtype(ds.dtypes[0]).itemsize
    compressed = (ds.compression is not None)
    if compressed and bh * bw * ds.count * itemsize > limits.max_block_bytes:
        raise _refuse(name, "block_too_large",
                      f"压缩块为 {bw} × {bh} 像素，解压需要过多内存；请使用分块（tiled）GeoTIFF",
                      f"compressed blocks of {bw} × {bh} px would need too much memory to decode; use a tiled GeoTIFF")
    nodata = ds.nodata
    ci = list(ds.colorinterp)
    alpha = ci.index(rasterio.enums.ColorInterp.alpha) + 1 if rasterio.enums.ColorInterp.alpha in ci else None
    per_dataset_mask = all(rasterio.enums.MaskFlags.per_dataset in f for f in ds.mask_flag_enums) and alpha is None
    color = [i for i in range(1, ds.count + 1) if i != alpha][:3]
    any_valid = False
    lo_seen, hi_seen = math.inf, -math.inf
    windows = _windows(ds)
    for i, w in enumerate(windows):
        if progress and i % 16 == 0:
            progress(i / len(windows))
        try:
            data = ds.read(window=w)
            if per_dataset_mask:
                valid = ds.read_masks(1, window=w) > 0
            elif alpha is not None:
                valid = data[alpha - 1] > 0
            elif nodata is not None:
                valid = np.any(data != nodata, axis=0) if not math.isnan(nodata) else np.any(~np.isnan(data), axis=0)
            else:
                valid = None
        except (RasterioIOError, RasterioError) as exc:
            raise _refuse(name, "corrupt",
                          f"读取第 {int(w.row_off)} 行、第 {int(w.col_off)} 列处的数据块失败"
                          f"（文件损坏或被截断）：{exc}",
                          f"reading the block at row {int(w.row_off)}, column {int(w.col_off)} failed "
                          f"(corrupt or truncated file): {exc}") from exc
        rgb = data[[i - 1 for i in color]]
        if valid is None:
            any_valid = True
            lo_seen, hi_seen = min(lo_seen, float(rgb.min())), max(hi_seen, float(rgb.max()))
        elif valid.any():
            any_valid = True
            vals = rgb[:, valid]
            lo_seen, hi_seen = min(lo_seen, float(vals.min())), max(hi_seen, float(vals.max()))
    if not any_valid:
        raise _refuse(name, "all_nodata", "影像全部为无数据（nodata）像素", "every pixel of the image is nodata")
    if lo_seen == hi_seen:
        raise _refuse(name, "blank", f"影像所有像素值都相同（{lo_seen:g}），是空白图像",
                      f"every pixel has the same value ({lo_seen:g}): the image is blank")


# ----------------------------------------------------------------------------- entry
def validate_file(path: Path, name: str, sensor: str, captured_at: datetime | None,
                  limits: Limits | None = None, now: datetime | None = None,
                  progress: Callable[[float], None] | None = None) -> SceneInfo:
    """Run every check on the file at ``path`` that the user called ``name``.

    Args:
        path: where the bytes are (a temporary upload or a local file).
        name: the user's file name (shown in refusals, checked for safety).
        sensor: ``drone`` or ``satellite``.
        captured_at: the capture time (aware).
        limits: the limits; defaults to :class:`Limits` with no district check.
        now: the present, for tests.
        progress: called with the fraction of the pixel scan done.

    Returns:
        What the store and the database need to know about the image.

    Raises:
        ImageryError: the first rule the file breaks.
    """
    limits = limits or Limits()
    name = check_filename(name)
    if sensor not in SENSORS:
        raise _refuse(name, "sensor", f"传感器 '{sensor}' 无效，应为 drone 或 satellite",
                      f"sensor '{sensor}' is not drone or satellite")
    check_capture_time(name, captured_at, limits, now)
    size = path.stat().st_size
    if size == 0:
        raise _refuse(name, "empty", "文件为空（0 字节）", "the file is empty (0 bytes)")
    if size > limits.max_file_bytes:
        raise _refuse(name, "file_too_large", f"文件大小 {size:,} 字节超过上限 {limits.max_file_bytes:,}",
                      f"the file has {size:,} bytes, over the limit of {limits.max_file_bytes:,}")
    head = sniff_tiff_header(path, name)
    check_dimensions(name, head.width, head.height, limits)
    try:
        with rasterio.Env(**GDAL_ENV), rasterio.open(path) as ds:
            check_dimensions(name, ds.width, ds.height, limits)
            crs, res, foot = _check_metadata(ds, name, sensor, limits)
            _check_pixels(ds, name, limits, progress)
            return SceneInfo(filename=name, width=ds.width, height=ds.height, band_count=ds.count,
                             dtype=ds.dtypes[0], crs=crs, resolution_m=res, footprint=foot,
                             nodata=ds.nodata, size_bytes=size)
    except ImageryError:
        raise
    except (RasterioIOError, RasterioError) as exc:
        raise _refuse(name, "unreadable", f"rasterio 无法读取该文件（损坏或被截断）：{exc}",
                      f"rasterio cannot read the file (corrupt or truncated): {exc}") from exc
