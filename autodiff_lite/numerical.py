"""Numerical differentiation and `check_grads`, which tests AD against it.

Finite differences trade two errors. Truncation error shrinks with the step h
(forward difference: about h·|f''|/2; central: about h²·|f'''|/6); round-off error
grows as h shrinks, because f(x+h) - f(x) cancels most of its digits (about
ε·|f|/h, with ε ≈ 2.2e-16 for float64). Balancing the two gives the default steps:

    forward difference   h = sqrt(ε)  · max(1, |x|) ≈ 1.5e-8 · max(1, |x|)
    central difference   h = ε^(1/3) · max(1, |x|) ≈ 6.1e-6 · max(1, |x|)

and the best accuracies about sqrt(ε) ≈ 1e-8 and ε^(2/3) ≈ 4e-11 (relative).
The step is also rounded so that x + h is exactly representable, which removes
one source of error for free.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .api import as_input, jvp, vjp
from .rules import sum as tsum

EPS = float(np.finfo(float).eps)
FORWARD_STEP = EPS ** 0.5
CENTRAL_STEP = EPS ** (1.0 / 3.0)


def _point_and_step(x: Any, h: float | None, base: float) -> tuple[float, float]:
    """x as a float64 number, and the step: the default one, or h, rounded so that
    (x + h) - x == h exactly in floating point."""
    if np.ndim(x) != 0:
        raise TypeError(f"x must be one number, got an array of shape {np.shape(x)}; "
                        "numerical_jacobian differentiates functions of arrays")
    x = float(x)  # a float32 x would round x + h to float32's coarser spacing
    step = (x + (base * max(1.0, abs(x)) if h is None else h)) - x
    if step == 0.0:
        raise ValueError(f"h = {h!r} is below the spacing of floats at x = {x!r} "
                         f"({np.spacing(x):.3g}): x + h == x")
    return x, step


def forward_difference(f: Callable[[float], Any], x: float, h: float | None = None) -> Any:
    """(f(x + h) - f(x)) / h: error O(h) from truncation plus O(ε/h) from round-off."""
    x, h = _point_and_step(x, h, FORWARD_STEP)
    return (np.asarray(f(x + h)) - np.asarray(f(x))) / h


def central_difference(f: Callable[[float], Any], x: float, h: float | None = None) -> Any:
    """(f(x + h) - f(x - h)) / 2h: error O(h²) from truncation plus O(ε/h)."""
    x, h = _point_and_step(x, h, CENTRAL_STEP)
    return (np.asarray(f(x + h)) - np.asarray(f(x - h))) / (2.0 * h)


def numerical_jacobian(f: Callable[[Any], Any], x: Any, method: str = "central",
                       h: float | None = None) -> np.ndarray:
    """Jacobian of f at x by finite differences, one entry of x at a time.

    Costs 2n evaluations of f (central) for n inputs: the reason numerical
    gradients do not scale, next to reverse mode's one extra pass.
    """
    diff = {"central": central_difference, "forward": forward_difference}.get(method)
    if diff is None:
        raise ValueError(f"method must be 'central' or 'forward', got {method!r}")
    x = np.asarray(x, dtype=float)
    if x.size == 0:  # no entries, no columns: the Jacobian is empty
        return np.zeros(np.shape(f(x)) + x.shape)
    columns = []
    for k in range(x.size):
        def f_k(t: float, k: int = k) -> Any:
            xk = x.copy().reshape(-1)
            xk[k] = t
            return f(xk.reshape(x.shape) if x.shape else float(xk[0]))
        columns.append(np.asarray(diff(f_k, float(x.reshape(-1)[k]), h)))
    out_shape = columns[0].shape
    return np.stack(columns, axis=-1).reshape(out_shape + x.shape)


# ------------------------------------------------------------------ check_grads

def _directional(f: Callable[..., Any], args: tuple, v: tuple, eps: float) -> Any:
    """Central difference of f along direction v with step eps (v carries the scale)."""
    plus = f(*[a + eps * t for a, t in zip(args, v)])
    minus = f(*[a - eps * t for a, t in zip(args, v)])
    return (np.asarray(plus) - np.asarray(minus)) / (2.0 * eps)


def _inner(a: Any, b: Any) -> float:
    return float(np.sum(np.asarray(a) * np.asarray(b)))


def _random_like(x: Any, rng: np.random.Generator, scale: Any = 1.0) -> Any:
    r = rng.standard_normal(np.shape(x)) * scale
    return float(r) if np.ndim(x) == 0 else r


def _direction(x: Any, rng: np.random.Generator) -> Any:
    """A random direction whose entry i is scaled by max(1, |x_i|): the step then
    suits every entry, when arguments (or entries) differ in size by orders of
    magnitude (a weight of 0.01 beside a pixel of 200)."""
    return _random_like(x, rng, np.maximum(1.0, np.abs(x)))


def _compare(what: str, numeric: Any, auto: Any, atol: float, rtol: float) -> None:
    numeric, auto = np.asarray(numeric, dtype=float), np.asarray(auto, dtype=float)
    if numeric.shape != auto.shape:
        raise AssertionError(f"check_grads: {what}: shape {auto.shape} from AD but "
                             f"{numeric.shape} from finite differences")
    err = np.abs(numeric - auto)
    bound = atol + rtol * np.abs(numeric)
    if not np.all(err <= bound) or not np.all(np.isfinite(auto)):
        worst = int(np.argmax(err - bound)) if err.size else 0
        raise AssertionError(
            f"check_grads: {what} disagrees with central differences.\n"
            f"  finite differences: {float(numeric.reshape(-1)[worst])!r}\n"
            f"  autodiff:           {float(auto.reshape(-1)[worst])!r}\n"
            f"  absolute error {err.reshape(-1)[worst]:.3g} > tolerance "
            f"{bound.reshape(-1)[worst]:.3g} (atol={atol:g}, rtol={rtol:g})")


def check_grads(f: Callable[..., Any], args: Sequence[Any], order: int = 2,
                modes: Sequence[str] = ("fwd", "rev"), atol: float = 1e-6,
                rtol: float = 1e-5, eps: float = CENTRAL_STEP, seed: int = 0) -> None:
    """Check f's derivatives to `order` against finite differences; raise on mismatch.

    Like `jax.test_util.check_grads`, with its arguments in the same order: in
    forward mode, J·v from `jvp` must equal the central difference of f along a
    random direction v; in reverse mode the pullback must satisfy
    ⟨u, J·v⟩ = ⟨Jᵀ·u, v⟩ for random u and v. For order 2 the same checks run on
    the scalar functions x ↦ ⟨J(x)·v, u⟩ and x ↦ ⟨J(x)ᵀ·u, w⟩ (u shaped like the
    output, w like the inputs), whose derivatives are second derivatives of f.
    Unlike JAX's, `eps` is relative: entry i of the inputs moves by about
    eps·max(1, |x_i|). Raises AssertionError naming the mode, the order and the
    worst entry.
    """
    if not isinstance(args, (tuple, list)):
        raise TypeError("check_grads(f, args, ...): args must be a tuple of arguments, "
                        "e.g. check_grads(f, (x,))")
    if isinstance(modes, str):
        modes = (modes,)
    bad = set(modes) - {"fwd", "rev"}
    if bad:
        raise ValueError(f"check_grads: unknown modes {sorted(bad)}; use 'fwd' and/or 'rev'")
    if order < 1:
        raise ValueError("check_grads: order must be at least 1")
    args = tuple(as_input(a, f"argument {i}") for i, a in enumerate(args))
    _check(f, args, 1, order, modes, eps, atol, rtol, seed)


def _check(f: Callable[..., Any], args: tuple, level: int, order: int,
           modes: Sequence[str], eps: float, atol: float, rtol: float, seed: int) -> None:
    """check_grads from derivatives of order `level` (of the original f) to `order`."""
    rng = np.random.default_rng(seed)
    v = tuple(_direction(a, rng) for a in args)
    numeric = _directional(f, args, v, eps)

    if "fwd" in modes:
        _, tangent = jvp(f, args, v)
        _compare(f"forward mode (jvp) at order {level}", numeric, tangent, atol, rtol)
    if "rev" in modes:
        out, pullback = vjp(f, *args)
        u = _random_like(out, rng)
        cts = pullback(u)
        _compare(f"reverse mode (vjp) at order {level}", _inner(u, numeric),
                 sum(_inner(c, t) for c, t in zip(cts, v)), atol, rtol)

    if level < order:
        w = tuple(_random_like(a, rng) for a in args)
        out_shape = np.shape(np.asarray(numeric))
        u = _random_like(np.zeros(out_shape), rng)
        if "fwd" in modes:
            def jvp_along(*xs: Any) -> Any:
                return tsum(jvp(f, xs, v)[1] * u)
            _check(jvp_along, args, level + 1, order, modes, eps, atol, rtol, seed + 1)
        if "rev" in modes:
            def vjp_along(*xs: Any) -> Any:
                cts = vjp(f, *xs)[1](u)
                total = 0.0
                for c, t in zip(cts, w):
                    total = total + tsum(c * t)
                return total
            _check(vjp_along, args, level + 1, order, modes, eps, atol, rtol, seed + 1)
