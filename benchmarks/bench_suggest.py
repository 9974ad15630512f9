"""Benchmark the learning-rate suggesters (schedcore.suggest).

1. ``valley`` on one curve of 1,000 / 3,000 / 10,000 points against a plain-Python O(n^2)
   reference of the same rule (fastai's double loop, on Python lists), run only where it is
   expected to take under a minute.
2. ``valley``, ``slide``, ``minimum`` and ``steep`` on 10,000 curves of 100 points at once,
   against the same methods one curve at a time (plain-Python references; timed on a sample
   and scaled up).

Every figure is the median of several runs in this process. Targets: ``valley`` on 3,000 points
under 5 ms; all four methods on 10,000 x 100 under 0.3 s in total.

    python benchmarks/bench_suggest.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "schedcore"))
from _timing import median_time  # noqa: E402
from suggest_reference import ref_minimum, ref_slide, ref_steep, ref_valley  # noqa: E402

from schedcore import SchedExp, smooth_losses
from schedcore.suggest import minimum, slide, steep, valley

TARGET_VALLEY_3K_S = 5e-3
TARGET_BATCH_S = 0.3
REFERENCE_LIMIT_S = 60.0


def lr_find_curves(n_curves: int, n_points: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Realistic recorded curves: exponential lrs, a loss valley, noise, lr_find's smoothing."""
    rng = np.random.default_rng(seed)
    lrs = SchedExp(1e-7, 10)(np.arange(n_points) / n_points)
    t = np.log10(lrs)
    centre = rng.uniform(-5, -2, size=(n_curves, 1))
    raw = 2.5 - 2 / (1 + np.exp(-(t - centre))) + np.exp(2.5 * (t - 0.3)) + 0.1 * rng.standard_normal((n_curves, n_points))
    return lrs, smooth_losses(raw)


REFS = {"valley": ref_valley, "slide": ref_slide, "minimum": ref_minimum, "steep": ref_steep}
OURS = {"valley": valley, "slide": slide, "minimum": minimum, "steep": steep}


# ----------------------------------------------------------------------------------------- parts


def bench_valley_single(sizes, repeat: int) -> dict[int, float]:
    print("valley on one curve                      ours (median)   O(n^2) reference   ratio   same idx")
    ref_time: dict[int, float] = {}
    ours_time: dict[int, float] = {}
    for n in sizes:
        lrs, losses = lr_find_curves(1, n, seed=n)
        lrs_l, losses_l = lrs.tolist(), losses[0].tolist()
        ours_time[n] = median_time(lambda x=lrs, y=losses[0]: valley(x, y), repeat)
        estimate = max((ref_time[m] * (n / m) ** 2 for m in ref_time), default=0.0)
        if estimate < REFERENCE_LIMIT_S:
            start = time.perf_counter()
            ref = ref_valley(lrs_l, losses_l)
            ref_time[n] = time.perf_counter() - start
            same = "yes" if ref[0] == valley(lrs, losses[0])[0] else "NO"
            ratio = f"{ref_time[n] / ours_time[n]:7.0f}x"
            print(f"  n = {n:>6,}                          {ours_time[n] * 1e3:9.3f} ms   {ref_time[n]:12.3f} s   {ratio}   {same}")
        else:
            print(f"  n = {n:>6,}                          {ours_time[n] * 1e3:9.3f} ms   "
                  f"(skipped: ~{estimate:.0f} s expected)")  # fmt: skip
    return ours_time


def bench_batch(n_curves: int, n_points: int, repeat: int, sample: int) -> float:
    lrs, losses = lr_find_curves(n_curves, n_points, seed=1)
    print(f"\nall four methods on {n_curves:,} curves x {n_points} points at once")
    total = 0.0
    total_ref = 0.0
    for name, func in OURS.items():
        t = median_time(lambda f=func: f(lrs, losses), repeat)
        got = func(lrs, losses)[0]
        lrs_l = lrs.tolist()
        start = time.perf_counter()
        refs = [REFS[name](lrs_l, losses[b].tolist())[0] for b in range(sample)]
        t_ref = (time.perf_counter() - start) / sample * n_curves
        agree = "yes" if np.array_equal(got[:sample], refs) else "NO"
        total, total_ref = total + t, total_ref + t_ref
        print(f"  {name:<8} {t * 1e3:9.2f} ms    one curve at a time (reference): ~{t_ref:8.2f} s   "
              f"{t_ref / t:8.0f}x   same as reference on {sample} curves: {agree}")  # fmt: skip
    print(f"  {'total':<8} {total * 1e3:9.2f} ms    one curve at a time (reference): ~{total_ref:8.2f} s   {total_ref / total:8.0f}x")
    return total


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats (a smoke test)")
    args = parser.parse_args(argv)
    sizes = (1_000, 3_000) if args.quick else (1_000, 3_000, 10_000)
    ours = bench_valley_single(sizes, repeat=3 if args.quick else 15)
    total = bench_batch(1_000 if args.quick else 10_000, 100, repeat=3 if args.quick else 7, sample=50 if args.quick else 200)
    print("\ntargets:")
    print(f"  valley, 3,000 points   {ours[3_000] * 1e3:8.3f} ms  (target < {TARGET_VALLEY_3K_S * 1e3:.0f} ms)  "
          f"{'PASS' if ours[3_000] < TARGET_VALLEY_3K_S else 'FAIL'}")  # fmt: skip
    if not args.quick:
        print(f"  four methods, 10k x 100 {total:8.3f} s   (target < {TARGET_BATCH_S} s)    "
              f"{'PASS' if total < TARGET_BATCH_S else 'FAIL'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
