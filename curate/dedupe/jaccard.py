"""Exact Jaccard similarity of shingle sets for many pairs at once: rows sorted by numpy,
merged pair by pair in code compiled with numba.

Imported lazily (numba takes a moment to load); kernels are cached on disk after the first run.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _distinct_sizes(values, offsets):
    """Each sorted row's number of distinct values."""
    n = len(offsets) - 1
    sizes = np.zeros(n, dtype=np.int64)
    for r in range(n):
        distinct = 0
        for k in range(offsets[r], offsets[r + 1]):
            if k == offsets[r] or values[k] != values[k - 1]:
                distinct += 1
        sizes[r] = distinct
    return sizes


@njit(cache=True)
def _intersections(values, offsets, left, right):
    """|A ∩ B| of distinct values for each pair of sorted rows."""
    out = np.zeros(len(left), dtype=np.int64)
    for p in range(len(left)):
        i, i_end = offsets[left[p]], offsets[left[p] + 1]
        j, j_end = offsets[right[p]], offsets[right[p] + 1]
        count = 0
        while i < i_end and j < j_end:
            a, b = values[i], values[j]
            if a == b:
                count += 1
                while i < i_end and values[i] == a:
                    i += 1
                while j < j_end and values[j] == b:
                    j += 1
            elif a < b:
                i += 1
            else:
                j += 1
        out[p] = count
    return out


def jaccard_pairs(values: np.ndarray, offsets: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Jaccard similarity of the sets of 32-bit values in rows left[k] and right[k] (rows given
    by offsets)."""
    offsets = offsets.astype(np.int64)
    # sort every row at once: row number in the high 32 bits, the value in the low ones
    rows = np.repeat(np.arange(len(offsets) - 1, dtype=np.uint64), np.diff(offsets))
    keys = (rows << np.uint64(32)) | values.astype(np.uint64)
    keys.sort()
    values = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    sizes = _distinct_sizes(values, offsets)
    inter = _intersections(values, offsets, left.astype(np.int64), right.astype(np.int64))
    union = sizes[left] + sizes[right] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)
