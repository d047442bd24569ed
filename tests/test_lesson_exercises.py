"""The lessons' self-check cells, run on right and wrong answers.

nbval runs every lesson as stored, where each exercise is still a stub: that
shows a check cell runs, not that it tells a right answer from a wrong one.
Here each lesson runs in this process, up to the exercise's check cell (the
cells a learner would have run), then a learner's answer is defined and the
check cell run again, and its one line is compared with what a learner should
read.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import matplotlib
import pytest

from autodiff_lite.rules import RULES

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

pytestmark = [pytest.mark.grading, pytest.mark.slow]

LESSONS = Path(__file__).resolve().parent.parent / "notebooks"


@functools.cache
def _code_cells(lesson: str) -> tuple[str, ...]:
    path = next(LESSONS.glob(f"{lesson}_*.ipynb"))
    cells = json.loads(path.read_text())["cells"]
    return tuple("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def _check_cell(cells: tuple[str, ...], exercise: str) -> int:
    """The first cell that checks `exercise` (later ones are the Solutions section's)."""
    for k, source in enumerate(cells):
        if f'("{exercise}",' in source and ("check_answer(" in source
                                             or "check_exercise(" in source):
            return k
    raise LookupError(f"no check cell for {exercise}")


# per lesson: its namespace, and how many of its code cells have run in it
_RUN: dict[str, tuple[dict[str, Any], int]] = {}


def _lesson_until(lesson: str, upto: int) -> dict[str, Any]:
    """The lesson's namespace after its code cells before `upto`, run once per lesson."""
    ns, done = _RUN.get(lesson) or ({}, 0)
    if done > upto:  # it ran past this exercise: later cells may have redefined names
        ns, done = {}, 0
    cells = _code_cells(lesson)
    if done < upto:
        cwd = os.getcwd()
        os.chdir(LESSONS)  # as Jupyter runs a notebook: from its folder
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                for source in cells[done:upto]:
                    exec(compile(source, f"<{lesson}>", "exec"), ns)  # noqa: S102
        finally:
            os.chdir(cwd)
            plt.close("all")  # the lesson's figures, drawn on Agg, are not needed
        done = upto
    _RUN[lesson] = (ns, done)
    return ns


def _answer(lesson: str, exercise: str, answer: str, restarted: bool = False) -> str:
    """What the check cell of `exercise` prints for `answer` (code defining it).

    An answer cell may stop with an error, which is then the kernel's last error
    (`sys.last_value`, as IPython keeps it). `restarted`: a learner who restarted
    the kernel and ran only the imports, the exercise cell (with `answer`) and
    the check cell."""
    cells = _code_cells(lesson)
    check = _check_cell(cells, exercise)
    if restarted:
        ns: dict[str, Any] = {}
        with contextlib.redirect_stdout(io.StringIO()):
            for source in (cells[0], cells[check - 1]):
                exec(compile(source, f"<{lesson}>", "exec"), ns)  # noqa: S102
    else:
        ns = dict(_lesson_until(lesson, check))  # the answer stays out of the next case
    try:
        exec(compile(answer, "<answer>", "exec"), ns)  # noqa: S102  (named apart, as Jupyter's cells)
    except Exception as err:  # noqa: BLE001
        sys.last_type, sys.last_value, sys.last_traceback = type(err), err, err.__traceback__
    out = io.StringIO()
    rows = set(RULES)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(cells[check], "<check>", "exec"), ns)  # noqa: S102
    finally:
        for name in set(RULES) - rows:  # lesson 08's exercise 2 registers a row
            del RULES[name]
        for name in ("last_type", "last_value", "last_traceback"):
            if hasattr(sys, name):
                delattr(sys, name)
    return out.getvalue().strip()


SOURCE = LESSONS.parent / "course" / "source"


@functools.cache
def _solution(assignment: str, name: str) -> str:
    """The problem set's solution cell defining `name`: lessons 04, 05, 07 and 08
    ask for some of the same functions, checked by the same graded checks."""
    cells = json.loads((SOURCE / assignment / f"{assignment}.ipynb").read_text())["cells"]
    return next("".join(c["source"]) for c in cells
                if c["metadata"].get("nbgrader", {}).get("solution")
                and f"def {name}(" in "".join(c["source"]))


HAND_H = """
def h_and_derivative(x):
    a = x ** 2
    b = np.sin(a)
    h = b * x
    b_bar = x                    # h = b x
    x_bar = b
    a_bar = b_bar * np.cos(a)    # b = sin a
    x_bar += a_bar * 2 * x       # a = x²: x is used twice, its adjoints add up
    return h, x_bar
"""

