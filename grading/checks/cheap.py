"""Checks for cheap gradients (ps4): gradient of a product, CG, the ridge hypergradient."""

from __future__ import annotations

import contextlib
import functools
import inspect
import tracemalloc
from typing import Any, Callable, Iterator

import numpy as np

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from autodiff_lite import hyper

from .. import problems
from ..compare import _array, assert_close
from ..sandbox import Watch, call_student
from ..wengert import _wengert_list
from ._common import check, num, rng
from .lagrange import SOLVERS


def _vectors(r: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """Vectors with no zero, one zero and two zeros (where dividing by x fails)."""
    out = []
    for zeros in (0, 1, 2):
        n = int(r.integers(4, 9))
        x = r.uniform(0.5, 2.0, size=n) * r.choice([-1.0, 1.0], size=n)
        x[r.choice(n, size=zeros, replace=False)] = 0.0
        out.append((f"{zeros} zero entr{'y' if zeros == 1 else 'ies'}", x))
    return out


def _overflowing(r: np.random.Generator) -> np.ndarray:
    """n entries of about 10^(320/n) whose product is 10^320, which overflows to
    inf, while every product of all the entries but one (each gradient entry, each
    prefix and suffix product) stays below 10^280. Dividing the product fails
    there; prefix times suffix never forms it."""
    n = int(r.integers(3, 7))
    spread = r.uniform(-5.0, 5.0, size=n)
    exponents = 320.0 / n + spread - spread.mean()  # they add up to 320 exactly
    return 10.0 ** exponents * r.choice([-1.0, 1.0], size=n)


# The long vector of check_product_gradient and the time it may take, with a wide
# margin both ways, measured on a 2-core machine as call_student calls them:
# prefix and suffix products take 0.1 s with NumPy, 2.3 s as a Python loop
# calling a helper per entry; suffix products built by list.insert(0, ...), which
# moves every entry each time (O(n²) hidden in one call), take 140 s, and a
# product computed separately for each entry far longer. (On 200 000 entries
# list.insert took 3 s, close enough to a 10 s limit that a slower machine
# would have decided the grade.)
LONG_N = 1_000_000
LONG_SECONDS = 20.0


def _long_vector(r: np.random.Generator, seconds: float) -> tuple[str, np.ndarray, float]:
    """LONG_N entries close to 1, so that no partial product under- or overflows,
    and the seconds allowed on them."""
    x = np.exp(r.normal(0.0, 1e-3, size=LONG_N))
    x[r.integers(LONG_N)] = 0.0
    return (f"{LONG_N:,} entries, one of them zero: an O(n) method takes a few seconds "
            f"at most of the {seconds:g} s allowed, O(n²) work (a product per entry, or "
            "list.insert(0, ...) per entry, which moves all the others) minutes",
            x, seconds)


@check
def check_product_gradient(student: Any, method: str, seed: int,
                           seconds: float = LONG_SECONDS) -> str:
    """∇ prod(x), exact even when entries are zero, in O(n) (tried on a long
    vector, in `seconds`); by prefix and suffix products ("dp"), also where
    the whole product overflows. (A default, not a module constant read at
    call time: an answer cell cannot lengthen it through the module's dict.)"""
    r = rng(seed)
    cases: list[tuple[str, np.ndarray, float | None]] = [
        (label, x, None) for label, x in _vectors(r)]
    if method == "dp":
        cases.append(("the whole product overflows to inf, no gradient entry does: "
                      "prefix and suffix products never form it, dividing it fails",
                      _overflowing(r), None))
    cases.append(_long_vector(r, seconds))
    for label, x, limit in cases:
        with np.errstate(over="ignore"):  # the value of f itself may be inf
            expected = ad.grad(anp.prod)(x)
        shown = f"x = {num(x)} ({label})"
        got = call_student(student, x.copy(), name=f"product_grad_{method}",
                           task=f"the gradient of a product ({method})", shown=shown,
                           seconds=limit)
        assert_close(got, expected, f"∇ prod(x) by {method} for {shown}")
    extra = ", and where the whole product overflows" if method == "dp" else ""
    return f"product_grad_{method} runs in O(n) and is exact, zeros included{extra}"


def _spd(r: np.random.Generator, n: int) -> np.ndarray:
    M = r.normal(size=(n, n))
    return M @ M.T + n * np.eye(n)


def _systems(r: np.random.Generator) -> list[tuple[str, np.ndarray, int]]:
    """(description, H, the number of products CG needs in exact arithmetic): small
    random systems, and I + U Uᵀ of size 60 with rank-3 U, which has 4 distinct
    eigenvalues, so CG needs 4 products where building H column by column needs 60."""
    U = r.normal(size=(60, 3))
    return [*((f"a random {n}x{n} positive definite system", _spd(r, n), n)
              for n in (1, 5, 12)),
            ("the 60x60 system I + U Uᵀ (U of rank 3: 4 distinct eigenvalues)",
             np.eye(60) + U @ U.T, 4)]


@check
def check_conjugate_gradient(conjugate_gradient: Any, seed: int) -> str:
    """CG must solve H v = b knowing only v -> H v, in about as many products as
    H has distinct eigenvalues."""
    r = rng(seed)
    for shown, H, needed in _systems(r):
        b = r.normal(size=len(H))
        calls = []

        def matvec(v: Any, H: np.ndarray = H) -> np.ndarray:
            calls.append(1)
            return H @ np.asarray(v, dtype=float)
        expected = np.linalg.solve(H, b)
        got = call_student(conjugate_gradient, matvec, b.copy(), name="conjugate_gradient",
                           task="conjugate gradient", forbidden=SOLVERS, shown=shown)
        if isinstance(got, tuple) and len(got) == 2:
            raise AssertionError(f"conjugate_gradient on {shown} returned a pair; return "
                                 "v alone (lesson 8's version also returned its "
                                 "iteration count)")
        assert_close(got, expected, f"the solution of {shown}", rtol=1e-7, atol=1e-9)
        if len(calls) > 3 * needed + 5:
            raise AssertionError(f"conjugate_gradient used {len(calls)} products H·v on "
                                 f"{shown}; in exact arithmetic {needed} suffice")
    return "conjugate_gradient solves positive definite systems from H·v alone"


def _solves_watched(solve: Any) -> tuple[Watch, list[np.ndarray] | None]:
    """A `watch` for call_student that collects the right-hand sides (the second
    argument) the notebook's `conjugate_gradient` is called with, however it is
    reached (an alias, a functools.partial); [] if there is no such function,
    None if it cannot be watched (a wrapper that hides the function it calls)."""
    rhs: list[np.ndarray] = []
    if solve is None:
        return {}, rhs
    while isinstance(solve, functools.partial):
        solve = solve.func
    try:
        solve = inspect.unwrap(solve)  # a decorator made with functools.wraps
    except ValueError:  # a cycle of __wrapped__
        return {}, None
    code = getattr(solve, "__code__", None)
    if code is None or code.co_argcount < 2:
        return {}, None

    def seen(frame: Any) -> None:
        try:  # np.array as grading imported it: the answer runs while this does
            rhs.append(_array(frame.f_locals[code.co_varnames[1]], dtype=float).ravel())
        except (TypeError, ValueError):
            pass  # not a vector: the student's own solver will say so
    return {code: seen}, rhs


# The features of the third ridge problem: H = 2XᵀX + 2λI takes 32 MB there,
# where an answer that only applies it to vectors holds well under 1 MB at once.
WIDE_FEATURES = 2000


@contextlib.contextmanager
def _peak_bytes() -> Iterator[Callable[[], int]]:
    """The most memory the block held at once beyond what it started with, as
    tracemalloc sees it (NumPy reports its arrays' data to it)."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    result = [0]
    try:
        yield lambda: result[0]
    finally:
        result[0] = tracemalloc.get_traced_memory()[1] - start
        if not was_tracing:
            tracemalloc.stop()


def _solves_other_than(solves: list[np.ndarray], b: np.ndarray) -> bool:
    """Whether a right-hand side is not a multiple of `b` (a solve other than w*'s):
    Cauchy-Schwarz short of equality, in array products alone (no function an
    answer cell could have replaced)."""
    for rhs in solves:
        if rhs.shape != b.shape or (rhs @ b) ** 2 < (1 - 1e-8) * (rhs @ rhs) * (b @ b):
            return True
    return False


@check
def check_ridge_hypergradient(ridge_hypergradient: Any, seed: int) -> str:
    """dV/dλ of the ridge problem by the IFT, against the reference's CG on HVPs.

    The value alone does not show the method: finite differences in λ (two
    solves for w*) or gradient descent unrolled and differentiated also match it.
    The IFT solves a second system, H v = ∇_w V(w*), so the student's
    `conjugate_gradient` (from the function's globals, as the notebook defines
    it) is watched for a right-hand side that is not the training one, X_trainᵀ y_train.
    """
    r = rng(seed)
    names = getattr(ridge_hypergradient, "__globals__", {})
    for features in (5, 5, WIDE_FEATURES):
        problem = hyper.make_problem(n_train=30, n_val=20, n_features=features,
                                     seed=int(r.integers(1 << 30)))
        lam = float(r.uniform(0.1, 5.0))
        expected = hyper.hypergradient(problem, lam).gradient
        shown = f"a ridge problem with {features} features and λ = {num(lam)}"
        data = [np.copy(a) for a in (problem.X_train, problem.y_train, problem.X_val,
                                     problem.y_val)]
        watch, rhs = _solves_watched(names.get("conjugate_gradient"))
        wide = features == WIDE_FEATURES
        with _peak_bytes() if wide else contextlib.nullcontext(lambda: 0) as peak:
            got = call_student(ridge_hypergradient, *data, lam, name="ridge_hypergradient",
                               task="the hypergradient with conjugate gradient",
                               forbidden=SOLVERS, shown=shown, watch=watch)
        assert_close(got, expected, f"dV/dλ for {shown}", rtol=1e-6, atol=1e-9)
        h_bytes = features * features * 8
        if wide and peak() > h_bytes / 4:
            raise AssertionError(
                f"ridge_hypergradient on {shown}: the value is right, but it held "
                f"{peak() / 1e6:.0f} MB at once, as much as H itself ({features} x "
                f"{features} numbers, {h_bytes / 1e6:.0f} MB): some {features} x {features} "
                "matrix was formed, H, XᵀX, or X_valᵀX_val in ∇_w V. Multiply vectors from "
                "the right, Xᵀ(X w) and never (XᵀX) w, so that no such matrix is ever made")
        if rhs is not None and not _solves_other_than(rhs, problem.X_train.T @ problem.y_train):
            calls = (f"made {len(rhs)} call(s) to the conjugate_gradient it uses, none of "
                     "them to solve H v = ∇_w V(w*) for v" if rhs
                     else "never calls conjugate_gradient to solve H v = ∇_w V(w*) for v")
            raise AssertionError(
                f"ridge_hypergradient on {shown}: the value is right, but it {calls}. The "
                "implicit function theorem needs that solve besides the one for w*, and the "
                "exercise asks for it by the function named conjugate_gradient (not another "
                "solver); finite differences in λ, differentiating the training loop or a "
                "function that does the whole computation (hyper.hypergradient) are other "
                "methods, not the one asked for")
    return "ridge_hypergradient matches the implicit-function-theorem reference"


def _chain_product(*xs: Any) -> Any:
    out = xs[0]
    for x in xs[1:]:
        out = out * x
    return out


def _programs(r: np.random.Generator) -> list[tuple[str, Any, list[float]]]:
    n = int(r.integers(3, 8))
    return [
        ("Liu's f", lambda a, b: anp.log(a) + a * b - anp.sin(b), [2.0, 5.0]),
        ("Vieira's f (b = a * a: the parent a counts twice)",
         lambda x: problems.seed000_f(anp, x), [float(r.uniform(-1, 0))]),
        (f"the product of {n} numbers", _chain_product,
         [float(v) for v in r.uniform(0.5, 2.0, size=n)]),
    ]


@check
def check_cost_ratio(cost_ratio: Any, seed: int) -> str:
    """cost(f and ∇f by reverse mode) / cost(f), counted on the Wengert list."""
    for name, f, args in _programs(rng(seed)):
        tape = ad.trace(f, *args)
        ops = sum(1 for rec in tape.records if rec[0] is not None)
        edges = sum(1 for rec in tape.records if rec[0] is not None
                    for p in rec[2] if p >= 0)
        expected = (ops + edges) / ops
        nodes = _wengert_list(f, *args)
        got = call_student(cost_ratio, nodes, name="cost_ratio", task="the cost count",
                           shown=f"the Wengert list of {name}")
        assert_close(got, expected, f"the cost ratio for {name} ({ops} operations, "
                     f"{edges} edges)")
    return "cost_ratio counts the reverse sweep right"
