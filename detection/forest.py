"""A fitted gradient-boosted tree model evaluated by one compiled loop over the raw features.

scikit-learn's ``HistGradientBoostingClassifier`` predicts either from raw values (``x <=
num_threshold`` at each node, NaN following ``missing_go_to_left``) or from uint8 bins. Both give
the same leaves. :class:`Forest` flattens the trees into arrays and walks them in a loop compiled
by numba, tree by tree over a batch of rows, straight on the float32 features: no binning pass,
no per-tree call, and the raw scores are summed in the model's own tree order, so the
probabilities are exactly ``predict_proba``'s (a test checks). It also reads the features through
a column order and signs, so the rows of a pair with its dates swapped need no copy (see
:func:`detection.change.predict_reversed`).

The walk reads as little per node as it can: a child index that is negative is a leaf (``~k``
gives its value), so no leaf flag is read, and the split values are float32, each rounded down
from the model's float64 (for a float32 ``x``, ``x <= t`` exactly when ``x <=`` the largest float32
not above ``t``), so no conversion per node. Together a third faster than flag and float64 reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from detection.jit import compiled


@compiled
def _raw_scores(
    x: np.ndarray, roots: np.ndarray, column: np.ndarray, sign: np.ndarray, threshold: np.ndarray,
    child: np.ndarray, missing_left: np.ndarray, value: np.ndarray, baseline: float,
) -> np.ndarray:  # pragma: no cover - compiled; exercised through Forest
    """Raw scores of the rows of ``x``: the trees one after the other, each over all rows (its
    nodes stay in cache), reading feature ``column[k] * sign[k]`` at node ``k``; a negative node
    ``k`` is the leaf ``~k``."""
    n = x.shape[0]
    out = np.full(n, baseline)
    for t in range(roots.size):
        root = roots[t]
        for i in range(n):
            k = root
            while k >= 0:
                v = x[i, column[k]] * sign[k]
                left = missing_left[k] != 0 if v != v else v <= threshold[k]
                k = child[k, 0] if left else child[k, 1]
            out[i] += value[~k]
    return out



def round_down_f32(t: np.ndarray) -> np.ndarray:
    """The largest float32 not above each float64 of ``t`` (so ``x <= t`` is ``x <= result`` for
    every float32 ``x``)."""
    t32 = np.asarray(t, np.float64).astype(np.float32)
    over = t32.astype(np.float64) > t
    t32[over] = np.nextafter(t32[over], np.float32(-np.inf))
    return t32


@dataclass(frozen=True)
class Forest:
    """The trees of a binary ``HistGradientBoostingClassifier`` as flat node arrays.

    Attributes:
        roots: ``(T,)`` node of each tree's root, in the model's order (``~leaf`` for a tree that
            is a single leaf).
        feature: ``(N,)`` feature index read at each node.
        threshold: ``(N,)`` float32 split value (left when ``x <= threshold``; see
            :func:`round_down_f32`).
        child: ``(N, 2)`` int32 left and right child: a node index, or ``~leaf`` for a leaf.
        missing_left: ``(N,)`` uint8, where NaN goes.
        value: ``(N,)`` float64 leaf values.
        baseline: the model's initial raw score.
    """

    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    child: np.ndarray
    missing_left: np.ndarray
    value: np.ndarray
    baseline: float

    @classmethod
    def from_model(cls, model: Any) -> Forest | None:
        """The forest of a fitted binary, numeric-only ``HistGradientBoostingClassifier`` (None for
        any other model)."""
        try:
            predictors = model._predictors
            baseline = float(np.ravel(model._baseline_prediction)[0])
            categorical = model._bin_mapper.is_categorical_
        except AttributeError:
            return None
        if model.n_trees_per_iteration_ != 1 or any(len(it) != 1 for it in predictors):
            return None
        if categorical is not None and np.any(categorical):
            return None
        nodes = [it[0].nodes for it in predictors]
        sizes = np.array([len(n) for n in nodes], np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        flat = np.concatenate(nodes)
        shift = np.repeat(offsets, sizes)
        leaf = flat["is_leaf"].astype(bool)
        child = np.stack([flat["left"].astype(np.int64) + shift, flat["right"].astype(np.int64) + shift], axis=1)
        child = np.where(leaf[child], ~child, child)  # leaves' own child fields are never read
        return cls(
            roots=np.where(leaf[offsets], ~offsets, offsets).astype(np.int32),
            feature=flat["feature_idx"].astype(np.int64),
            threshold=round_down_f32(flat["num_threshold"]), child=child.astype(np.int32),
            missing_left=flat["missing_go_to_left"].astype(np.uint8), value=flat["value"].astype(np.float64),
            baseline=baseline,
        )

    def raw(self, x: np.ndarray, order: np.ndarray | None = None, sign: np.ndarray | None = None) -> np.ndarray:
        """Raw scores (log-odds, float64) of the rows of ``x`` ``(n, F)`` float32.

        Args:
            x: the features.
            order: optional ``(F,)`` column permutation: the model's feature ``j`` is read from
                column ``order[j]``...
            sign: ...times ``sign[j]`` (``(F,)`` float32 of +-1; None: +1).
        """
        x32 = np.ascontiguousarray(x, np.float32)
        column = self.feature if order is None else np.asarray(order, np.int64)[self.feature]
        node_sign = np.ones(column.size, np.float32) if sign is None else np.asarray(sign, np.float32)[self.feature]
        return np.asarray(_raw_scores(
            x32, self.roots, column.astype(np.int32), node_sign, self.threshold, self.child, self.missing_left,
            self.value, self.baseline,
        ))

    def proba(self, x: np.ndarray, order: np.ndarray | None = None, sign: np.ndarray | None = None) -> np.ndarray:
        """Probability of the positive class (float32) of each row (see :meth:`raw`)."""
        return np.asarray(1.0 / (1.0 + np.exp(-self.raw(x, order, sign))), np.float32)
