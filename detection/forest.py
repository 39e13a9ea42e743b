"""A fitted gradient-boosted tree model evaluated by one compiled loop over the raw features.

scikit-learn's ``HistGradientBoostingClassifier`` predicts either from raw values (``x <=
num_threshold`` at each node, NaN following ``missing_go_to_left``) or from uint8 bins. Both give
the same leaves. :class:`Forest` flattens the trees into arrays and walks them in a loop compiled
by numba, tree by tree over a batch of rows, straight on the float32 features: no binning pass,
no per-tree call, and the raw scores are summed in the model's own tree order, so the
probabilities are exactly ``predict_proba``'s (a test checks). It also reads the features through
a column order and signs, so the rows of a pair with its dates swapped need no copy (see
:func:`detection.change.predict_reversed`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np


def _raw_scores_py(
    x: np.ndarray, roots: np.ndarray, column: np.ndarray, sign: np.ndarray, threshold: np.ndarray,
    child: np.ndarray, is_leaf: np.ndarray, value: np.ndarray, missing_left: np.ndarray, baseline: float,
) -> np.ndarray:  # pragma: no cover - compiled; exercised through Forest
    """Raw scores of the rows of ``x``: the trees one after the other, each over all rows (its
    nodes stay in cache), reading feature ``column[k] * sign[k]`` at node ``k``."""
    n = x.shape[0]
    out = np.full(n, baseline)
    for t in range(roots.size):
        root = roots[t]
        for i in range(n):
            k = root
            while not is_leaf[k]:
                v = x[i, column[k]] * sign[k]
                left = missing_left[k] != 0 if v != v else np.float64(v) <= threshold[k]
                k = child[k, 0] if left else child[k, 1]
            out[i] += value[k]
    return out


@lru_cache(maxsize=1)
def _raw_scores() -> Callable[..., np.ndarray]:
    """The compiled loop (numba is imported on first use only: it adds about 60 MB to a process,
    which only processes that score pixels need)."""
    import numba

    return numba.njit(cache=True, nogil=True, boundscheck=False)(_raw_scores_py)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Forest:
    """The trees of a binary ``HistGradientBoostingClassifier`` as flat node arrays.

    Attributes:
        roots: ``(T,)`` index of each tree's root node, in the model's order.
        feature: ``(N,)`` feature index read at each node.
        threshold: ``(N,)`` float64 split value (left when ``x <= threshold``).
        child: ``(N, 2)`` left and right child (global node indices).
        is_leaf: ``(N,)`` uint8.
        value: ``(N,)`` float64 leaf values.
        missing_left: ``(N,)`` uint8, where NaN goes.
        baseline: the model's initial raw score.
    """

    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    child: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray
    missing_left: np.ndarray
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
        child = np.stack([flat["left"].astype(np.int64) + shift, flat["right"].astype(np.int64) + shift], axis=1)
        return cls(
            roots=offsets.astype(np.int64), feature=flat["feature_idx"].astype(np.int64),
            threshold=flat["num_threshold"].astype(np.float64), child=child,
            is_leaf=flat["is_leaf"].astype(np.uint8), value=flat["value"].astype(np.float64),
            missing_left=flat["missing_go_to_left"].astype(np.uint8), baseline=baseline,
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
        return np.asarray(_raw_scores()(
            x32, self.roots, column, node_sign, self.threshold, self.child, self.is_leaf, self.value,
            self.missing_left, self.baseline,
        ))

    def proba(self, x: np.ndarray, order: np.ndarray | None = None, sign: np.ndarray | None = None) -> np.ndarray:
        """Probability of the positive class (float32) of each row (see :meth:`raw`)."""
        return np.asarray(1.0 / (1.0 + np.exp(-self.raw(x, order, sign))), np.float32)
