"""One-cycle schedule tables against np.cos over the same array and a plain-Python loop.

Prints, for 10^4, 10^6 and 10^7 steps, the median time of the one-cycle ``lr`` and ``mom``
tables (``schedule_table``, one vectorised call per schedule), of ``np.cos`` over an array of
the same size (the floor: every table needs at least one cosine per step), and of a plain-Python
per-position loop over the same schedule (for the smaller sizes), with ratios.
Target: each table <= 2x np.cos at 10^6 and 10^7 steps.

Second part (issue 12): the float32 one-cycle table against float32 ``np.cos`` and against the
float64 table (time and peak memory), and a direct call ``one_cycle(1e-3)["lr"](x)`` on the
sorted positions against ``schedule_table`` (target: within 1.2x).

Third part (issue 12): peak memory and time of a whole optimizer's table, 4 hyper-parameters
(lr, mom, sqr_mom, wd) x 8 parameter groups, in float64 and float32, at 10^6 steps (and 10^7
without --quick: the issue's 4 x 8 x 10^7 case, about 2.5 GiB in float64). Target: float32 peak
about half of float64's.

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




def float32_and_direct(quick: bool = False) -> None:
    """Issue 12's figures: float32 tables, and direct calls against ``schedule_table``."""
    scheds = one_cycle(1e-3)
    sizes = [10**6] if quick else [10**6, 10**7]
    print()
    print("float32 one-cycle lr table vs float32 np.cos and vs the float64 table; direct call vs table")
    print(f"{'steps':>10} {'cos32':>9} {'table32':>9} {'/cos32':>7} {'table64':>9} {'32/64':>6} "
          f"{'call(x)':>9} {'/table':>7} {'peak32':>8} {'peak64':>8}")
    for n in sizes:
        x64 = np.arange(n) / n
        x32 = x64.astype(np.float32)
        rep = 5 if n >= 10**7 else 9
        t_cos32 = median_time(lambda x=x32: np.cos(x), repeat=rep)
        t_t32 = median_time(lambda n=n: schedule_table({"lr": scheds["lr"]}, n, dtype=np.float32), repeat=rep)
        t_t64 = median_time(lambda n=n: schedule_table({"lr": scheds["lr"]}, n), repeat=rep)
        t_call = median_time(lambda x=x64: scheds["lr"](x), repeat=rep)
        peak32 = peak_bytes(lambda n=n: schedule_table(scheds, n, dtype=np.float32))
        peak64 = peak_bytes(lambda n=n: schedule_table(scheds, n))
        print(f"{n:>10} {t_cos32 * 1e3:7.2f}ms {t_t32 * 1e3:7.2f}ms {t_t32 / t_cos32:6.2f}x "
              f"{t_t64 * 1e3:7.2f}ms {t_t32 / t_t64:5.2f}x {t_call * 1e3:7.2f}ms {t_call / t_t64:6.2f}x "
              f"{peak32 / 2**20:6.0f}MB {peak64 / 2**20:6.0f}MB")
    print("targets: direct call <= 1.20x schedule_table (float64); float32 table faster than float64, "
          "peak about half")


def optimizer_table(quick: bool = False) -> None:
    """Issue 12's memory figure: a 4 hypers x 8 groups table, float64 against float32."""
    import functools
    import time

    from schedcore import SchedCos, SchedLin, combined_cos

    g = 8
    full = functools.partial(np.full, g)
    scheds = {"lr": one_cycle(np.geomspace(1e-4, 1e-2, g))["lr"],
              "mom": combined_cos(0.25, full(0.95), full(0.85), full(0.95)),
              "sqr_mom": SchedCos(full(0.99), full(0.999)), "wd": SchedLin(full(1e-2), full(0.0))}  # fmt: skip
    print()
    print(f"a whole optimizer's table: 4 hypers x {g} groups (one_cycle lr, combined_cos mom, cos sqr_mom, lin wd)")
    print(f"{'steps':>10} {'peak64':>9} {'peak32':>9} {'32/64':>6} {'time64':>8} {'time32':>8} {'32/64':>6}")
    for n in [10**6] if quick else [10**6, 10**7]:
        peaks, times = {}, {}
        for dt in (np.float64, np.float32):
            t0 = time.perf_counter()
            peaks[dt] = peak_bytes(lambda n=n, dt=dt: schedule_table(scheds, n, dtype=dt))
            times[dt] = time.perf_counter() - t0  # one run, traced: for the ratio, not the absolute time
        p64, p32, t64, t32 = peaks[np.float64], peaks[np.float32], times[np.float64], times[np.float32]
        print(f"{n:>10} {p64 / 2**30:7.3f}GiB {p32 / 2**30:7.3f}GiB {p32 / p64:6.2f} "
              f"{t64:7.2f}s {t32:7.2f}s {t32 / t64:6.2f}")
    print("target: float32 peak about half of float64's")


def peak_bytes(fn) -> int:
    """Peak bytes numpy allocated while ``fn`` ran (tracemalloc traces numpy's buffers)."""
    import tracemalloc

    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
    float32_and_direct(quick="--quick" in sys.argv)
    optimizer_table(quick="--quick" in sys.argv)
