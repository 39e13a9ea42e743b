"""The fast path of detection/: candidate boxes, one-resampling alignment, direct reads, mask PNG."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window
from shapely import normalize

from detection import align, change, core, rasterio_io
from detection.mask_png import BinaryMaskPng
from detection.types import APPEARED, DISAPPEARED, ChangePolygon, DetectParams
from detection.vectorize import vectorize, vectorize_pieces

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NAIP_2020 = DATA / "aerial" / "m_4709963_se_14_1_20200831.tif"


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.uniform(0, 255, (h // 8, w // 8, 3)).astype(np.float32), (w, h))
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def _roofs_scene() -> tuple[core.Aligned, DetectParams]:
    """New roofs on a textured ground, one at the window edge and one bigger than a 96 px tile,
    with decisions loose enough for several patches."""
    a8 = _texture(600, 520, seed=1)
    b8 = a8.copy()
    for y, x, h, w, tone in ((40, 60, 30, 40, 220), (300, 0, 25, 35, 200), (380, 250, 150, 200, 235),
                             (120, 400, 20, 20, 180)):
        b8[y : y + h, x : x + w] = (tone, tone, tone + 10)
        b8[y + h : y + h + 4, x : x + w] //= 3  # its shadow
    params = DetectParams(threshold=0.05, seed_threshold=0.12, blob_score=0.12)
    return core.align_pair(a8, b8, params), params


def test_costly_stage_on_candidate_boxes_equals_whole_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # new roofs on a textured ground, one at the window edge and one bigger than a tile (small
    # tiles, so that it is scored in several pieces)
    monkeypatch.setattr(core, "TILE", 96)
    monkeypatch.setattr(core, "EDGE_PAD", core.PAD)  # the whole reach at the boxes' edges too
    al, params = _roofs_scene()
    model = change.load_model()
    out = core.detect_aligned(al, params, min_area_px=40, model=model)
    assert len(out.patches) >= 2 and out.mask.any()
    # reference: the costly stage, the prior correction, the smoothing and the blob decisions, each
    # on the whole window
    h, w = al.a.shape[:2]
    ra = cv2.resize(al.a, (-(-w // 4), -(-h // 4)), interpolation=cv2.INTER_AREA)
    rb = cv2.resize(al.b, (-(-w // 4), -(-h // 4)), interpolation=cv2.INTER_AREA)
    cells = change.candidate_mask(ra, rb, params.prefilter, factor=1).astype(np.uint8)
    cand = cv2.resize(cells, (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    assert params.predict_stride > 1  # the sparse evaluation is part of what is compared
    scored = change.sparse_pixels(cand, params.predict_stride)
    prob, direction = change.change_probability(
        al.a.astype(np.float32), al.b.astype(np.float32), model, region=scored,
        stats=change.cue_stats(al.a, al.b, reduced=(ra, rb)),
    )
    prob = change.fill_sparse(prob, scored, cand, params.predict_stride)
    factor = change.prior_factor(float(prob.sum(dtype=np.float64)) / (h * w), params.prior_reference,
                                 params.prior_gamma, params.prior_floor)
    assert factor != 1.0  # the prior correction is part of what is compared
    veto = change.vegetated(al.after_captured, params.vegetation_veto)
    assert (veto & cand).any()  # and so is the vegetation veto
    prob = core.refine(prob, core.lightness(al.b), factor, params, veto)
    mask, score = change.decide(
        prob, direction, threshold=params.threshold, seed_threshold=params.seed_threshold,
        blob_score=params.blob_score, min_area_px=40, grow_steps=params.grow_steps,
    )
    assert np.array_equal(out.mask, mask)
    assert np.allclose(out.score, score, atol=1e-4)
    assert out.candidate_fraction == pytest.approx(cand.mean())
    # patches never overlap
    cover = np.zeros((h, w), np.int32)
    for p in out.patches:
        cover[p.row : p.row + p.mask.shape[0], p.col : p.col + p.mask.shape[1]] += 1
    assert cover.max() == 1


def test_short_context_at_box_edges_computes_fewer_feature_pixels_for_almost_the_same_mask(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(core, "TILE", 96)
    al, params = _roofs_scene()
    model = change.load_model()
    crop_px: list[int] = []
    features = change.region_features

    def counted(a: np.ndarray, *args: object, **kwargs: object) -> object:
        crop_px.append(a.shape[0] * a.shape[1])
        return features(a, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(change, "region_features", counted)
    assert core.EDGE_PAD < core.PAD
    short = core.detect_aligned(al, params, min_area_px=40, model=model)
    short_px = sum(crop_px)
    crop_px.clear()
    monkeypatch.setattr(core, "EDGE_PAD", core.PAD)
    full = core.detect_aligned(al, params, min_area_px=40, model=model)
    assert short_px < 0.9 * sum(crop_px)
    # the same blobs, their outlines within a few per cent of their pixels
    a, b = short.mask > 0, full.mask > 0
    assert cv2.connectedComponents(a.astype(np.uint8))[0] == cv2.connectedComponents(b.astype(np.uint8))[0]
    assert np.count_nonzero(a != b) <= 0.05 * np.count_nonzero(b)


def test_smoothing_and_decisions_run_on_the_part_of_a_box_they_can_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    al, params = _roofs_scene()
    model = change.load_model()
    seen: dict[str, int] = {"refine": 0, "decide": 0}
    refine, decide = core.refine, change.decide

    def counted_refine(prob: np.ndarray, *args: object, **kwargs: object) -> np.ndarray:
        seen["refine"] += prob.size
        return refine(prob, *args, **kwargs)  # type: ignore[arg-type]

    def counted_decide(prob: np.ndarray, *args: object, **kwargs: object) -> tuple[np.ndarray, np.ndarray]:
        seen["decide"] += prob.size
        return decide(prob, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(core, "refine", counted_refine)
    monkeypatch.setattr(change, "decide", counted_decide)
    tight = core.detect_aligned(al, params, min_area_px=40, model=model)
    tight_px = dict(seen)
    seen.update(refine=0, decide=0)
    bounds = core._bounds
    monkeypatch.setattr(core, "_bounds", lambda m, pad: bounds(m, 10_000))  # each step on its whole box
    whole = core.detect_aligned(al, params, min_area_px=40, model=model)
    assert tight_px["refine"] < 0.95 * seen["refine"] and tight_px["decide"] < 0.5 * seen["decide"]
    assert len(tight.patches) >= 2
    assert np.array_equal(tight.mask, whole.mask)
    assert np.array_equal(tight.score, whole.score)


def test_compiled_forest_gives_predict_proba_on_the_scored_pixels_only() -> None:
    # a real pair: its features cover the model's whole value range, not just synthetic texture
    levir = DATA / "changedet" / "levir"
    name = sorted((levir / "label").glob("*.png"))[0].name
    a = cv2.cvtColor(cv2.imread(str(levir / "A" / name)), cv2.COLOR_BGR2RGB)[:200, :240].astype(np.float32)
    b = cv2.cvtColor(cv2.imread(str(levir / "B" / name)), cv2.COLOR_BGR2RGB)[:200, :240].astype(np.float32)
    model = change.load_model()
    assert change._forest(model) is not None  # the fast path is the one tested
    f = change.pair_features(a, b)
    flat = f.reshape(-1, f.shape[2])
    expected = model.predict_proba(flat)[:, 1].reshape(200, 240)
    assert np.allclose(change.predict_change(model, flat).reshape(200, 240), expected, atol=1e-6)
    # exactly the same numbers, missing values included, and with the dates swapped
    holed = flat.copy()
    holed[::7, ::5] = np.nan
    assert np.array_equal(change.predict_change(model, holed), model.predict_proba(holed)[:, 1].astype(np.float32))
    order, sign = change._REVERSAL
    swapped = model.predict_proba(np.asarray(flat[:, order] * sign, np.float32))[:, 1].astype(np.float32)
    assert np.array_equal(change.predict_reversed(model, flat), swapped)
    assert not np.allclose(swapped, expected.ravel(), atol=0.05)  # the swap asks something else
    assert expected.std() > 0.05  # a map with changed and unchanged parts, not a constant
    region = np.zeros((200, 240), bool)
    region[30:150, 10:200] = True
    region[160:, 220:] = True
    idx, x, _ = change.region_features(a, b, region)
    # the gathered rows are the stack's (to OpenCV's last bit, see the cue statistics test)
    assert x.shape == (idx.size, flat.shape[1]) and np.allclose(x, flat[idx], rtol=1e-6, atol=1e-5)
    prob, direction = change.change_probability(a, b, model, region=region)
    assert np.allclose(prob[region], expected[region], atol=1e-6)
    assert not prob[~region].any()
    names = change.feature_names()
    assert np.allclose(direction, f[:, :, names.index("up9")] - f[:, :, names.index("down9")])


def test_split_values_rounded_down_to_float32_keep_every_comparison() -> None:
    from detection.forest import round_down_f32

    t = np.array([0.1, -0.1, 1 / 3, 2.5, -7.25, 1e-9, np.inf, -np.inf])
    t32 = round_down_f32(t)
    assert t32.dtype == np.float32 and np.all(t32.astype(np.float64) <= t)
    # a float32 either side of each split value compares the same against both
    for x in np.concatenate([t32, np.nextafter(t32, np.float32(np.inf)), np.nextafter(t32, np.float32(-np.inf))]):
        assert np.array_equal(np.float64(x) <= t, x <= t32)
    assert t32[0] < np.float32(0.1)  # 0.1 rounds up to float32, so it is moved down one step
    assert t32[3] == np.float32(2.5)  # exact values stay


def test_features_of_a_crop_with_context_equal_the_whole_image_features() -> None:
    a = _texture(240, 260, seed=5).astype(np.float32)
    b = _texture(240, 260, seed=6).astype(np.float32)
    stats = change.cue_stats(a, b)
    whole = change.pair_features(a, b, stats)
    r = change.CONTEXT_PX
    y0, y1, x0, x1 = 90, 130, 100, 150
    crop = change.pair_features(a[y0 - r : y1 + r, x0 - r : x1 + r], b[y0 - r : y1 + r, x0 - r : x1 + r], stats)
    assert np.allclose(crop[r:-r, r:-r], whole[y0:y1, x0:x1], atol=1e-4)
    # and less context is not enough: the claim above is not vacuous
    q = r - 4
    short = change.pair_features(a[y0 - q : y1 + q, x0 - q : x1 + q], b[y0 - q : y1 + q, x0 - q : x1 + q], stats)
    assert not np.allclose(short[q:-q, q:-q], whole[y0:y1, x0:x1], atol=1e-4)


def test_sparse_evaluation_reaches_every_candidate_and_fills_with_neighbour_means() -> None:
    region = np.zeros((40, 50), bool)
    region[5:30, 4:40] = True
    region[32, 10:45] = True  # a one-pixel line on an even row: off the grid
    region[0, 49] = True  # a lone pixel in a corner
    scored = change.sparse_pixels(region, 2, origin=(1, 0))
    assert not (scored & ~region).any()
    assert scored[32, 10:45].all() and scored[0, 49]  # no grid pixel near: evaluated themselves
    assert scored[5, 4] and not scored[6, 4] and not scored[5, 5]  # the window's grid: odd rows here
    assert 0.2 < scored[5:30, 4:40].mean() < 0.3  # about a quarter of a solid area
    prob = np.where(scored, np.random.default_rng(0).uniform(0, 1, region.shape), 0).astype(np.float32)
    filled = change.fill_sparse(prob, scored, region, 2)
    assert np.array_equal(filled[scored], prob[scored]) and not filled[~region].any()
    # a pixel between two scored ones on its row gets their mean
    assert filled[5, 5] == pytest.approx((prob[5, 4] + prob[5, 6]) / 2)
    # one off the grid in both directions: the mean of its four scored corners
    assert filled[6, 5] == pytest.approx(prob[[5, 5, 7, 7], [4, 6, 4, 6]].mean())
    assert change.sparse_pixels(region, 1) is region and change.fill_sparse(prob, region, region, 1) is prob


def test_candidate_boxes_are_disjoint_and_hold_every_candidate() -> None:
    cells = np.zeros((40, 50), np.uint8)
    cells[2:5, 2:5] = 1
    cells[6:8, 6:9] = 1  # close to the first: one box
    cells[20:22, 30:45] = 1
    cells[25:38, 44:46] = 1  # an L with the previous one's box
    cells[39, 0] = 1  # at the grid's corner
    boxes = core.candidate_boxes(cells, (160, 200))
    cand = cv2.resize(cells, (200, 160), interpolation=cv2.INTER_NEAREST)
    inside = np.zeros_like(cand)
    for i, (y0, y1, x0, x1) in enumerate(boxes):
        assert 0 <= y0 < y1 <= 160 and 0 <= x0 < x1 <= 200
        inside[y0:y1, x0:x1] += 1
        for y2, y3, x2, x3 in boxes[i + 1 :]:
            assert y1 < y2 or y3 < y0 or x1 < x2 or x3 < x0  # apart by at least a pixel
        # candidates lie at least MARGIN inside their box, except at the grid's edges
        ys, xs = np.nonzero(cand[y0:y1, x0:x1])
        assert (ys.min() + y0 - y0 >= core.MARGIN or y0 == 0) and (y1 - (ys.max() + y0) > core.MARGIN or y1 == 160)
        assert (xs.min() >= core.MARGIN or x0 == 0) and (x1 - (xs.max() + x0) > core.MARGIN or x1 == 200)
    assert len(boxes) == 3
    assert inside[cand > 0].min() == 1


def test_align_pair_moves_the_before_image_onto_the_after_grid() -> None:
    scene = _texture(420, 420, seed=3)
    after = scene[10:410, 10:410]
    # the before image, read with a margin of 10 px, sits 0.4 px right / 0.3 px down of the
    # georeferenced position, and its content is displaced by another (1.5, -0.8) px
    before_src = cv2.warpAffine(
        scene, np.array([[1, 0, -1.5 - 0.4], [0, 1, 0.8 - 0.3]], np.float32), (420, 420),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT,
    )
    params = DetectParams()
    al = core.align_pair(before_src, after, params, margin=10, prior=(0.4, 0.3))
    assert al.a.shape == after.shape and al.valid is None
    inner = (slice(8, -8), slice(8, -8))
    err = np.abs(al.a[inner].astype(int) - after[inner].astype(int)).mean()
    off = np.abs(before_src[10:410, 10:410][inner].astype(int) - after[inner].astype(int)).mean()
    assert err < off / 3
    assert np.hypot(al.shift[0] + 1.5, al.shift[1] - 0.8) < 0.2
    # without co-registration only the georeferenced offset is applied
    geo = core.align_pair(before_src, after, DetectParams(coregister=False), margin=10, prior=(0.4, 0.3))
    assert geo.shift == (0.0, 0.0)
    assert np.abs(geo.a[inner].astype(int) - after[inner].astype(int)).mean() > err
    # a pair already on one grid: the after image moves onto the before one (as in training)
    moved = cv2.warpAffine(before_src, np.array([[1, 0, 1.5], [0, 1, -0.8]], np.float32), (420, 420),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
    same = core.align_pair(before_src, moved, params)
    assert same.a is before_src or np.array_equal(same.a, before_src)
    assert np.hypot(same.shift[0] + 1.5, same.shift[1] - 0.8) < 0.2  # b(x + shift) ~ a(x)
    before_err = np.abs(moved[inner].astype(int) - before_src[inner].astype(int)).mean()
    assert np.abs(same.b[inner].astype(int) - before_src[inner].astype(int)).mean() < before_err / 3
    # invalid margins of the before image invalidate the pixels they reach
    a_valid = np.ones((420, 420), bool)
    a_valid[:, :12] = False
    part = core.align_pair(before_src, after, params, a_valid=a_valid, margin=10, prior=(0.4, 0.3))
    assert part.valid is not None and not part.valid[:, 0].any() and part.valid[:, 20:].all()


def test_raster_windows_match_the_after_image_only_where_it_is_looked_at() -> None:
    scene = _texture(420, 420, seed=3)
    before_src = scene
    after = np.clip(scene[10:410, 10:410].astype(np.float32) * 0.7 + 30, 0, 255).astype(np.uint8)  # duller
    params = DetectParams()
    window = core.align_pair(before_src, after, params, margin=10, prior=(0.2, 0.1))
    whole = align.match_histograms(after, before_src[10:410, 10:410])
    # a raster window keeps the after image as read, with the table that matches it
    assert window.b is after and window.lut is not None
    assert np.array_equal(align.apply_lut(window.b, window.lut), whole)
    assert np.array_equal(align.apply_lut(window.b[50:90, 7:31], window.lut), whole[50:90, 7:31])
    # a pair on one grid is matched at once (training and plain images take that path)
    grid = core.align_pair(before_src[10:410, 10:410], after, params)
    assert grid.lut is None and np.abs(grid.b.astype(int) - whole.astype(int)).mean() < 1.0
    # both keep the after image as captured (its own colours), on the grid of the matched one
    assert window.after_captured is after and grid.after_captured is after
    moved = np.roll(after, 2, axis=1)
    shifted = core.align_pair(before_src[10:410, 10:410], moved, params)
    assert shifted.shift != (0.0, 0.0)
    assert np.array_equal(shifted.after_captured, align.apply_shift(moved, *shifted.shift))
    # the reduced copy of the first stage: the table after the reduction, within a DN or two
    rb = core.first_stage(window.a, window.b, params, window.lut)[1]
    exact = cv2.resize(whole, rb.shape[1::-1], interpolation=cv2.INTER_AREA)
    assert np.abs(rb.astype(int) - exact.astype(int)).max() <= 2


def test_direct_read_matches_the_rasterio_read_also_outside_the_raster() -> None:
    i = rasterio_io.info(NAIP_2020)
    for win in (Window(100, 50, 64, 32), Window(i.width - 10, -5, 20, 15), Window(-3, i.height - 4, 8, 9)):
        ref = rasterio_io.read_window(NAIP_2020, win, boundless=True)
        with rasterio_io.opened(NAIP_2020) as ds:
            rgb, valid = rasterio_io.read_rgb8(ds, win, boundless=True)
        assert rgb.shape == (int(win.height), int(win.width), 3)
        assert np.array_equal(rgb, np.moveaxis(ref.array, 0, -1))
        assert np.array_equal(valid if valid is not None else np.ones(rgb.shape[:2], bool), ref.valid_mask)
    with rasterio_io.opened(NAIP_2020) as ds, pytest.raises(rasterio_io.TileReadError, match="window"):
        rasterio_io.read_rgb8(ds, Window(i.width - 10, 0, 20, 15))


def test_mask_png_from_patches(tmp_path: Path) -> None:
    w, h = 20_000, 1_000  # several row strips, most without any change
    png = BinaryMaskPng(w, h)
    ref = np.zeros((h, w), np.uint8)
    rng = np.random.default_rng(5)
    for r, c in ((450, 19_990), (455, 3), (998, 500), (-4, -4)):
        block = (rng.random((12, 30)) > 0.4).astype(np.uint8) * 2
        png.add(r, c, block)
        r0, c0 = max(r, 0), max(c, 0)
        sub = block[r0 - r : h - r, c0 - c : w - c] > 0
        ref[r0 : r0 + sub.shape[0], c0 : c0 + sub.shape[1]][sub] = 255
    png.write(tmp_path / "m.png")
    got = cv2.imread(str(tmp_path / "m.png"), cv2.IMREAD_UNCHANGED)
    assert got is not None and got.dtype == np.uint8 and np.array_equal(got, ref)
    with rasterio.open(tmp_path / "m.png") as ds:
        assert ds.count == 1 and np.array_equal(ds.read(1), ref)
    assert png.changed == int((ref > 0).sum())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.png"]


def test_mask_png_strips_reuse_their_buffers_without_mixing_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from detection import mask_png

    w, h = 3_000, 2_400
    monkeypatch.setattr(mask_png, "_STRIP_BYTES", 40 * (w + 1))  # 60 strips, all changed: buffers cycle
    png = BinaryMaskPng(w, h)
    ref = np.zeros((h, w), np.uint8)
    rng = np.random.default_rng(6)
    for r in range(0, h, 17):
        c = int(rng.integers(0, w - 40))
        block = (rng.random((9, 40)) > 0.5).astype(np.uint8)
        png.add(r, c, block)
        ref[r : r + 9, c : c + 40][block[: h - r] > 0] = 255
    png.write(tmp_path / "m.png")
    got = cv2.imread(str(tmp_path / "m.png"), cv2.IMREAD_UNCHANGED)
    assert got is not None and np.array_equal(got, ref)


def test_pieces_traced_on_one_canvas_give_each_piece_its_own_polygons() -> None:
    rng = np.random.default_rng(7)
    pieces = []
    for k in range(12):
        h, w = int(rng.integers(3, 90)), int(rng.integers(3, 700))
        mask = np.zeros((h, w), np.uint8)
        mask[1:-1, 1:-1] = APPEARED
        if h > 8 and w > 8:
            mask[3:-3, 3:-3] = 0  # a hole
            mask[4:-4, 4:-4] = DISAPPEARED  # and another kind inside it
        mask[rng.random((h, w)) < 0.05] = APPEARED  # specks, some touching the edges
        score = rng.random((h, w)).astype(np.float32)
        pieces.append((mask, score, Affine(0.5, 0.0, 1000.0 + 37 * k, 0.0, -0.5, 5000.0 - 11 * k)))
    one = [vectorize(m, s, t, "EPSG:32651", min_area_m2=0.0, min_area_px=0, simplify_px=0.0) for m, s, t in pieces]
    many = vectorize_pieces(pieces, "EPSG:32651")

    def key(polys: list[ChangePolygon]) -> list[tuple[str, bytes, float, float | None]]:
        return sorted((p.change, normalize(p.geometry).wkb, round(p.score, 6), p.area_m2) for p in polys)

    assert sum(len(p) for p in one) > 40  # specks, rings and islands
    assert [key(p) for p in many] == [key(p) for p in one]
    assert vectorize_pieces([], None) == []


def test_nearest_index_picks_the_cells_cv2_resize_picks() -> None:
    rng = np.random.default_rng(4)
    for src, dst in ((544, 2176), (529, 2113), (242, 968), (7, 25), (250, 1000), (13, 13)):
        cells = rng.integers(0, 2, (src, src + 3), dtype=np.uint8)
        want = cv2.resize(cells, (dst + 11, dst), interpolation=cv2.INTER_NEAREST)
        got = cells[np.ix_(core.nearest_index(dst, src), core.nearest_index(dst + 11, src + 3))]
        assert np.array_equal(got, want), (src, dst)


def test_features_with_the_dates_swapped_are_a_reordering_of_the_features() -> None:
    a = _texture(160, 180, seed=8)
    b = _texture(160, 180, seed=9)
    b[40:90, 50:120] = (220, 215, 210)
    forward = change.pair_features(a, b, change.cue_stats(a, b))
    backward = change.pair_features(b, a, change.cue_stats(b, a))
    order, sign = change._reversal()
    assert sorted(order.tolist()) == list(range(change.N_FEATURES)) and (sign == -1).any()
    assert np.allclose(forward[:, :, order] * sign, backward, atol=1e-4)
    # so the roof that appeared forwards is, backwards, one that vanished
    names = change.feature_names()
    assert forward[60, 80, names.index("up25")] > forward[60, 80, names.index("down25")]
    assert backward[60, 80, names.index("down25")] > backward[60, 80, names.index("up25")]


def test_a_vanished_roof_is_found_where_the_model_also_looks_back() -> None:
    # bare ground and vegetation with roofs; one roof (and its shadow) is gone in the later image
    rng = np.random.default_rng(3)
    h = w = 400
    veg = cv2.resize(rng.uniform(0, 1, (8, 8)).astype(np.float32), (w, h))[..., None]
    ground = np.array([150, 135, 110], np.float32) * (1 - veg) + np.array([70, 105, 60], np.float32) * veg
    a = ground + rng.normal(0, 8, (h, w, 3))
    b = a.copy()
    for y, x, s in ((60, 60, 30), (250, 280, 34)):
        a[y : y + s, x : x + s] = b[y : y + s, x : x + s] = (200, 198, 205)
    a[150:180, 150:182] = (205, 200, 210)
    a[180:184, 150:182] *= 0.45
    b = b * 0.9 + 12 + rng.normal(0, 3, b.shape)
    al = core.align_pair(np.clip(a, 0, 255).astype(np.uint8), np.clip(b, 0, 255).astype(np.uint8), DetectParams())
    model = change.load_model()
    gone = np.zeros((h, w), bool)
    gone[150:184, 150:182] = True
    forward = core.detect_aligned(al, DetectParams(), model=model).mask
    assert not forward[gone].any()  # the model learnt change as structures appearing
    record = np.zeros((h, w), bool)
    record[140:195, 140:195] = True  # e.g. a recorded violation there
    looked = core.detect_aligned(al, DetectParams(), model=model, look_back=record).mask
    assert (looked[gone] == DISAPPEARED).mean() > 0.8
    # the ground left there is green: what the model finds vanished escapes the vegetation veto
    assert change.vegetated(al.after_captured, DetectParams().vegetation_veto)[gone].mean() > 0.9


def _estate(seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bare ground, then a new estate: six roofs with their shadows among new lawns.

    Returns:
        ``(before, after, roofs, lawns)``: uint8 RGB images and bool masks of the new roofs and
        of the lawns between them.
    """
    rng = np.random.default_rng(seed)
    h = w = 320
    a = np.array([150, 135, 110], np.float32) + rng.normal(0, 8, (h, w, 3))
    b = a.copy()
    lawns = np.zeros((h, w), bool)
    lawns[80:200, 60:260] = True
    b[lawns] = np.array([75, 125, 55], np.float32) + rng.normal(0, 6, (int(lawns.sum()), 3))
    roofs = np.zeros((h, w), bool)
    for y in (92, 146):
        for x in (72, 132, 192):
            b[y : y + 36, x : x + 44] = (200, 198, 205)
            b[y + 36 : y + 40, x : x + 44] *= 0.45
            roofs[y : y + 36, x : x + 44] = True
    before, after = (np.clip(x, 0, 255).astype(np.uint8) for x in (a, b))
    return before, after, roofs, lawns & ~roofs