DUAL_JACOBIAN = """
def jacobian(f, x):
    columns = []
    for j in range(len(x)):
        outputs = f([ad.Dual(v, 1.0 if i == j else 0.0) for i, v in enumerate(x)])
        columns.append([y.tangent if isinstance(y, ad.Dual) else 0.0 for y in outputs])
    return np.array(columns).T
"""

FORWARD_LOG_Z = """
def log_Z_ex2(psi):
    alpha = pi2 * psi[0]
    for t in range(1, len(psi)):
        alpha = (alpha @ A2) * psi[t]
    return anp.log(anp.sum(alpha))

marginals_ex2 = psi2 * ad.grad(log_Z_ex2)(psi2)
"""

# right numbers, and log Z right too, but summed over all K**T paths
BY_ENUMERATION = """
def log_Z_ex2(psi):
    total = 0.0
    for path in itertools.product(range(K2), repeat=len(psi)):
        p = pi2[path[0]] * psi[0, path[0]]
        for t in range(1, len(psi)):
            p = p * A2[path[t - 1], path[t]] * psi[t, path[t]]
        total = total + p
    return anp.log(total)

marginals_ex2 = psi2 * ad.grad(log_Z_ex2)(psi2)
"""

# the same sum over all K**T paths, vectorised: a tape of a few nodes, whose
# arithmetic still grows like K**T
BY_VECTORISED_ENUMERATION = """
def log_Z_ex2(psi):
    T = len(psi)
    paths = np.array(list(itertools.product(range(K2), repeat=T)))
    weights = pi2[paths[:, 0]] * np.prod(A2[paths[:, :-1], paths[:, 1:]], axis=1)
    return anp.log(anp.sum(weights * anp.prod(psi[np.arange(T)[None, :], paths], axis=1)))

marginals_ex2 = psi2 * ad.grad(log_Z_ex2)(psi2)
"""

# the log trick, with its zero cases: right to about 1e-13, and not the method asked for
LOG_TRICK = """
def product_grad_dp(x):
    x = np.asarray(x, dtype=float)
    zeros = x == 0
    if zeros.sum() > 1:
        return np.zeros_like(x)
    rest = np.where(zeros, 1.0, x)
    logs = np.log(np.abs(rest))
    sign = np.prod(np.sign(rest))
    if zeros.any():
        return np.where(zeros, sign * np.exp(logs.sum()), 0.0)
    return sign * np.sign(rest) * np.exp(logs.sum() - logs)
"""

PRODUCT_HESSIAN = """
def product_hessian(x):
    x = np.asarray(x, dtype=float)
    n = len(x)
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j:
                H[i, j] = np.prod(np.delete(x, [i, j]))
    return H
"""

