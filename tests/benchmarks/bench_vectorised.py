"""Vectorised workloads: time(value and gradient) / time(f on NumPy), side by side.

Run: `python -m tests.benchmarks.bench_vectorised` (or `make bench`). The five
workloads of `autodiff_lite.workloads` (the same code lesson 06 plots), timed for
autodiff_lite, a hand-written NumPy backward, HIPS autograd and torch, each ratio
against its own library's plain evaluation of f, the runs interleaved; then, on
the loop on 10 numbers, how much of our gradient's time is its calls to NumPy
(the traced gradient's primitives replayed with no tape); the operation counts
of f and ∇f read off the tapes, and the peak memory of the 1000-operation loop
against autograd's. Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

import numpy as np

from autodiff_lite import grad, workloads
from autodiff_lite.checkpoint import checkpoint_sequential
from autodiff_lite.cost import gradient_cost, gradient_tape, peak_memory, replay

from .peers import load

Thunk = Callable[[], Any]


def autograd_version(w: str, args: dict) -> tuple[Thunk, Thunk] | None:
    """(f, value-and-gradient) of a workload written for HIPS autograd."""
    autograd = load("autograd")
    if autograd is None:
        return None
    import autograd.numpy as agnp
    from autograd.scipy.special import logsumexp as ag_logsumexp

    fns = {
        "mlp": (lambda w1, w2: agnp.mean((agnp.tanh(args["x"] @ w1) @ w2 - args["y"]) ** 2),
                ("w1", "w2")),
        "logsumexp": (ag_logsumexp, ("v",)),
        "product": (agnp.prod, ("v",)),
        "loop": (lambda v: _loop(agnp, v, args["rounds"]), ("v",)),
    }
    f, names = fns[w]
    inputs = [args[n] for n in names]
    vg = autograd.value_and_grad(f, argnum=tuple(range(len(inputs))) if len(inputs) > 1 else 0)
    return (lambda: f(*inputs)), (lambda: vg(*inputs))


def torch_version(w: str, args: dict) -> tuple[Thunk, Thunk] | None:
    torch = load("torch")
    if torch is None:
        return None
    torch.set_num_threads(1)
    t = {k: torch.tensor(v, dtype=torch.float64) if isinstance(v, np.ndarray) else v
         for k, v in args.items()}
    fns = {
        "mlp": (lambda w1, w2: torch.mean((torch.tanh(t["x"] @ w1) @ w2 - t["y"]) ** 2),
                ("w1", "w2")),
        "logsumexp": (lambda v: torch.logsumexp(v, 0), ("v",)),
        "product": (torch.prod, ("v",)),
        "loop": (lambda v: _loop(torch, v, t["rounds"]), ("v",)),
    }
    f, names = fns[w]

    def plain() -> Any:
        with torch.no_grad():
            return f(*[t[n] for n in names])

    def value_and_grad() -> Any:
        leaves = [t[n].clone().requires_grad_(True) for n in names]
        out = f(*leaves)
        out.backward()
        return out, [leaf.grad for leaf in leaves]
    return plain, value_and_grad


def _loop(lib: Any, v: Any, rounds: int) -> Any:
    for _ in range(rounds):
        v = lib.tanh(v) * 0.9 + v * 0.1
    return lib.sum(v)


def _finite_gradient(value_and_grad: Thunk) -> bool:
    with np.errstate(all="ignore"):
        _, grads = value_and_grad()
    grads = grads if isinstance(grads, (tuple, list)) else [grads]
    return all(bool(np.all(np.isfinite(np.asarray(g)))) for g in grads)


def workload_args(small: bool) -> list[tuple[str, dict]]:
    """The inputs of the five workloads, as the peers need them (same seeds)."""
    rng = np.random.default_rng(0)
    batch, width = (64, 128) if small else (256, 512)
    mlp = {"x": rng.standard_normal((batch, width)), "y": rng.standard_normal((batch, 10)),
           "w1": rng.standard_normal((width, width)) / np.sqrt(width),
           "w2": rng.standard_normal((width, 10)) / np.sqrt(width)}
    n_prod = 10**5
    prod = np.random.default_rng(0).uniform(0.5, 1.5, n_prod)
    prod[n_prod // 3] = 0.0
    rounds = 50 if small else 250
    return [("mlp", mlp),
            ("logsumexp", {"v": np.random.default_rng(0).standard_normal(
                10**5 if small else 10**6)}),
            ("product", {"v": prod}),
            ("loop", {"v": np.random.default_rng(0).standard_normal(10**4), "rounds": rounds}),
            ("loop", {"v": np.random.default_rng(0).standard_normal(10), "rounds": rounds})]


def ratio_table(small: bool, repeat: int) -> None:
    print("time(value and gradient) / time(f), medians of interleaved runs")
    print(f"{'workload':<42} {'autodiff_lite':>13} {'by hand':>8} {'ours/hand':>9} "
          f"{'autograd':>9} {'torch':>6}")
    for w, (kind, args) in zip(workloads.vectorised(small), workload_args(small)):
        thunks = [w.f_numpy, w.grad_autodiff, w.grad_by_hand]
        peers = {"autograd": autograd_version(kind, args), "torch": torch_version(kind, args)}
        for pair in peers.values():
            if pair is not None:
                thunks.extend(pair)
        with np.errstate(all="ignore"):
            times = workloads.median_times(thunks, repeat)
        f, ours, hand = times[:3]
        cells, k = [], 3
        for pair in peers.values():
            if pair is None:
                cells.append("-")
            else:
                wrong = "" if _finite_gradient(pair[1]) else "*"
                cells.append(f"{wrong}{times[k + 1] / times[k]:.2f}")
                k += 2
        print(f"{w.name:<42} {ours / f:>13.2f} {hand / f:>8.2f} {ours / hand:>9.2f} "
              f"{cells[0]:>9} {cells[1]:>6}")
    print("* the peer's gradient is not finite (autograd divides by the entries of a product)")
    print("targets: ours/hand <= 1.2 on the first four; <= 3.0 on the 10-number loop; "
          "at or below autograd and torch everywhere")


def arithmetic_line(small: bool, repeat: int) -> None:
    """The 10-number loop's gradient: how much of it is NumPy, how much the tape."""
    w = workloads.vectorised(small)[-1]
    run = replay(gradient_tape(w.fun, *w.args))  # the same calls to NumPy, no tape
    f, ours, arithmetic = workloads.median_times([w.f_numpy, w.grad_autodiff, run], repeat)
    print(f"\n{w.name}: our gradient {ours / f:.2f}x f, of which its calls to NumPy "
          f"alone {arithmetic / f:.2f}x f\n  (cost.replay: the traced gradient's "
          "primitives called in order, without tracing or sweeping)")