def test_the_lawns_of_a_new_estate_are_not_flagged_with_its_roofs() -> None:
    a8, b8, roofs, lawns = _estate()
    model = change.load_model()
    out = {}
    for veto in (DetectParams().vegetation_veto, None):
        params = DetectParams(vegetation_veto=veto)
        out[veto] = core.detect_aligned(core.align_pair(a8, b8, params), params, model=model).mask
    # matched to the bare before image the lawns look like changed ground, and join the roofs
    assert (out[None][lawns] > 0).mean() > 0.5
    # vegetation of the after image as captured is no structure that appeared
    found = out[DetectParams().vegetation_veto]
    assert not found[lawns].any()
    assert (found[roofs] == APPEARED).mean() > 0.85


def test_vegetation_is_told_from_grey_and_coloured_roofs_by_its_captured_colour() -> None:
    rng = np.random.default_rng(2)
    level = DetectParams().vegetation_veto

    def patch(rgb: tuple[int, int, int], noise: float) -> np.ndarray:
        x = np.array(rgb, np.float32) + rng.normal(0, noise, (40, 40, 3))
        return np.clip(x, 0, 255).astype(np.uint8)

    # grass, a lawn, tree crowns; a grey roof with colour noise, a blue steel roof, a red tile one
    for rgb in ((90, 120, 60), (75, 125, 55), (40, 62, 35)):
        assert change.vegetated(patch(rgb, 6), level).mean() > 0.95
    for rgb in ((150, 150, 150), (60, 110, 190), (170, 80, 60)):
        assert change.vegetated(patch(rgb, 10), level).mean() < 0.01


