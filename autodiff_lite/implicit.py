"""Implicit differentiation: fixed points and linear solves instead of unrolled loops.

`fixed_point(F, x, z0)` iterates z ← F(z, x) to a solution z* = F(z*, x). Reverse
mode through the loop would record every iteration; instead the whole loop is one
primitive of the rule table, whose derivative comes from the implicit function
theorem applied to g(z, x) = z - F(z, x) = 0:

    ∂g/∂z · dz* = -∂g/∂x · dx   ⇔   (I - ∂F/∂z) dz* = ∂F/∂x dx.

JVP rule: solve (I - ∂F/∂z) t_z = ∂F/∂x t_x. VJP rule: solve (I - ∂F/∂z)ᵀ w = g and
return (∂F/∂x)ᵀ w. The products with ∂F/∂z and ∂F/∂x are `jvp`s and `vjp`s of F
itself, and each linear solve is again a fixed point (t = ∂F/∂z t + r converges
whenever the forward iteration does, at the same rate), so the rules are written
with library operations and can be differentiated again (second derivatives) by
the same theorem. Memory does not grow with the number of iterations.

This is the cyclic case of "backprop is a linear solve" (Tim Vieira, "Backprop is
not just the chain rule", 2017): the constraint z = F(z, x) refers to itself, the
multipliers solve a general linear system instead of a triangular one.

`conjugate_gradient` solves symmetric positive definite systems given only a
matrix-vector product, e.g. a Hessian-vector product (`hvp`), so the Hessian of a
bilevel problem is never formed (see `autodiff_lite.hyper`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import api
from .core import Primitive, TracerBase, bind, primal, shape, zeros_like
from .rules import RULES, EveryArgument, register

#: Default tolerance: stop when |F(z) - z| <= tol * max(1, |z|) (max norms).
TOL = 1e-12
MAX_ITER = 10_000
#: Up to this many unknowns the IFT rules check that I - ∂F/∂z is invertible
#: (forming ∂F/∂z costs one JVP of F per unknown); above it, only non-convergence
#: of the linear solve reveals a singular system.
SINGULARITY_CHECK_LIMIT = 500


class FixedPointError(RuntimeError):
    """An iteration did not converge; `iterations` and `residual` say how far it got."""

    def __init__(self, message: str, iterations: int, residual: float) -> None:
        super().__init__(message)
        self.iterations = iterations
        self.residual = residual


class ImplicitFunctionError(ValueError):
    """∂g/∂z is singular at the solution: z* is not a differentiable function of x there."""


@dataclass(frozen=True)
class Iteration:
    """Outcome of `iterate`: the fixed point, how many steps it took, the last residual."""

    z: Any
    iterations: int
    residual: float


def _norm(v: Any) -> float:
    return float(np.max(np.abs(v), initial=0.0))


def iterate(F: Callable[[Any, Any], Any], x: Any, z0: Any, tol: float = TOL,
            max_iter: int = MAX_ITER) -> Iteration:
    """z ← F(z, x) on plain values until |F(z) - z| <= tol·max(1, |z|).

    Keeps only the current iterate, so memory is independent of the iterations.
    """
    z = z0
    res = float("inf")
    for k in range(1, max_iter + 1):
        z_new = F(z, x)
        if isinstance(z_new, TracerBase):
            raise TypeError(
                "F(z, x) returned a traced value while iterating on plain values: F "
                "uses a variable being differentiated that is not passed through x. "
                "Pass everything F depends on differentiably in x (a tuple is fine)")
        if shape(z_new) != shape(z0):
            raise ValueError(f"F(z, x) returned shape {shape(z_new)} but z0 has shape "
                             f"{shape(z0)}: F must map z to a value of the same shape")
        res = _norm(np.asarray(z_new) - np.asarray(z))
        z = z_new
        if not np.isfinite(res):
            raise FixedPointError(
                f"fixed_point diverged: |F(z) - z| is {res} after {k} iteration(s). "
                "F must be a contraction near the fixed point; try another z0",
                k, res)
        if res <= tol * max(1.0, _norm(z)):
            return Iteration(float(z) if not shape(z) else z, k, res)
    raise FixedPointError(
        f"fixed_point did not converge in {max_iter} iterations: the last residual "
        f"|F(z) - z| = {res:.3g} is above tol = {tol:g} (relative to max(1, |z|)). "
        "F must be a contraction near the fixed point; raise max_iter, loosen tol or "
        "start from a z0 closer to the solution", max_iter, res)


# --------------------------------------------------------------- the primitive

def _call(F: Callable, z: Any, xs: tuple, packed: bool) -> Any:
    return F(z, tuple(xs)) if packed else F(z, xs[0])


def _impl(*xs: Any, F: Callable, z0: Any, tol: float, max_iter: int, packed: bool) -> Any:
    return iterate(lambda z, _: _call(F, z, xs, packed), None, z0, tol, max_iter).z


def _check_invertible(F: Callable, z: Any, xs: tuple, packed: bool) -> None:
    """Refuse a singular I - ∂F/∂z at z* (small problems only; see the limit above)."""
    zp, xp = primal(z), tuple(primal(a) for a in xs)
    m = int(np.prod(shape(zp)))
    if m > SINGULARITY_CHECK_LIMIT:
        return
    J = np.asarray(api.jacfwd(lambda zz: _call(F, zz, xp, packed))(zp), dtype=float)
    s = np.linalg.svd(np.eye(m) - J.reshape(m, m), compute_uv=False)
    # Numerically singular, as for numpy.linalg.matrix_rank: merely ill-conditioned
    # systems (a condition number of 1e8, say) still have a solution worth having.
    if s[-1] <= m * np.finfo(float).eps * s[0]:
        raise ImplicitFunctionError(
            f"∂g/∂z = I - ∂F/∂z is singular at the fixed point (smallest singular value "
            f"{s[-1]:.3g}): the implicit function theorem does not apply, so it cannot "
            "give dz*/dx there (z* may not be differentiable, as at a repeated root or "
            "on a continuum of fixed points, or may be without this linear system "
            "deciding its derivative)")


def _solve_tangent(F: Callable, z: Any, xs: tuple, packed: bool, r: Any,
                   transpose: bool, tol: float, max_iter: int) -> Any:
    """Solve (I - ∂F/∂z) s = r, or its transpose, as the fixed point s = ∂F/∂z s + r."""
    _check_invertible(F, z, xs, packed)

    def step(s: Any, p: tuple) -> Any:
        r_, z_, xs_ = p[0], p[1], p[2:]

        def F_z(zz: Any) -> Any:
            return _call(F, zz, xs_, packed)

        if transpose:
            return api.vjp(F_z, z_)[1](s)[0] + r_
        return api.jvp(F_z, (z_,), (s,))[1] + r_

    # The iteration stops on |change| <= tol·max(1, |s|), an absolute test for a
    # small s: solve for s / c with c = |r| instead (the system is linear), so a
    # gradient of 1e-13 gets as many correct digits as a gradient of 1.
    c = _norm(primal(r)) or 1.0
    try:
        return c * fixed_point(step, (r / c, z) + tuple(xs), zeros_like(z), tol, max_iter)
    except FixedPointError as err:
        raise ImplicitFunctionError(
            f"the linear solve of the implicit function theorem, (I - ∂F/∂z"
            f"{'ᵀ' if transpose else ''}) s = r, did not converge ({err.iterations} "
            f"iterations, residual {err.residual:.3g}): ∂F/∂z has an eigenvalue of "
            "modulus >= 1 at the fixed point, so I - ∂F/∂z is singular or the fixed "
            "point is not attracting") from None


def _replace(xs: tuple, i: int, xi: Any) -> tuple:
    return xs[:i] + (xi,) + xs[i + 1:]


def _jvp_rule(i: int, t: Any, z: Any, *xs: Any, F: Callable, z0: Any, tol: float,
              max_iter: int, packed: bool) -> Any:
    """t_z = (I - ∂F/∂z)⁻¹ ∂F/∂x_i t: the tangent of z* from a tangent of x_i."""
    _, r = api.jvp(lambda xi: _call(F, z, _replace(xs, i, xi), packed), (xs[i],), (t,))
    return _solve_tangent(F, z, xs, packed, r, False, tol, max_iter)


def _vjp_rule(i: int, g: Any, z: Any, *xs: Any, F: Callable, z0: Any, tol: float,
              max_iter: int, packed: bool) -> Any:
    """(∂F/∂x_i)ᵀ w with (I - ∂F/∂z)ᵀ w = g: the cotangent of x_i from one of z*.

    The tape calls this rule once per argument, so with a tuple x the adjoint
    system is solved once per entry of the tuple (simple, not the cheapest).
    """
    w = _solve_tangent(F, z, xs, packed, g, True, tol, max_iter)
    return api.vjp(lambda xi: _call(F, z, _replace(xs, i, xi), packed), xs[i])[1](w)[0]


FIXED_POINT = RULES.get("fixed_point") or register(Primitive(
    "fixed_point", _impl, EveryArgument(_jvp_rule), EveryArgument(_vjp_rule)))


def fixed_point(F: Callable[[Any, Any], Any], x: Any, z0: Any, tol: float = TOL,
                max_iter: int = MAX_ITER) -> Any:
    """The solution z* of z = F(z, x), reached by iterating from z0; differentiable in x.

    F(z, x) must be written with library operations (operators, `autodiff_lite.numpy`)
    and return z's shape. x may be a float, an array or a tuple of them (F then
    receives the tuple); everything F depends on differentiably must come through
    x. `grad`, `vjp`, `jvp` and their nestings differentiate z* by the implicit
    function theorem (one linear solve, no unrolling); z0 is not differentiated.
    Raises FixedPointError when the iteration does not converge and
    ImplicitFunctionError when z* is differentiated where I - ∂F/∂z is singular.
    """
    if not callable(F):
        raise TypeError(f"F must be a function F(z, x), got {type(F).__name__}")
    if tol <= 0 or max_iter < 1:
        raise ValueError(f"need tol > 0 and max_iter >= 1, got tol={tol}, max_iter={max_iter}")
    packed = isinstance(x, tuple)
    xs = tuple(api.as_input(a, f"x[{i}]") for i, a in enumerate(x)) if packed \
        else (api.as_input(x, "x"),)
    z0 = api.as_input(primal(z0), "z0")
    return bind(FIXED_POINT, *xs, F=F, z0=z0, tol=float(tol), max_iter=int(max_iter),
                packed=packed)


# ---------------------------------------------------------- conjugate gradient

def conjugate_gradient(matvec: Callable[[np.ndarray], Any], b: Any, tol: float = 1e-10,
                       max_iter: int | None = None) -> np.ndarray:
    """Solve H v = b for symmetric positive definite H, knowing only v ↦ H v.

    Each step costs one `matvec` (for a Hessian: one `hvp`, a constant times the
    cost of the function), and the Hessian itself is never stored. In exact
    arithmetic it finishes in at most n steps; stops when |H v - b| <= tol·|b|
    (Euclidean norms). Raises FixedPointError when it does not converge and
    ValueError when H is not positive definite along a search direction.
    """
    b = np.asarray(b, dtype=float)
    n = b.size
    max_iter = 10 * max(n, 1) if max_iter is None else max_iter
    v = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rr = float(np.vdot(r, r))
    target = tol * np.sqrt(float(np.vdot(b, b)))
    if np.sqrt(rr) <= target:
        return v
    for k in range(1, max_iter + 1):
        Hp = np.asarray(matvec(p), dtype=float)
        if Hp.shape != b.shape:
            raise ValueError(f"matvec returned shape {Hp.shape} for a vector of shape "
                             f"{b.shape}: H must be square, the size of b")
        curvature = float(np.vdot(p, Hp))
        if not curvature > 0:
            raise ValueError(
                f"conjugate_gradient: pᵀHp = {curvature:.3g} <= 0 at step {k}: H is not "
                "positive definite. CG needs a symmetric positive definite system (a "
                "Hessian at a strict minimum); use another solver otherwise")
        alpha = rr / curvature
        v = v + alpha * p
        r = r - alpha * Hp
        rr_new = float(np.vdot(r, r))
        if np.sqrt(rr_new) <= target:
            return v
        p = r + (rr_new / rr) * p
        rr = rr_new
    raise FixedPointError(
        f"conjugate_gradient did not converge in {max_iter} iterations: residual "
        f"|Hv - b| = {np.sqrt(rr):.3g} > {target:.3g}. H may be ill-conditioned or not "
        "symmetric; raise max_iter or loosen tol", max_iter, float(np.sqrt(rr)))