def count_table() -> None:
    print("\nOperation counts read off the tapes: flops(f) and flops(value and gradient)")
    for w in workloads.vectorised(small=True):
        cost = gradient_cost(w.fun, *w.args)
        print(f"{w.name:<42} f {cost.f_flops:>10}  grad {cost.grad_flops:>10}  "
              f"ratio {cost.ratio:.2f}  (target: at most 5)")


def memory_table() -> None:
    print("\nPeak memory of the gradient of the 1000-operation loop on 10^4 numbers")
    kind, args = workload_args(False)[3]
    ours = workloads.elementwise_loop()
    _, ours_peak = peak_memory(ours.grad_autodiff)
    pair = autograd_version(kind, args)
    if pair is None:
        print(f"  autodiff_lite {ours_peak / 2**20:.1f} MiB")
        return
    _, ag_peak = peak_memory(pair[1])
    print(f"  autodiff_lite {ours_peak / 2**20:.1f} MiB, autograd {ag_peak / 2**20:.1f} MiB: "
          f"ratio {ours_peak / ag_peak:.2f} (target: at most 1.1)")


def checkpoint_table(sizes: list[int]) -> None:
    print("\nCheckpointing a chain of n steps on 5000 numbers: peak memory of the gradient")
    x = np.full(5000, 0.1)
    peaks: dict[str, list[int]] = {"plain": [], "checkpointed (sqrt n segments)": []}
    for n in sizes:
        steps = [lambda v: workloads.anp.tanh(v) * 1.1 + 0.01] * n
        chained = checkpoint_sequential(steps)

        def plain(v: Any, steps: list = steps) -> Any:
            for step in steps:
                v = step(v)
            return workloads.anp.sum(v)

        peaks["plain"].append(peak_memory(lambda: grad(plain)(x))[1])
        peaks["checkpointed (sqrt n segments)"].append(
            peak_memory(lambda: grad(lambda v: workloads.anp.sum(chained(v)))(x))[1])
    print(f"{'n':>6} " + " ".join(f"{k:>32}" for k in peaks))
    for i, n in enumerate(sizes):
        print(f"{n:>6} " + " ".join(f"{v[i] / 2**20:>28.1f} MiB" for v in peaks.values()))
    for k, v in peaks.items():
        slope = np.polyfit(np.log(sizes), np.log(v), 1)[0]
        print(f"  {k}: memory grows like n^{slope:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller workloads")
    args = parser.parse_args(argv)
    ratio_table(args.quick, 3 if args.quick else 21)  # medians of many: a run varies by 20-30%
    arithmetic_line(args.quick, 15 if args.quick else 51)
    count_table()
    memory_table()
    checkpoint_table([64, 256, 1024] if args.quick else [64, 256, 1024, 4096])
    return 0


if __name__ == "__main__":
    sys.exit(main())