_CASES = [
    ("01", "Exercise 1", "def my_grad_g(x1, x2):\n    e = np.exp(x1 * x2)\n"
     "    return (2 * x1 * x2 + x2 * e, x1 ** 2 + x1 * e)", "✓"),
    ("01", "Exercise 1", "def my_grad_g(x1, x2):\n    e = np.exp(x1 * x2)\n"
     "    return (2 * x1 * x2 + x2 * e + 1e-9, x1 ** 2 + x1 * e)", "✗ Exercise 1: not yet. the gradient at ["),
    ("01", "Exercise 1", "def my_grad_g(x1, x2):\n    return (1.0, 2.0, 3.0)",
     "must return two numbers"),
    ("01", "Exercise 1", "def my_grad_g(x1, x2):\n    return ad.grad(lambda a, b: a ** 2 * b + "
     "anp.exp(a * b), argnums=(0, 1))(x1, x2)", "in plain NumPy, and your code calls ad.grad"),
    ("01", "Exercise 1", "my_grad_g = ad.grad(lambda a, b: a ** 2 * b + anp.exp(a * b), "
     "argnums=(0, 1))", "and your code calls ad.grad"),
    ("01", "Exercise 1", "def my_grad_g(x1, x2):\n    from autodiff_lite import grad as G\n"
     "    return G(lambda a, b: a ** 2 * b + anp.exp(a * b), argnums=(0, 1))(x1, x2)",
     "and your code calls ad.grad"),
    ("01", "Exercise 2", "best_central_exponent = -6", "✓"),
    ("01", "Exercise 2", "best_central_exponent = 1e-6", "answer with the exponent"),
    ("01", "Exercise 2", "best_central_exponent = -4", "another step gives a smaller error"),
    ("02", "Exercise 2", "quotient = (3.0, 5.0)", "✓"),
    ("02", "Exercise 2", "quotient = np.array([3.0, 5.0])", "✓"),
    ("02", "Exercise 2", "quotient = (3.0, 1.0)", "the tangent part 1.0 is not it"),
    ("02", "Exercise 2", "quotient = ad.Dual(3.0, 2.0) / ad.Dual(1.0, -1.0)",
     "quotient must be a pair"),
    ("02", "Exercise 3", DUAL_JACOBIAN, "✓"),
    ("02", "Exercise 3", "def jacobian(f, x):\n    return ad.jacfwd(lambda v: anp.stack(f(list(v))))"
     "(np.array(x, dtype=float))", "build this from ad.Dual, and your code calls ad.jacfwd"),
    ("02", "Exercise 3", "from autodiff_lite import jacfwd\ndef jacobian(f, x):\n    return "
     "jacfwd(lambda v: anp.stack(f(list(v))))(np.array(x, dtype=float))",
     "and your code calls ad.jacfwd"),
    ("03", "Exercise 1", "grad_L = (1.8394,)", "grad_L must be a pair"),
    ("03", "Exercise 1", "grad_L = 1.8394", "grad_L must be a pair"),
    ("03", "Exercise 2", HAND_H, "✓"),
    ("03", "Exercise 2", "def h_and_derivative(x):\n    f = lambda t: np.sin(t * t) * t\n"
     "    return f(x), (f(x + 1e-5) - f(x - 1e-5)) / 2e-5", "no step makes one exact"),
    ("03", "Exercise 2", "def h_and_derivative(x):  # the complex step: exact to rounding\n"
     "    f = lambda t: np.sin(t * t) * t\n    return f(x), f(x + 1e-30j).imag / 1e-30",
     "complex-step method"),
    ("03", "Exercise 2", "def h_and_derivative(x):  # the complex step, through a helper\n"
     "    return np.sin(x * x) * x, complex_step(lambda t: np.sin(t * t) * t, x)\n"
     "def complex_step(f, x):\n    return np.imag(f(complex(x, 1e-30))) * 1e30",
     "complex-step method, numerical differentiation, and your code uses complex, imag"),
    ("03", "Exercise 2", HAND_H.replace("x_bar += a_bar", "x_bar = a_bar"),
     "x is used twice, by a = x² and by h = b·x"),
    ("03", "Exercise 2", HAND_H.replace("return h, x_bar", "return 0.0, x_bar"),
     "the value h is wrong"),
    ("03", "Exercise 2", HAND_H.replace("return h, x_bar", "return x_bar"),
     "h_and_derivative must return the pair (h, x_bar)"),
    ("03", "Exercise 2", "def h_and_derivative(x):\n"
     "    return np.sin(x ** 2) * x, ad.grad(lambda t: anp.sin(t ** 2) * t)(x)",
     "by hand, in plain NumPy, and your code calls ad.grad"),
    ("05", "Exercise 1", "dz_dx_at_2, dz_dx_at_10 = 0.25, 0.0769", "✓"),
    ("05", "Exercise 1", "dz_dx_at_2, dz_dx_at_10 = 0.25, 1 / 12",
     "at x = 10: 0.08333333333333333 is not within 5e-5 of dz/dx"),
    # as its text says: hyper.ridge_weights, ad.grad, ad.hvp, ad.jvp, conjugate_gradient
    # (check_exercise hands the check a wrapper, which must show the check the
    # notebook's conjugate_gradient: the check watches it for the adjoint solve)
    ("05", "Exercise 3", """
def ridge_hypergradient(X_train, y_train, X_val, y_val, lam):
    problem = hyper.RidgeProblem(X_train, y_train, X_val, y_val)
    w = hyper.ridge_weights(problem, lam)
    grad_V = ad.grad(lambda w: hyper.validation_loss(w, X_val, y_val))(w)
    v = conjugate_gradient(lambda p: ad.hvp(
        lambda w: hyper.training_loss(w, lam, X_train, y_train), w, p), grad_V, tol=1e-12)
    mixed = ad.jvp(lambda t: ad.grad(
        lambda w: hyper.training_loss(w, t, X_train, y_train))(w), (lam,), (1.0,))[1]
    return -float(v @ mixed)
""", "✓"),
    ("06", "Exercise 1", "def value_and_grad_by_hand(x):\n    t = anp.tanh(x)\n"
     "    return anp.sum(x * t), t + x * (1 - t * t)", "✓"),
    ("06", "Exercise 1", "def value_and_grad_by_hand(x):\n    t = anp.tanh(x)\n"
     "    return anp.sum(x * t), anp.tanh(x) + x * (1 - anp.tanh(x) ** 2)",
     "computes tanh 3 times"),
    ("06", "Exercise 1", "def value_and_grad_by_hand(x):\n    return ad.value_and_grad(f_ex1)(x)",
     "written by hand, with anp operations, and your code calls ad.value_and_grad"),
    ("06", "Exercise 1", "def value_and_grad_by_hand(x):\n    t = anp.tanh(x)\n"
     "    return anp.sum(x * t), ad.grad(f_ex1)(x)", "and your code calls ad.grad"),
    ("06", "Exercise 1", "def value_and_grad_by_hand(x):\n    t = anp.tanh(x)\n"
     "    value, pullback = ad.vjp(lambda v: anp.sum(v * anp.tanh(v)), x)\n"
     "    return value, pullback(1.0)[0]", "and your code calls ad.vjp"),
    ("06", "Exercise 2", FORWARD_LOG_Z, "✓"),
    ("06", "Exercise 2", BY_ENUMERATION, "that is a sum over all paths"),
    ("06", "Exercise 2", FORWARD_LOG_Z + "brute_force_marginals = None  # the lesson's name reused",
     "✓"),
    ("06", "Exercise 2", BY_VECTORISED_ENUMERATION, "that is a sum over all paths"),
    ("06", "Exercise 2", FORWARD_LOG_Z.replace("len(psi)", "T2"), "not T2?"),
    ("06", "Exercise 2", FORWARD_LOG_Z.replace("psi2 * ad.grad", "ad.grad"),
     "log_Z_ex2 is right, but marginals_ex2 misses"),
    ("06", "Exercise 1", "def value_and_grad_by_hand(x):\n    t = anp.tanh(x)\n"
     "    gradient = t + x * (1 - t * t)\n    for _ in range(20):\n"
     "        gradient = gradient * 1.0 + 0.0 * x * t\n    return anp.sum(x * t), gradient",
     "the budget is 3"),
    ("06", "Exercise 1", "def value_and_grad_by_hand(x):\n    t = anp.tanh(x)\n"
     "    return t + x * (1 - t * t), anp.sum(x * t)  # the pair the other way round",
     "Your answer does not have the form the exercise asks for"),
    ("07", "Exercise 2", "def dp_dx(a, b, x):\n    f = a + b * x\n"
     "    return sum(b[i] * np.prod(np.delete(f, i)) for i in range(len(f)))", "✓"),
    ("07", "Exercise 2", "def dp_dx(a, b, x):\n    p = lambda t: np.prod(a + b * t)\n"
     "    return (p(x + 1e-5) - p(x - 1e-5)) / 2e-5", "no step makes one exact"),
    ("07", "Exercise 2", "def dp_dx(a, b, x):  # the complex step: exact to rounding\n"
     "    return np.prod(a + b * (x + 1e-30j)).imag / 1e-30", "complex-step method"),
    ("07", "Exercise 2", """
def dp_dx(a, b, x):  # the division trick, with its zero cases
    f = a + b * x
    zeros = np.flatnonzero(f == 0)
    if len(zeros) == 0:
        return np.prod(f) * np.sum(b / f)
    if len(zeros) == 1:
        return b[zeros[0]] * np.prod(np.delete(f, zeros[0]))
    return 0.0
""", "asks for a division-free method"),
    ("07", "Exercise 2", "def dp_dx(a, b, x):\n"
     "    return ad.derivative(lambda t: anp.prod(a + b * t))(x)",
     "leave-one-out products, in plain NumPy, and your code calls ad.derivative"),
    ("07", "Exercise 2", "def dp_dx(a, b, x):\n    f = a + b * x\n    if np.all(f != 0):\n"
     "        return sum(b[i] * np.prod(np.delete(f, i)) for i in range(len(f)))\n"
     "    # zeros: still to do", "dp_dx returns None at x = 2.0"),
    ("08", "Exercise 1", "def jacobian_row(f, x, i):\n    out, pullback = ad.vjp(f, x)\n"
     "    return pullback(np.eye(len(out))[i])[0]", "✓"),
    ("08", "Exercise 1", "def jacobian_row(f, x, i):\n    return ad.jacfwd(f)(x)[i]",
     "one call of ad.vjp, and your code calls ad.jacfwd"),
    ("08", "Exercise 1", "from autodiff_lite.api import jacfwd as J\ndef jacobian_row(f, x, i):\n"
     "    ad.vjp(f, x)\n    return J(f)(x)[i]", "and your code calls ad.jacfwd"),
    ("08", "Exercise 1", "def jacobian_row(f, x, i):\n    ad.vjp(f, x)\n    out, pullback = ad.vjp(f, x)\n"
     "    return pullback(np.eye(len(out))[i])[0]", "your code makes 2"),
    ("08", "Exercise 4", "def hessian_diagonal(f, x):\n    e, h = np.eye(len(x)), 1e-5\n"
     "    return np.array([(ad.grad(f)(x + h * e[i])[i] - ad.grad(f)(x - h * e[i])[i]) / (2 * h)"
     " for i in range(len(x))])", "and your code calls ad.grad"),
    ("08", "Exercise 4", "def hessian_diagonal(f, x):\n    return np.array([1.0] * len(x))",
     "which your code never calls"),
    ("08", "Exercise 4", "H = ad.hessian\ndef hessian_diagonal(f, x):\n    ad.hvp(f, x, x)\n"
     "    return np.diag(H(f)(x))", "and your code calls ad.hessian"),
    ("08", "Exercise 4", "def hessian_diagonal(f, x):\n    e = np.eye(len(x))\n"
     "    return np.array([ad.hvp(f, x, e[i])[i] for i in range(len(x))])", "✓"),
    ("08", "Exercise 4", "def hessian_diagonal(f, x):\n    e = np.eye(len(x))\n"
     "    return np.array([ad.hvp(f, x, e[i])[i] for i in range(len(x))])\n"
     "logistic_loss = w_newton = None  # the lesson's names reused", "✓"),
    ("08", "Exercise 4", "def hessian_diagonal(f, x):\n    return np.diag(ad.hessian(f)(x))",
     "from ad.hvp alone, and your code calls ad.hessian"),
    ("08", "Exercise 4", "def hessian_diagonal(f, x):\n    ad.hvp(f, x, x)\n"
     "    return np.diag(ad.hessian(f)(x))", "ad.hvp alone, and your code calls ad.hessian"),
    # 01-3: l_{n+1} = (4 * l) * (1 - l) has 5 nodes besides its two copies of l_n
    ("01", "Exercise 3", "def size(n):\n    return 3 * 2 ** n - 5", "✓"),
    ("01", "Exercise 3", "def size(n):  # the constants forgotten\n    return 2 ** (n + 1) - 3",
     "n = 2: size(2) = 5 is not the number of nodes of l_2"),
    ("01", "Exercise 3", "x = 0.7  # as exercise 2 invites\ndef size(n):\n    return 3 * 2 ** n - 5",
     "✓"),
    ("01", "Exercise 2", "best_central_exponent = -6\nf = f_prime = None  # names reused", "✓"),
    # 02-1: df/dx2 = x1 - cos(x2) = 2 - cos 5
    ("02", "Exercise 1", "dy_dx2 = 1.716", "✓"),
    ("02", "Exercise 1", "dy_dx2 = 2.284  # the sign of sin's tangent flipped",
     "2.284 is not within 1e-3 of ∂f/∂x2"),
    ("02", "Exercise 1", "dy_dx2 = (5.5, 1.716)  # the value too", "should be one number"),
    ("02", "Exercise 1", "del dy_dx2  # the check cell run before the exercise cell",
     "not checked yet (name 'dy_dx2' is not defined). Run the cells above this one first"),
    ("02", "Exercise 1", "dy_dx2 = f(ad.Dual(2.0, 0.0), ad.Dual(5.0, 1.0))  # the dual number",
     "give the number ∂f/∂x2 itself, its tangent part (.tangent)"),
    ("02", "Exercise 1", "dy_dx2 = 1.716\nf = 'my function'  # the name reused", "✓"),
    # 03-1: at (e, 4), v2 = 4 and dL/dv2 = 1 + 1/(2·2): (4/e · 1.25, 1 · 1.25)
    ("03", "Exercise 1", "grad_L = (1.8394, 1.25)", "✓"),
    ("03", "Exercise 1", "grad_L = (1.4715, 1.0)  # the path through the sqrt forgotten",
     "dL/dw1: 1.4715 is not within 1e-3"),
    ("03", "Exercise 1", "grad_L = (1.25, 1.8394)", "right but swapped: grad_L is (dL/dw1, dL/dw2)"),
    ("03", "Exercise 1", "grad_L = (1.8394, 1.25)\nL = np.float64(3.2)  # the loss's value", "✓"),
    ("03", "Exercise 3", "backward_passes_jacobian = 10\nforward_passes_jacobian = 10 ** 6\n"
     "backward_passes_loss_gradient = 1", "✓"),
    ("03", "Exercise 3", "backward_passes_jacobian = 10 ** 6\nforward_passes_jacobian = 10\n"
     "backward_passes_loss_gradient = 1", "one backward pass (VJP) per output"),
    ("04", "Exercise 1", _solution("ps3_lagrangian", "assemble"), "✓"),
    ("04", "Exercise 1", _solution("ps3_lagrangian", "assemble")
     + "\n_right = assemble\ndef assemble(nodes):  # row and column swapped\n"
     "    A, b = _right(nodes)\n    return A.T, b", "(row i = variable, column k = constraint)"),
    ("04", "Exercise 1", _solution("ps3_lagrangian", "assemble").replace("return A, b", "return A"),
     "expected a pair (A, b), got a NumPy array of shape"),
    ("04", "Exercise 2", _solution("ps3_lagrangian", "back_substitute"), "✓"),
    ("04", "Exercise 2", "def back_substitute(A, b):\n    return np.linalg.solve(A, b)",
     "numpy.linalg"),
    ("04", "Exercise 3", "def nonzeros_dense_block(L):\n    return L * (L + 1) // 2\n"
     "def multiplications_dense_block(L):\n    return L * (L - 1) // 2", "✓"),
    ("04", "Exercise 3", "def nonzeros_dense_block(L):\n    return L * L\n"
     "def multiplications_dense_block(L):\n    return L * L - L",
     "L = 2: 4 is not the number of nonzeros of A. Section 7 draws A"),
    ("04", "Exercise 3", "def nonzeros_dense_block(L):\n    return L * (L + 1) // 2\n"
     "def multiplications_dense_block(L):\n    return L * L - L",
     "L = 2: 2 is not the number of multiplications: one per nonzero above the diagonal"),
    ("05", "Exercise 2", "def F_value(V, r):\n    return r + gamma * anp.matmul(P, V)\n"
     "grad_V0 = ad.grad(lambda r: ad.fixed_point(F_value, r, np.zeros(4))[0])(rewards)", "✓"),
    ("05", "Exercise 2", "def F_value(V, r):\n    return r + gamma * anp.matmul(P.T, V)\n"
     "grad_V0 = ad.grad(lambda r: ad.fixed_point(F_value, r, np.zeros(4))[0])(rewards)",
     "fixed point of F_value"),
    ("05", "Exercise 2", "def F_value(V, r):\n    return r + gamma * anp.matmul(P, V)\n"
     "grad_V0 = np.ones(4)  # dV0/dr0 only, as if V0 were r0", "dV0/dr: expected"),
    ("05", "Exercise 2", "def F_value(V, r):\n    return r + gamma * anp.matmul(P, V)\n"
     "grad_V0 = ad.grad(lambda r: ad.fixed_point(F_value, r, np.zeros(4)))(rewards)  # all of V",
     "the exercise cell did not finish: it raised"),
    ("05", "Exercise 3", _solution("ps4_cheap_gradients", "ridge_hypergradient")
     + "\n_right = ridge_hypergradient\ndef ridge_hypergradient(*data):  # a sign slip\n"
     "    return -_right(*data)",
     "dV/dλ for a ridge problem"),
    ("05", "Exercise 3", "def ridge_hypergradient(X_train, y_train, X_val, y_val, lam):\n"
     "    problem = hyper.RidgeProblem(X_train, y_train, X_val, y_val)\n"
     "    return hyper.hypergradient(problem, lam).gradient",
     "never calls conjugate_gradient to solve"),
    ("05", "Exercise 3", """
def ridge_hypergradient(X_train, y_train, X_val, y_val, lam):  # X_valᵀX_val formed
    problem = hyper.RidgeProblem(X_train, y_train, X_val, y_val)
    w = hyper.ridge_weights(problem, lam)
    grad_V = 2 * (X_val.T @ X_val @ w - X_val.T @ y_val) / len(y_val)
    v = conjugate_gradient(lambda p: ad.hvp(
        lambda w: hyper.training_loss(w, lam, X_train, y_train), w, p), grad_V, tol=1e-12)
    return -float(v @ (2 * w))
""", "as much as H itself"),
    ("06", "Exercise 3", "segments_ex3 = 100\narrays_held_ex3 = 200\nsteps_evaluated_ex3 = 20_000",
     "✓"),
    ("06", "Exercise 3", "segments_ex3 = 100\narrays_held_ex3 = 200\nsteps_evaluated_ex3 = 10_000",
     "once again when recomputed"),
    ("06", "Exercise 3", "segments_ex3 = 50\narrays_held_ex3 = 250\nsteps_evaluated_ex3 = 20_000",
     "s + n/s is not smallest at s = 50: section 7 says where it is"),
    ("06", "Exercise 4", "reverse_sweeps_ex4 = 3\nforward_passes_ex4 = 1000\n"
     "central_difference_evaluations_ex4 = 2000\nhvps_ex4 = 50", "✓"),
    ("06", "Exercise 4", "reverse_sweeps_ex4 = 3\nforward_passes_ex4 = 1000\n"
     "central_difference_evaluations_ex4 = 1000\nhvps_ex4 = 50", "two evaluations per input"),
    ("07", "Exercise 1", _solution("ps4_cheap_gradients", "product_grad_dp"), "✓"),
    ("07", "Exercise 1", "def product_grad_dp(x):\n    return np.prod(x) / np.asarray(x)",
     "without division (section 2"),
    ("07", "Exercise 1", LOG_TRICK, "or logarithms (section 3: not exact), and your code uses log"),
    ("07", "Exercise 1", "def product_grad_dp(x):  # the lesson's log trick\n    return grad_log(x)",
     "and your code uses log"),
    ("07", "Exercise 3", "def trace_chain_grad_A2(A1, A2, A3):\n    return (A3 @ A1).T", "✓"),
    ("07", "Exercise 3", "def trace_chain_grad_A2(A1, A2, A3):\n    return A3 @ A1", "dL/dA2"),
    ("07", "Exercise 4", PRODUCT_HESSIAN, "✓"),
    ("07", "Exercise 4", PRODUCT_HESSIAN.replace("n = len(x)", "n = x.shape[0]"), "✓"),
    ("07", "Exercise 4", PRODUCT_HESSIAN.replace("    H = np.zeros", "    if 0.0 in x:\n"
     "        return None\n    H = np.zeros"), "product_hessian returns None at x = [1.5, 0.0"),
    ("07", "Exercise 4", "def product_hessian(x):  # by division\n    x = np.asarray(x)\n"
     "    with np.errstate(divide='ignore', invalid='ignore'):\n"
     "        H = np.prod(x) / np.outer(x, x)\n    np.fill_diagonal(H, 0.0)\n    return H",
     "the Hessian at x = [1.5, 0.0"),
    ("08", "Exercise 2", "softplus_jvp = lambda t, z, x: t * anp.sigmoid(x)\n"
     "softplus_vjp = lambda g, z, x: g * anp.sigmoid(x)", "✓"),
    ("08", "Exercise 2", "softplus_jvp = lambda t, z, x: t * anp.sigmoid(x)\n"
     "softplus_vjp = lambda g, z, x: g * anp.sigmoid(-x)", "reverse mode (vjp) at order 1 disagrees"),
    ("08", "Exercise 2", "softplus_jvp = lambda t, z, x: t / (1.0 + np.exp(-x))\n"
     "softplus_vjp = lambda g, z, x: g / (1.0 + np.exp(-x))", "use anp.exp"),
    ("08", "Exercise 2", "softplus_jvp = lambda t, z, x: t * anp.sigmoid(x)\n"
     "softplus_vjp = lambda g, z, x: (g * anp.sigmoid(x),)  # ps2's convention",
     "your VJP rule returns a tuple: a rule returns the one (co)tangent"),
    ("08", "Exercise 3", _solution("ps2_reverse_mode", "unbroadcast"), "✓"),
    ("08", "Exercise 3", "def unbroadcast(g, shape):  # the leading axes only\n"
     "    g = np.asarray(g, dtype=float)\n    while g.ndim > len(shape):\n"
     "        g = g.sum(axis=0)\n    return g", "expected shape (3, 1)"),
]


