"""Benchmark: solving backprop's linear system by back-substitution vs a dense solve.

Run with `python -m tests.benchmarks.bench_lagrangian` (or the file path). It
prints tables, it asserts nothing about time. On chains of n nodes (z_{k+1} =
sin z_k) the system A λ = b has 2n - 1 nonzeros: back-substitution should grow
like n (exponent 1), `np.linalg.solve` on the dense matrix like n³ (exponent 3,
often less at these sizes because BLAS gets more efficient as n grows). The
backward sweep of the tape, which computes the same numbers, is timed alongside,
and the peak memory of the two hypergradients of `autodiff_lite.hyper` is
printed for a growing number of unrolled steps.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import numpy as np
import scipy.sparse.linalg as spla

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from autodiff_lite import hyper, lagrangian


def chain(n: int) -> Callable[[Any], Any]:
    """A program with n tape nodes: the input and n - 1 applications of sin."""
    def f(x: Any) -> Any:
        for _ in range(n - 1):
            x = anp.sin(x)
        return x
    return f


def best_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Smallest wall-clock time over `repeat` runs (the least disturbed one)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def exponent(ns: list[int], ts: list[float]) -> float:
    """Slope of log t against log n: t ~ n^slope."""
    return float(np.polyfit(np.log(ns), np.log(ts), 1)[0])


def solve_table(sizes: list[int], dense_max: int, repeat: int) -> None:
    print("Backprop as a linear solve on chains of n nodes (seconds, best of "
          f"{repeat})")
    header = (f"{'n':>7} {'nnz':>7} {'assemble':>9} {'backsub':>9} {'spsolve_tri':>11} "
              f"{'backward':>9} {'dense':>9} {'dense/backsub':>13}")
    print(header)
    print("-" * len(header))
    fits: dict[str, tuple[list[int], list[float]]] = {
        "backsub": ([], []), "spsolve_tri": ([], []), "backward": ([], []), "dense": ([], [])}
    x = 0.7
    for n in sizes:
        f = chain(n)
        tape = ad.trace(f, x)
        t_asm, (A, b) = best_time(lambda: lagrangian.system(tape, sparse=True), 1)
        t_bs, lam = best_time(lambda: lagrangian.solve(A, b, "backsub"), repeat)
        t_tri, lam_tri = best_time(lambda: spla.spsolve_triangular(A, b, lower=False),
                                   repeat)
        t_bw, adj = best_time(lambda: tape.backward(), repeat)
        grad = ad.grad(f)(x)
        assert abs(lam[0] - grad) <= 1e-12 * max(1.0, abs(grad)), "backsub != grad"
        assert abs(lam_tri[0] - grad) <= 1e-10 * max(1.0, abs(grad)), "spsolve != grad"
        assert abs(adj[0] - grad) <= 1e-12 * max(1.0, abs(grad)), "backward != grad"
        dense = "-"
        ratio = "-"
        if n <= dense_max:
            D = A.toarray()
            t_d, lam_d = best_time(lambda: lagrangian.solve(D, b, "dense"), 1)
            assert abs(lam_d[0] - grad) <= 1e-8 * max(1.0, abs(grad)), "dense != grad"
            dense, ratio = f"{t_d:9.4f}", f"{t_d / t_bs:13.1f}"
            fits["dense"][0].append(n)
            fits["dense"][1].append(t_d)
            del D
        for name, t in (("backsub", t_bs), ("spsolve_tri", t_tri), ("backward", t_bw)):
            fits[name][0].append(n)
            fits[name][1].append(t)
        print(f"{n:>7} {A.nnz:>7} {t_asm:9.4f} {t_bs:9.4f} {t_tri:11.4f} {t_bw:9.4f} "
              f"{dense:>9} {ratio:>13}")
    print()
    print("Fitted growth exponents (t ~ n^k):")
    for name, (ns, ts) in fits.items():
        if len(ns) >= 2:
            print(f"  {name:<12} k = {exponent(ns, ts):.2f}   (n = {ns[0]} .. {ns[-1]})")
    print()


def memory_table(steps: list[int]) -> None:
    print("Ridge hypergradient: peak memory (tracemalloc) of the implicit function "
          "theorem vs unrolled gradient descent")
    header = f"{'steps':>6} {'IFT bytes':>10} {'unrolled bytes':>15} {'ratio':>7} {'|diff|':>9}"
    print(header)
    print("-" * len(header))
    problem = hyper.make_problem()
    for s in steps:
        m = hyper.memory_comparison(problem, lam=1.0, steps=s)
        print(f"{s:>6} {m.ift_bytes:>10} {m.unrolled_bytes:>15} {m.ratio:7.0f} "
              f"{abs(m.ift_gradient - m.unrolled_gradient):9.1e}")
    print()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-n", type=int, default=100_000,
                        help="largest chain (default 100000)")
    parser.add_argument("--dense-max", type=int, default=4000,
                        help="largest chain solved densely (default 4000: 128 MB)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="chains up to 10^4 only")
    args = parser.parse_args(argv)
    if args.quick:
        args.max_n = min(args.max_n, 10_000)
    sizes = [n for n in (1000, 2000, 4000, 10_000, 30_000, 100_000) if n <= args.max_n]
    solve_table(sizes, args.dense_max, args.repeat)
    memory_table([25, 100, 400])


if __name__ == "__main__":
    main()
