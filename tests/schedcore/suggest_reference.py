"""fastai's four suggestion rules written plainly, one curve at a time, in plain Python.

The reference that tests/schedcore/test_suggest.py checks schedcore.suggest against, and that
benchmarks/bench_suggest.py times (``ref_valley`` is fastai's O(n^2) double loop, with the
wrap-around index clamped to 0 as design.md asks).
"""

import numpy as np


def ref_valley(lrs: list, losses: list):
    n = len(losses)
    lds = [1] * n
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
    end = lds.index(max(lds))
    start = end - lds[end]
    sec = (end - start) / 3
    idx = max(start + int(sec) + int(sec / 2), 0)
    return lrs[idx], (lrs[idx], losses[idx])


def ref_slide(lrs: list, losses: list, lr_diff=15, thresh=0.005, adjust_value=1.0):
    g = np.gradient(losses)
    r, l = -1, -1 - lr_diff
    local = lrs[l]
    while l >= -len(losses) and abs(g[r] - g[l]) > thresh:
        local = lrs[l]
        r, l = r - 1, l - 1
    s = local * adjust_value
    return s, (s, float(np.interp(np.log10(s), np.log10(lrs), losses)))


def ref_minimum(lrs: list, losses: list):
    i = min(range(len(losses)), key=losses.__getitem__)
    return lrs[i] / 10, (lrs[i], losses[i])


def ref_steep(lrs: list, losses: list):
    g = [(losses[k + 1] - losses[k]) / (np.log(lrs[k + 1]) - np.log(lrs[k])) for k in range(len(lrs) - 1)]
    i = min(range(len(g)), key=g.__getitem__)
    return lrs[i], (lrs[i], losses[i])