# by lesson and exercise, so that each lesson runs once, top to bottom
CASES = sorted(_CASES, key=lambda case: (case[0], int(case[1].split()[-1])))


@pytest.mark.parametrize("lesson, exercise, answer, says", CASES,
                         ids=[f"{c[0]}-{c[1][-1]}-{k}" for k, c in enumerate(CASES)])
def test_a_self_check_tells_right_from_wrong(lesson: str, exercise: str, answer: str,
                                             says: str) -> None:
    line = _answer(lesson, exercise, answer)
    if says == "✓":
        assert line.startswith(f"✓ {exercise}: "), line
    elif says.startswith(("not answered yet", "not checked yet")):
        assert line.startswith(f"{exercise}: {says}"), line
    else:
        assert line.startswith(f"✗ {exercise}: not yet. ") and says in line, line


def test_every_exercise_has_a_right_and_a_wrong_answer_case() -> None:
    # lessons 01-06 run no solutions of their own: a check that refused every
    # right answer would show nowhere else
    exercises = {(path.name[:2], label) for path in LESSONS.glob("0*.ipynb")
                 for source in _code_cells(path.name[:2])
                 for label in re.findall(r'check_(?:answer|exercise)\(\s*"(Exercise \d+)"',
                                         source)}
    right = {(c[0], c[1]) for c in CASES if c[3] == "✓"}
    wrong = {(c[0], c[1]) for c in CASES if c[3] != "✓"}
    assert len(exercises) > 20
    assert exercises - right == set(), "exercises without a right answer in CASES"
    assert exercises - wrong == set(), "exercises without a wrong answer in CASES"


