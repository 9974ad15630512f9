"""One-cycle schedule tables against np.cos over the same array and a plain-Python loop.

Prints, for 10^4, 10^6 and 10^7 steps, the median time of the one-cycle ``lr`` and ``mom``
tables (``schedule_table``, one vectorised call per schedule), of ``np.cos`` over an array of
the same size (the floor: every table needs at least one cosine per step), and of a plain-Python
per-position loop over the same schedule (for the smaller sizes), with ratios.
Target: each table <= 2x np.cos at 10^6 and 10^7 steps.

Run: .venv/bin/python benchmarks/bench_schedules.py [--quick]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import median_time  # noqa: E402

from schedcore import one_cycle, schedule_table  # noqa: E402


def python_one_cycle(lr_max, n, div=25.0, div_final=1e5, pct=0.25, count=None):
    """Plain-Python reference: one position at a time, fastai's formulas (first ``count`` steps)."""

    def cos(s, e, p):
        return s + (1 + math.cos(math.pi * (1 - p))) * (e - s) / 2

    out = []
    for k in range(n if count is None else count):
        p = k / n
        if p < pct:
            out.append(cos(lr_max / div, lr_max, p / pct))
        else:
            out.append(cos(lr_max, lr_max / div_final, (p - pct) / (1 - pct)))
    return out


def main(quick: bool = False) -> None:
    scheds = one_cycle(1e-3)
    sizes = [10**4, 10**6] if quick else [10**4, 10**6, 10**7]
    print(f"{'steps':>10} {'np.cos':>10} {'lr table':>10} {'ratio':>6} {'mom table':>10} {'ratio':>6} "
          f"{'python':>10} {'py/lr':>7}")
    for n in sizes:
        x = np.arange(n) / n
        rep = 5 if n >= 10**7 else 9
        t_cos = median_time(lambda x=x: np.cos(x), repeat=rep)
        t_lr = median_time(lambda n=n: schedule_table({"lr": scheds["lr"]}, n), repeat=rep)
        t_mom = median_time(lambda n=n: schedule_table({"mom": scheds["mom"]}, n), repeat=rep)
        ref = np.array(python_one_cycle(1e-3, n, count=min(n, 10**5)))
        np.testing.assert_allclose(schedule_table(scheds, n)["lr"][: len(ref)], ref, rtol=1e-9)
        if n <= 10**6:
            t_py = median_time(lambda n=n: python_one_cycle(1e-3, n), repeat=3)
            py = f"{t_py * 1e3:9.1f}ms {t_py / t_lr:6.0f}x"
        else:
            py = f"{'(skipped)':>10}"
        print(f"{n:>10} {t_cos * 1e3:8.2f}ms {t_lr * 1e3:8.2f}ms {t_lr / t_cos:5.2f}x "
              f"{t_mom * 1e3:8.2f}ms {t_mom / t_cos:5.2f}x {py}")
    print("target: lr and mom table ratios <= 2.00x np.cos at 10^6 and 10^7 steps")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
