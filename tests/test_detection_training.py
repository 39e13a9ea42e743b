"""The training sample: hard negatives from the first stage's candidates and from the ground beside
the changes, small blobs counted, both orders of the dates, seasonal copies of the vegetation."""

from __future__ import annotations

import cv2
import numpy as np

from detection import change, core
from detection.training import seasons
from detection.training import train as T
from detection.types import DetectParams


def _pair() -> T.Pair:
    """A textured scene where a large and a small roof appear and some ground changes unlabelled."""
    rng = np.random.default_rng(7)
    base = cv2.GaussianBlur(rng.uniform(60, 160, (256, 256, 3)).astype(np.float32), (0, 0), 2)
    a = np.clip(base, 0, 255).astype(np.uint8)
    b = a.copy()
    label = np.zeros((256, 256), np.uint8)
    b[20:120, 20:120] = (215, 210, 205)  # large roof: 10,000 px
    label[20:120, 20:120] = 1
    b[200:210, 200:210] = (225, 220, 215)  # small roof: 100 px
    label[200:210, 200:210] = 1
    b[150:190, 30:90] = np.clip(b[150:190, 30:90].astype(np.int16) + 45, 0, 255).astype(np.uint8)  # ground
    return T.Pair("synthetic", "t1", a, b, label)


def _sample(  # type: ignore[no-untyped-def]
    monkeypatch, pair: T.Pair, both: bool, candidates: float, area_power: float, ring: float = 0.0,
) -> T.TileSample:
    """1000 changed pixels of ``pair`` sampled with the given training settings."""
    monkeypatch.setattr(T, "BOTH_DIRECTIONS", both)
    monkeypatch.setattr(T, "RING_NEGATIVES", ring)
    monkeypatch.setattr(T, "CANDIDATE_NEGATIVES", candidates)
    monkeypatch.setattr(T, "POSITIVE_AREA_POWER", area_power)
    monkeypatch.setattr(T, "SEASON_NEGATIVES", 0)
    return T.sample_tile(pair, per_class=1000, seed=0)