# a wrong answer to an exercise worked by hand, and the number its hint must not give away
_HINTS = [
    ("01", "Exercise 3", "def size(n):\n    return 2 ** (n + 1) - 3", "7"),
    ("03", "Exercise 2", HAND_H.replace("x_bar += a_bar", "x_bar = a_bar"), "-4.68"),
    ("04", "Exercise 3", "def nonzeros_dense_block(L):\n    return L * L\n"
     "def multiplications_dense_block(L):\n    return L * L - L", "3"),
    ("04", "Exercise 3", "def nonzeros_dense_block(L):\n    return L * (L + 1) // 2\n"
     "def multiplications_dense_block(L):\n    return L * L - L", "1"),
    ("06", "Exercise 3", "segments_ex3 = 50\narrays_held_ex3 = 250\nsteps_evaluated_ex3 = 20_000",
     "100"),
]


@pytest.mark.parametrize("lesson, exercise, answer, number", _HINTS,
                         ids=[f"{c[0]}-{c[1][-1]}-{k}" for k, c in enumerate(_HINTS)])
def test_a_hint_says_where_to_look_not_the_number(lesson: str, exercise: str, answer: str,
                                                   number: str) -> None:
    line = _answer(lesson, exercise, answer)
    hint = line.removeprefix(f"✗ {exercise}: not yet. ")
    assert hint != line and not re.search(rf"(?<![\w.]){re.escape(number)}(?![\w])", hint), line


