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
from pathlib import Path
from typing import Any

import matplotlib
import pytest

matplotlib.use("Agg")

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
        done = upto
    _RUN[lesson] = (ns, done)
    return ns


def _answer(lesson: str, exercise: str, answer: str) -> str:
    """What the check cell of `exercise` prints for `answer` (code defining it)."""
    check = _check_cell(_code_cells(lesson), exercise)
    ns = dict(_lesson_until(lesson, check))  # the answer stays out of the next case
    exec(answer, ns)  # noqa: S102
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(_code_cells(lesson)[check], ns)  # noqa: S102
    return out.getvalue().strip()


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

CASES = [
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
    ("02", "Exercise 2", "quotient = (3.0, 5.0)", "✓"),
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
     "    return f(x), (f(x + 1e-5) - f(x - 1e-5)) / 2e-5", "✗ Exercise 2: not yet. at x ="),
    ("03", "Exercise 2", HAND_H.replace("return h, x_bar", "return 0.0, x_bar"),
     "the value h is wrong"),
    ("05", "Exercise 1", "dz_dx_at_2, dz_dx_at_10 = 0.25, 0.0769", "✓"),
    ("05", "Exercise 1", "dz_dx_at_2, dz_dx_at_10 = 0.25, 1 / 12", "expected 0.0769"),
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
    ("06", "Exercise 2", FORWARD_LOG_Z, "✓"),
    ("06", "Exercise 2", BY_ENUMERATION, "that is a sum over all paths"),
    ("07", "Exercise 2", "def dp_dx(a, b, x):\n    f = a + b * x\n"
     "    return sum(b[i] * np.prod(np.delete(f, i)) for i in range(len(f)))", "✓"),
    ("07", "Exercise 2", "def dp_dx(a, b, x):\n    p = lambda t: np.prod(a + b * t)\n"
     "    return (p(x + 1e-5) - p(x - 1e-5)) / 2e-5", "relative error"),
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
    ("08", "Exercise 4", "def hessian_diagonal(f, x):\n    return np.diag(ad.hessian(f)(x))",
     "from ad.hvp alone, and your code calls ad.hessian"),
    ("08", "Exercise 4", "def hessian_diagonal(f, x):\n    ad.hvp(f, x, x)\n"
     "    return np.diag(ad.hessian(f)(x))", "ad.hvp alone, and your code calls ad.hessian"),
]


@pytest.mark.parametrize("lesson, exercise, answer, says", CASES,
                         ids=[f"{c[0]}-{c[1][-1]}-{k}" for k, c in enumerate(CASES)])
def test_a_self_check_tells_right_from_wrong(lesson: str, exercise: str, answer: str,
                                             says: str) -> None:
    line = _answer(lesson, exercise, answer)
    if says == "✓":
        assert line.startswith(f"✓ {exercise}: "), line
    else:
        assert line.startswith(f"✗ {exercise}: not yet. ") and says in line, line