def test_negatives_come_mostly_from_the_candidates_and_small_blobs_are_drawn_more(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pair = _pair()
    s = _sample(monkeypatch, pair, False, 0.7, 0.5)
    assert s.x.shape == (4000, len(change.feature_names()))
    assert int(s.y.sum()) == 1000 and int((s.y == 0).sum()) == 3000
    g = pair.label.ravel() > 0
    assert np.array_equal(g[s.pixels], s.y > 0)  # each sampled pixel carries its own label
    assert np.unique(s.pixels).size == s.pixels.size  # no pixel twice
    small = np.zeros_like(pair.label, bool)
    small[200:210, 200:210] = True
    # area ** -0.5: per pixel 1/100 (large) vs 1/10 (small), so 100 * .1 / (10000 * .01 + 100 * .1)
    share_small = small.ravel()[s.pixels[s.y > 0]].mean()
    assert 0.05 < share_small < 0.15  # drawn uniformly it would be 100 / 10100 = .01
    a8, bm, _ = core.prepare_pair(pair.a, pair.b, None, DetectParams())
    cand = core.candidate_pixels(a8, bm, DetectParams()).ravel()
    neg = s.pixels[s.y == 0]
    assert cand[neg].mean() >= 0.7
    assert cand[~g].mean() < 0.5  # the candidates are a minority of the unchanged pixels


def test_uniform_draws_when_both_settings_are_off(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pair = _pair()
    s = _sample(monkeypatch, pair, False, 0.0, 0.0)
    small = np.zeros_like(pair.label, bool)
    small[200:210, 200:210] = True
    assert small.ravel()[s.pixels[s.y > 0]].mean() < 0.04
    assert int(s.y.sum()) == 1000 and int((s.y == 0).sum()) == 3000
    a8, bm, _ = core.prepare_pair(pair.a, pair.b, None, DetectParams())
    cand = core.candidate_pixels(a8, bm, DetectParams()).ravel()
    unchanged = pair.label.ravel() == 0
    # drawn anywhere: the candidates' share of the negatives is about their share of the ground
    assert abs(cand[s.pixels[s.y == 0]].mean() - cand[unchanged].mean()) < 0.05


def test_a_share_of_the_negatives_comes_from_the_ground_right_beside_the_changes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pair = _pair()
    near = T.ring(pair.label, *T.RING_PX).ravel()
    inner, outer = T.RING_PX
    # the ring: beside both roofs, never on them, never touching them, never far from them
    dist = cv2.distanceTransform((pair.label == 0).astype(np.uint8), cv2.DIST_L2, 5).ravel()
    assert near.any() and not (pair.label.ravel() > 0)[near].any()
    assert dist[near].min() > inner and dist[near].max() <= outer + 1
    assert near.reshape(pair.label.shape)[195:215, 195:215].any()  # around the small roof too
    s = _sample(monkeypatch, pair, False, 0.0, 0.0, ring=0.3)
    assert int(s.y.sum()) == 1000 and int((s.y == 0).sum()) == 3000
    assert np.unique(s.pixels).size == s.pixels.size
    neg = s.pixels[s.y == 0]
    share = near[neg].mean()
    # 900 drawn from the ring, the other 2100 anywhere (where the ring is about 6 % of the ground)
    assert 0.3 <= share < 0.3 + 0.7 * near[pair.label.ravel() == 0].mean() + 0.03
    plain = _sample(monkeypatch, pair, False, 0.0, 0.0, ring=0.0)
    assert near[plain.pixels[plain.y == 0]].mean() < 0.15


def test_each_pair_is_sampled_in_both_orders_of_its_dates(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pair = _pair()
    s = _sample(monkeypatch, pair, True, 0.0, 0.0)
    assert s.x.shape == (8000, len(change.feature_names())) and int(s.y.sum()) == 2000
    g = pair.label.ravel() > 0
    assert np.array_equal(g[s.pixels], s.y > 0)
    # the second half is the pair seen backwards: its features are those of the swapped dates
    a8, bm, _ = core.prepare_pair(pair.b, pair.a, None, DetectParams())
    back = change.pair_features(a8, bm).reshape(-1, s.x.shape[1])
    assert np.allclose(s.x[4000:], back[s.pixels[4000:]], atol=1e-5)
    # so the large roof that appeared forwards has vanished backwards
    names = change.feature_names()
    up, down = names.index("up25"), names.index("down25")
    roof = np.zeros_like(pair.label, bool)
    roof[40:100, 40:100] = True
    on = roof.ravel()[s.pixels]
    fwd, bwd = on & (np.arange(8000) < 4000), on & (np.arange(8000) >= 4000)
    assert s.x[fwd, up].mean() > s.x[fwd, down].mean() + 0.3
    assert s.x[bwd, down].mean() > s.x[bwd, up].mean() + 0.3


def _green_pair() -> T.Pair:
    """A lawn with a grey road through it on both dates; a roof appears on the lawn."""
    rng = np.random.default_rng(3)
    grass = np.array([70, 120, 55], np.float32) + rng.normal(0, 12, (256, 256, 3)).astype(np.float32)
    a = np.clip(cv2.GaussianBlur(grass, (0, 0), 1.0), 0, 255).astype(np.uint8)
    a[:, 110:150] = (118, 118, 116)  # road
    b = a.copy()
    label = np.zeros((256, 256), np.uint8)
    b[30:80, 30:80] = (210, 205, 200)
    label[30:80, 30:80] = 1
    return T.Pair("synthetic", "green", a, b, label)


def test_winter_turns_vegetation_brown_grey_keeping_its_texture_and_nothing_else() -> None:
    pair = _green_pair()
    veg = seasons.unchanged_vegetation(pair.a, pair.b, pair.label)
    assert veg[:, :100].mean() > 0.5 and not veg[:, 115:145].any() and not veg[35:75, 35:75].any()
    out = seasons.winter(pair.b, veg, np.random.default_rng(0))
    far = cv2.dilate(veg.astype(np.uint8), np.ones((13, 13), np.uint8)) == 0
    assert far.any() and np.array_equal(out[far], pair.b[far])  # the road and the roof untouched
    inner = cv2.erode(veg.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert seasons.vegetation(pair.b)[inner].mean() > 0.9
    assert seasons.vegetation(out)[inner].mean() < 0.1  # no longer green
    # the grass texture survives: high-pass luminance before and after correlate

    def detail(x: np.ndarray) -> np.ndarray:
        lum = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return (lum - cv2.GaussianBlur(lum, (0, 0), 3))[inner]

    assert np.corrcoef(detail(pair.b), detail(out))[0, 1] > 0.6


def test_seasonal_copies_add_unchanged_vegetation_seen_in_winter_on_either_date(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pair = _green_pair()
    monkeypatch.setattr(T, "BOTH_DIRECTIONS", False)
    monkeypatch.setattr(T, "CANDIDATE_NEGATIVES", 0.0)
    monkeypatch.setattr(T, "RING_NEGATIVES", 0.0)
    monkeypatch.setattr(T, "POSITIVE_AREA_POWER", 0.0)
    monkeypatch.setattr(T, "SEASON_NEGATIVES", 300)
    s = T.sample_tile(pair, per_class=500, seed=0)
    plain = 500 + 3 * 500
    assert s.x.shape[0] == plain + 2 * 300 and int(s.y.sum()) == 500
    extra = s.pixels[plain:]
    assert not s.y[plain:].any()
    veg = seasons.unchanged_vegetation(pair.a, pair.b, pair.label).ravel()
    assert veg[extra].all() and not pair.label.ravel()[extra].any()
    # the first copy redrew the later date only, the second the earlier one
    a8, bm, _ = core.prepare_pair(pair.a, pair.b, None, DetectParams())
    f = change.pair_features(a8, bm).reshape(-1, s.x.shape[1])
    names = change.feature_names()
    za = [names.index(f"zA_{n}") for n in change.CUE_NAMES]
    zb = [names.index(f"zB_{n}") for n in change.CUE_NAMES]
    later, earlier = s.x[plain : plain + 300], s.x[plain + 300 :]
    assert np.allclose(later[:, za], f[extra[:300]][:, za], atol=1e-4)
    assert np.abs(later[:, zb] - f[extra[:300]][:, zb]).mean() > 0.3
    assert np.abs(earlier[:, za] - f[extra[300:]][:, za]).mean() > 0.3
    # the same sample without the copies is the plain sample, row for row
    monkeypatch.setattr(T, "SEASON_NEGATIVES", 0)
    assert np.array_equal(T.sample_tile(pair, per_class=500, seed=0).pixels, s.pixels[:plain])


def test_pairs_without_vegetation_get_no_seasonal_copies(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pair = _pair()
    monkeypatch.setattr(T, "SEASON_NEGATIVES", 300)
    grey = np.repeat(cv2.cvtColor(pair.a, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    flat = T.Pair("synthetic", "grey", grey, grey.copy(), pair.label)
    assert T.sample_tile(flat, per_class=500, seed=0).x.shape[0] == 4 * 500