def test_cue_statistics_of_a_whole_window_come_from_two_bands_of_rows_computed_exactly() -> None:
    a = _texture(2 * change.STATS_BANDS_FROM, 300, seed=10)
    full = change.image_cues(a)
    bands = change._sampled_cues(a)
    q = a.shape[0] // 4
    # the bands are the second and fourth quarter of the rows, as the whole copy gives them
    assert bands.shape == (full.shape[0], 2 * q, 300)
    assert np.allclose(bands[:, :q], full[:, q : 2 * q], atol=1e-5)
    assert np.allclose(bands[:, q:], full[:, 3 * q :], atol=1e-5)
    # and their statistics are those of the whole copy, near enough to normalise by
    assert np.allclose(bands.mean(axis=(1, 2)), full.mean(axis=(1, 2)), atol=0.05 * full.std(axis=(1, 2)).max())
    assert np.allclose(bands.std(axis=(1, 2)), full.std(axis=(1, 2)), rtol=0.1)
    small = _texture(change.STATS_BANDS_FROM, 300, seed=11)
    # a training tile: all of it (to float rounding: OpenCV's Sobel and magnitude differ in the last
    # bit with the buffers' alignment, so two runs on the same pixels need not be bit-equal)
    whole, all_rows = change._sampled_cues(small), change.image_cues(small)
    assert whole.shape == all_rows.shape and np.allclose(whole, all_rows, atol=1e-5)
