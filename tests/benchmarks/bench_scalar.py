"""Scalar graphs: forward + backward per operation, side by side with the peers.

Run: `python -m tests.benchmarks.bench_scalar` (or `make bench`). A chain mixing
tanh, mul and add with two inputs, z ← tanh(z)·y + x, of N = 10³, 10⁴, 10⁵
operations, timed for autodiff_lite, micrograd, HIPS autograd and torch (0-dim
tensors), interleaved, medians. Then forward mode (dual numbers) against the plain
float evaluation of the same expression (and a minimal hand-written dual class,
the floor for Python), and the memory of a long chain. Prints
tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
from typing import Any, Callable

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from autodiff_lite.cost import peak_memory
from autodiff_lite.workloads import median_times

from .peers import MinimalDual, load, micrograd_tanh

X, Y = 0.5, 0.7


def chain(tanh: Callable[[Any], Any], n: int) -> Callable[[Any, Any], Any]:
    """z <- tanh(z)·y + x, n operations, with the given library's tanh."""
    def f(x: Any, y: Any) -> Any:
        z = x
        for _ in range(n // 3):
            z = tanh(z) * y + x
        return z
    return f


def chain_ours(n: int) -> Callable[[], Any]:
    g = ad.grad(chain(anp.tanh, n), argnums=(0, 1))
    return lambda: g(X, Y)


def chain_micrograd(n: int) -> Callable[[], Any] | None:
    if load("micrograd") is None:
        return None
    from micrograd.engine import Value

    def run() -> tuple:
        x, y = Value(X), Value(Y)
        chain(micrograd_tanh, n)(x, y).backward()
        return x.grad, y.grad
    return run


def chain_autograd(n: int) -> Callable[[], Any] | None:
    autograd = load("autograd")
    if autograd is None:
        return None
    import autograd.numpy as agnp

    g = autograd.grad(chain(agnp.tanh, n), argnum=(0, 1))
    return lambda: g(X, Y)


def chain_torch(n: int) -> Callable[[], Any] | None:
    torch = load("torch")
    if torch is None:
        return None
    torch.set_num_threads(1)

    def run() -> tuple:
        x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
        y = torch.tensor(Y, dtype=torch.float64, requires_grad=True)
        chain(torch.tanh, n)(x, y).backward()
        return float(x.grad), float(y.grad)
    return run


def in_big_stack(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Run fn in a thread with a large stack: micrograd's topological sort recurses."""
    def run() -> Any:
        result: list[Any] = []
        thread = threading.Thread(target=lambda: result.append(fn()))
        thread.start()
        thread.join()
        return result[0] if result else None
    return run


def scalar_table(sizes: list[int], repeat: int) -> None:
    sys.setrecursionlimit(10**7)
    threading.stack_size(1 << 29)
    print("Scalar chain z <- tanh(z)*y + x: forward + backward, microseconds per operation")
    print(f"{'N':>8} {'autodiff_lite':>14} {'micrograd':>10} {'autograd':>9} {'torch':>7}"
          f" {'ours/micrograd':>15}")
    per_op_ours = {}
    for n in sizes:
        runs = {"ours": chain_ours(n), "micrograd": chain_micrograd(n),
                "autograd": chain_autograd(n), "torch": chain_torch(n)}
        if runs["micrograd"] is not None:
            runs["micrograd"] = in_big_stack(runs["micrograd"])
        names = [k for k, v in runs.items() if v is not None]
        # short runs are noisier: as many samples of 10^3 operations as of 10^4
        times = dict(zip(names, median_times([runs[k] for k in names],
                                             repeat * max(1, 10**4 // n))))
        us = {k: times[k] / n * 1e6 for k in names}
        per_op_ours[n] = us["ours"]
        cells = [f"{us[k]:.2f}" if k in us else "-" for k in runs]
        ratio = f"{times['ours'] / times['micrograd']:.2f}" if "micrograd" in times else "-"
        print(f"{n:>8} {cells[0]:>14} {cells[1]:>10} {cells[2]:>9} {cells[3]:>7} {ratio:>15}")
    lo, hi = min(sizes), max(sizes)
    print(f"per-operation cost, N={hi} against N={lo}: {per_op_ours[hi] / per_op_ours[lo]:.2f}x"
          "  (target: within 1.3x)")
    print("target: autodiff_lite at most 0.5x micrograd at every N")


def forward_mode_table(n: int, repeat: int) -> None:
    plain, f = chain(math.tanh, n), chain(anp.tanh, n)
    minimal = chain(MinimalDual.tanh, n)
    t_plain, t_dual, t_minimal = median_times([
        lambda: plain(X, Y),
        lambda: ad.jvp(f, (X, Y), (1.0, 0.0)),
        lambda: minimal(MinimalDual(X, 1.0), MinimalDual(Y, 0.0))], repeat)
    print(f"\nForward mode, N={n}: dual numbers {t_dual / n * 1e6:.2f} us/op, plain floats "
          f"{t_plain / n * 1e6:.3f} us/op: ratio {t_dual / t_plain:.1f} (target: at most 12)")
    print(f"  a minimal hand-written dual class (no rule table, floats only): ratio "
          f"{t_minimal / t_plain:.1f}; autodiff_lite's Dual / minimal: {t_dual / t_minimal:.1f}")


def memory_table(sizes: list[int]) -> None:
    print("\nMemory of reverse mode on the chain (tracemalloc peak during grad)")
    for n in sizes:
        _, peak = peak_memory(chain_ours(n))
        print(f"{n:>9} ops: {peak / 2**20:8.1f} MiB, {peak / n:6.0f} bytes per operation")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    args = parser.parse_args(argv)
    sizes = [10**3, 10**4] if args.quick else [10**3, 10**4, 10**5]
    scalar_table(sizes, 3 if args.quick else 9)
    forward_mode_table(10**4, 5)
    memory_table([10**4, 10**5] if args.quick else [10**4, 10**5, 10**6])
    return 0


if __name__ == "__main__":
    sys.exit(main())