# right answers that read nothing of the lesson but what the exercise cell defines
_AFTER_RESTART = [
    ("01", "Exercise 2", "best_central_exponent = -6"),
    ("01", "Exercise 3", "def size(n):\n    return 3 * 2 ** n - 5"),
    ("02", "Exercise 1", "dy_dx2 = 1.716"),
    ("03", "Exercise 1", "grad_L = (1.8394, 1.25)"),
    ("03", "Exercise 2", HAND_H),
    ("06", "Exercise 1", "def value_and_grad_by_hand(x):\n    t = anp.tanh(x)\n"
     "    return anp.sum(x * t), t + x * (1 - t * t)"),
    ("06", "Exercise 2", FORWARD_LOG_Z),
    ("08", "Exercise 4", "def hessian_diagonal(f, x):\n    e = np.eye(len(x))\n"
     "    return np.array([ad.hvp(f, x, e[i])[i] for i in range(len(x))])"),
]


@pytest.mark.parametrize("lesson, exercise, answer", _AFTER_RESTART,
                         ids=[f"{c[0]}-{c[1][-1]}" for c in _AFTER_RESTART])
def test_a_check_reads_only_the_imports_and_the_exercise_cell(lesson: str, exercise: str,
                                                              answer: str) -> None:
    """After a restart, the imports, the exercise cell and its check are enough: a
    check that read the lesson's own names (f, L, x) would refuse a right answer
    whenever a learner reused one of them."""
    line = _answer(lesson, exercise, answer, restarted=True)
    assert line.startswith(f"✓ {exercise}: "), line


def _statement(lesson: str, exercise: str) -> str:
    path = next(LESSONS.glob(f"{lesson}_*.ipynb"))
    return next("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                if c["cell_type"] == "markdown" and f"**{exercise} (" in "".join(c["source"]))


@pytest.mark.parametrize("lesson, exercise, says", [
    # the check also tries 2000 features and measures the memory held
    ("05", "Exercise 3", "one of them with 2000 features"),
    ("05", "Exercise 3", "form no matrix of features by features"),
    # reverse mode records a forward pass too: "forward passes" alone is ambiguous
    ("03", "Exercise 3", "forward-mode passes (JVPs)"),
    # the check refuses the log trick
    ("07", "Exercise 1", "without logarithms"),
])
def test_a_statement_says_what_its_check_asks(lesson: str, exercise: str, says: str) -> None:
    assert says in " ".join(_statement(lesson, exercise).split())
