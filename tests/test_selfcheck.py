"""grading.selfcheck as the lessons use it: one line per exercise, and a kernel left as it was."""

from __future__ import annotations

import functools
import subprocess
import sys
import types
import warnings
from typing import Any

import numpy as np
import pytest

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from grading import checks
from grading.selfcheck import (COMPLEX_NUMBERS, DIVISION, LOGARITHMS, assert_avoids, check_answer,
                               check_exercise, code_uses, error_in_cell_of, library_calls,
                               selfcheck)

pytestmark = pytest.mark.grading


def back_substitute(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A correct answer to lesson 4's exercise (and ps3's)."""
    x = np.zeros(len(b))
    for i in range(len(b) - 1, -1, -1):
        x[i] = (b[i] - A[i, i + 1:] @ x[i + 1:]) / A[i, i]
    return x


def jacobian_with_duals(f: Any, x: list[float]) -> np.ndarray:
    """Lesson 2's exercise: one forward pass per input, with the library's dual numbers."""
    columns = []
    for j in range(len(x)):
        out = f([ad.Dual(xi, 1.0 if i == j else 0.0) for i, xi in enumerate(x)])
        columns.append([o.tangent for o in out])
    return np.array(columns).T


def derivative_with_duals(f: Any) -> Any:
    """Returns a function: the library must stay usable inside it too."""
    return lambda x: f(ad.Dual(x, 1.0)).tangent


def test_right_and_wrong_answers_print_one_line(capsys: pytest.CaptureFixture) -> None:
    assert selfcheck(checks.check_back_substitute, back_substitute) is True
    assert capsys.readouterr().out.startswith("✓ check_back_substitute: ")
    wrong = lambda A, b: back_substitute(A, b) * 2  # noqa: E731
    assert selfcheck(checks.check_back_substitute, wrong) is False
    out = capsys.readouterr().out
    assert out.startswith("✗ check_back_substitute: not yet. the solution of a random")
    assert out.count("\n") == 1


def test_check_exercise_labels_the_line_and_returns_nothing(capsys: pytest.CaptureFixture) -> None:
    assert check_exercise("Exercise 2", checks.check_back_substitute, back_substitute) is None
    assert capsys.readouterr().out.startswith("✓ Exercise 2: back_substitute solves")
    assert check_exercise("Exercise 2", checks.check_back_substitute, lambda A, b: b) is None
    assert capsys.readouterr().out.startswith("✗ Exercise 2: not yet. ")


def stub_returning_none(A: np.ndarray, b: np.ndarray) -> None:
    return None


def stub_raising(A: np.ndarray, b: np.ndarray) -> None:
    raise NotImplementedError


@pytest.mark.parametrize("stub, why", [
    # written code that still ends in the stub's `return None` is told so
    (stub_returning_none, "stub_returning_none returns None; if you have written it, "
                          "make it return its result instead of the stub's None"),
    (stub_raising, "stub_raising raises NotImplementedError"),
    (None, "an answer is still None"),
])
def test_a_blank_exercise_is_not_answered_yet(stub: Any, why: str,
                                              capsys: pytest.CaptureFixture) -> None:
    assert selfcheck(checks.check_back_substitute, stub) is False
    check_exercise("Exercise 2", checks.check_back_substitute, stub)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"check_back_substitute: not answered yet ({why}). Fill in")
    assert lines[1].startswith(f"Exercise 2: not answered yet ({why}). Fill in")
    assert not any(line.startswith(("✓", "✗")) for line in lines)


def test_none_after_a_first_answer_is_a_mistake_not_a_blank(capsys: pytest.CaptureFixture) -> None:
    def forgets_return_for_large_systems(A: np.ndarray, b: np.ndarray) -> Any:
        if len(b) > 1:
            return None
        return back_substitute(A, b)

    check_exercise("Exercise 2", checks.check_back_substitute, forgets_return_for_large_systems)
    out = capsys.readouterr().out
    assert out.startswith("✗ Exercise 2: not yet. ")
    assert "forget to `return`" in out


def test_not_implemented_after_a_first_answer_is_a_mistake_not_a_blank(
        capsys: pytest.CaptureFixture) -> None:
    def unfinished_for_large_systems(A: np.ndarray, b: np.ndarray) -> Any:
        if len(b) > 1:
            raise NotImplementedError
        return back_substitute(A, b)

    check_exercise("Exercise 2", checks.check_back_substitute, unfinished_for_large_systems)
    assert capsys.readouterr().out.startswith("✗ Exercise 2: not yet. ")


def test_one_answer_still_none_is_not_answered_yet(capsys: pytest.CaptureFixture) -> None:
    assert selfcheck(checks.check_back_substitute, back_substitute, None) is False
    assert capsys.readouterr().out.startswith(
        "check_back_substitute: not answered yet (an answer is still None). Fill in")


def test_the_seed_defaults_to_zero(capsys: pytest.CaptureFixture) -> None:
    def says_its_seed(answer: Any, seed: int) -> str:
        return f"seed {seed}"

    assert selfcheck(says_its_seed, back_substitute) is True
    check_exercise("Exercise 2", says_its_seed, back_substitute)
    assert capsys.readouterr().out.splitlines() == ["✓ says_its_seed: seed 0",
                                                    "✓ Exercise 2: seed 0"]


def test_other_keywords_reach_the_check(capsys: pytest.CaptureFixture) -> None:
    def says_its_options(answer: Any, seed: int, size: int = 3) -> str:
        return f"seed {seed}, size {size}"

    assert selfcheck(says_its_options, back_substitute, seed=4, size=7) is True
    assert capsys.readouterr().out == "✓ says_its_options: seed 4, size 7\n"


def test_a_blank_partial_is_not_answered_yet(capsys: pytest.CaptureFixture) -> None:
    check_exercise("Exercise 2", checks.check_back_substitute,
                   functools.partial(stub_returning_none))
    assert capsys.readouterr().out.startswith(
        "Exercise 2: not answered yet (your function returns None;")


def test_blank_rules_in_a_dict_are_not_answered_yet(capsys: pytest.CaptureFixture) -> None:
    rules = {"exp": lambda g, z, x: None}
    check_exercise("Exercise 1", checks.check_vjp_rules, rules, ("exp",))
    assert capsys.readouterr().out.startswith("Exercise 1: not answered yet (<lambda> returns")


def test_use_library_lets_lesson_answers_use_autodiff_lite(capsys: pytest.CaptureFixture) -> None:
    check_exercise("Exercise 3", checks.check_jacobian, jacobian_with_duals, anp)
    assert "your code called autodiff_lite" in capsys.readouterr().out
    check_exercise("Exercise 3", checks.check_jacobian, jacobian_with_duals, anp,
                   use_library=True)
    assert capsys.readouterr().out.startswith("✓ Exercise 3: jacobian is exact")
    # a returned function runs with the library usable as well
    assert selfcheck(checks.check_derivative, derivative_with_duals, anp, use_library=True)
    capsys.readouterr()


def test_use_library_keeps_the_check_itself_strict(capsys: pytest.CaptureFixture) -> None:
    def by_finite_differences(f: Any, x: list[float]) -> np.ndarray:
        f0, h = np.array(f(list(x))), 1e-6
        return np.stack([(np.array(f([v + h * (i == j) for i, v in enumerate(x)])) - f0) / h
                         for j in range(len(x))], axis=1)

    check_exercise("Exercise 3", checks.check_jacobian, by_finite_differences, anp,
                   use_library=True)
    assert "that is numerical differentiation" in capsys.readouterr().out


def _kernel_state() -> tuple[Any, ...]:
    modules = {name: type(m) for name, m in sys.modules.items()
               if name == "autodiff_lite" or name.startswith("autodiff_lite.")}
    return (modules, sys.getprofile(), np.geterr(), list(warnings.filters))


def test_later_cells_can_use_the_library_and_numpy_freely(capsys: pytest.CaptureFixture) -> None:
    before = _kernel_state()
    uses_reference = lambda A, b: ad.lagrangian.solve(A, b)  # noqa: E731
    exploding = lambda A, b: 1 / 0  # noqa: E731
    for answer in (uses_reference, exploding, stub_raising, back_substitute):
        check_exercise("Exercise 2", checks.check_back_substitute, answer)
    check_exercise("Exercise 3", checks.check_jacobian, jacobian_with_duals, anp,
                   use_library=True)
    out = capsys.readouterr().out.splitlines()
    assert [line[:13] for line in out] == ["✗ Exercise 2:", "✗ Exercise 2:",
                                           "Exercise 2: n", "✓ Exercise 2:", "✓ Exercise 3:"]
    assert _kernel_state() == before
    assert all(type(m) is types.ModuleType for m in (ad, anp, ad.lagrangian))
    assert ad.grad(lambda x: anp.sin(x) * x)(0.3) == pytest.approx(np.sin(0.3) + 0.3 * np.cos(0.3))
    assert np.allclose(np.linalg.solve(np.eye(2), np.ones(2)), 1.0)


def test_check_answer_prints_a_verdict_and_never_raises(capsys: pytest.CaptureFixture) -> None:
    learner: dict[str, Any] = {}  # an exercise cell: code named apart from this file's
    exec(compile("def crashes():\n    return [][0]\n"
                 "def stub():\n    raise NotImplementedError\n"
                 "pair = 1.5\n", "<exercise cell>", "exec"), learner)

    def wrong() -> str:
        raise AssertionError("1 + 1 is 2")  # a lesson's `assert ..., reason` (not rewritten there)

    def learners_bug() -> str:
        return str(learner["crashes"]())

    def not_a_pair() -> str:  # the test unpacks what should be a pair
        value, tangent = learner["pair"]
        return "correct."

    def exercise_cell_not_run() -> str:
        return str(answer_not_defined_yet)  # type: ignore[name-defined]  # noqa: F821

    for test in (lambda: "correct.", wrong, learners_bug, not_a_pair, exercise_cell_not_run,
                 learner["stub"], lambda: None):
        assert check_answer("Exercise 1", test) is None
    blank = "Fill in the exercise cell, run it, then run this cell again."
    assert capsys.readouterr().out.splitlines() == [
        "✓ Exercise 1: correct.",
        "✗ Exercise 1: not yet. 1 + 1 is 2",
        "✗ Exercise 1: not yet. Your code raised IndexError: list index out of range",
        "✗ Exercise 1: not yet. Your answer does not have the form the exercise asks for: "
        "checking it raised TypeError: cannot unpack non-iterable float object",
        # the exercise cell's name, or the lesson's after a restart: the check cannot
        # tell whose, and says both
        "Exercise 1: not checked yet (name 'answer_not_defined_yet' is not defined). Run the "
        "cells above this one first, the exercise cell and, after a restart, the lesson's "
        "cells before it; then run this cell again.",
        f"Exercise 1: not answered yet (your code raises NotImplementedError). {blank}",
        f"Exercise 1: not answered yet. {blank}",
    ]


def test_library_calls_counts_the_learners_calls_however_they_reach_the_library() -> None:
    made_before = ad.grad(lambda x: x * x)
    imported_before = ad.vjp
    with library_calls() as used:
        ad.hvp(lambda x: anp.sum(x ** 3), np.ones(2), np.ones(2))  # runs jvp and grad inside
        ad.grad(lambda x: x * x)(1.0)
        ad.grad(lambda x: x * x)(2.0)
        _, pullback = imported_before(anp.sin, 1.0)
        pullback(1.0)
    assert used == {"hvp": 1, "grad": 2, "vjp": 1}
    with library_calls() as used:
        made_before(3.0)  # a gradient function made outside: used, but no ad.grad call
    assert set(used) == {"grad"} and used["grad"] == 0


def test_library_calls_counts_the_librarys_functions_not_the_learners_namesakes() -> None:
    # a learner's own `vjp`, written as the lesson asks, is not a call of ad.vjp
    ns: dict[str, Any] = {"__name__": "__main__"}
    exec("def vjp(f, x):\n    return f(x), lambda g: g\n", ns)
    with library_calls() as used:
        ns["vjp"](np.sin, 1.0)
    assert not used


def test_library_calls_counts_inside_trusted_code_while_a_check_watches() -> None:
    # A check that watches a learner's function (ps4's conjugate_gradient) swaps
    # the profile hook inside its trusted callbacks; the learner's code called
    # from one must still be counted by the lesson's library_calls around it.
    from grading.sandbox import call_student, trusted

    def helper(x: float) -> float:
        return 2.0 * x

    def learners_gradient(t: float) -> float:
        return ad.grad(lambda s: s * s)(t)

    oracle = trusted(lambda: learners_gradient(3.0))
    seen: list[float] = []
    watch = {helper.__code__: lambda frame: seen.append(frame.f_locals["x"])}
    with library_calls() as used:
        assert call_student(lambda: helper(1.0) + oracle(), name="answer", task="it",
                            watch=watch) == 8.0
    assert seen == [1.0] and used["grad"] == 1


def test_use_library_with_names_refuses_other_library_functions_only(
        capsys: pytest.CaptureFixture[str]) -> None:
    def by_duals(f, x):  # type: ignore[no-untyped-def]
        columns = []
        for j in range(len(x)):
            outputs = f([ad.Dual(v, 1.0 if i == j else 0.0) for i, v in enumerate(x)])
            columns.append([y.tangent if isinstance(y, ad.Dual) else 0.0 for y in outputs])
        return np.array(columns).T

    def by_jacfwd(f, x):  # type: ignore[no-untyped-def]
        return ad.jacfwd(lambda v: anp.stack(f(list(v))))(np.array(x, dtype=float))
    # the check itself calls ad.jvp for its expected values: not the learner's call
    assert selfcheck(checks.check_jacobian, by_duals, anp, use_library=("Dual",))
    assert selfcheck(checks.check_jacobian, by_jacfwd, anp, use_library=True)
    assert not selfcheck(checks.check_jacobian, by_jacfwd, anp, use_library=("Dual",))
    assert capsys.readouterr().out.splitlines()[-1].endswith(
        "build this from ad.Dual, and your code calls ad.jacfwd")
    with pytest.raises(ValueError, match=r"use_library names \['dual'\], which autodiff_lite"):
        selfcheck(checks.check_jacobian, by_duals, anp, use_library=("dual",))  # a typo


# Cells run one after another in an IPython shell of its own (a fresh process: the
# shell is a singleton that would outlive the test), each between two markers.
_KERNEL_SCRIPT = r'''
import sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
for cell in sys.stdin.read().split("\n#--cell--\n"):
    print("<<cell>>", flush=True)
    shell.run_cell(cell)
    sys.stdout.flush()
'''


def _run_cells(*cells: str) -> list[str]:
    setup = "from grading import checks\nfrom grading.selfcheck import check_exercise, check_answer"
    done = subprocess.run([sys.executable, "-c", _KERNEL_SCRIPT], text=True, capture_output=True,
                          input="\n#--cell--\n".join((setup, *cells)), timeout=120, check=True)
    return done.stdout.split("<<cell>>")[2:]


def test_a_check_cell_run_before_its_exercise_says_not_answered_yet() -> None:
    early, second_call, elsewhere, inside, same_line = _run_cells(
        'check_exercise("Exercise 3", checks.check_jacobian, jacobian)',
        'def ok():\n    return "fine"\n\n\ncheck_answer("Exercise 1", ok)\n'
        'check_exercise(\n    "Exercise 2",\n    checks.check_jvp,\n    jvp_answer,\n)',
        "y = undefined_name + 1",
        'def helper():\n    return missing_inside\n\n\ncheck_exercise("Exercise 4", helper())',
        'def ok():\n    return "fine"\n\n\ncheck_answer("Exercise 5", ok)\n'
        'check_exercise("Exercise 6", checks.check_jvp, jvp_answer)',
    )
    assert early.strip() == ("Exercise 3: not answered yet (name 'jacobian' is not defined: "
                             "run the cells above this one first). Fill in the exercise cell, "
                             "run it, then run this cell again.")
    assert "✓ Exercise 1: fine" in second_call
    assert "Exercise 2: not answered yet (name 'jvp_answer' is not defined" in second_call
    assert "Traceback" not in early + second_call
    # any other NameError keeps its traceback
    assert "NameError" in elsewhere and "undefined_name" in elsewhere
    assert "NameError" in inside and "missing_inside" in inside
    assert "not answered yet" not in elsewhere + inside
    # a name missing on the line a call starts on belongs to that call
    assert "Exercise 6: not answered yet (name 'jvp_answer' is not defined" in same_line


def test_code_uses_reads_the_answer_and_its_own_helpers() -> None:
    """Complex steps, logarithms and divisions run in NumPy or in Python's
    arithmetic, where no profile hook sees them: `code_uses` reads the code."""
    learner: dict[str, Any] = {}
    exec(compile("import numpy as np\n"
                 "def step(f, x):\n    return f(x + 1e-30j).imag * 1e30\n"
                 "def by_complex_step(x):\n    return step(lambda t: np.sin(t) * t, x)\n"
                 "def by_logs(x):\n    return np.exp(np.sum(np.log(x)) - np.log(x))\n"
                 "def by_hand(x):\n    inner = lambda t: t * 2\n    return inner(x) // 3\n",
                 "<exercise cell>", "exec"), learner)
    assert {"complex", "imag", "step"} <= code_uses(learner["by_complex_step"])
    assert {"log", "exp"} <= code_uses(learner["by_logs"])
    assert code_uses(learner["by_hand"]).isdisjoint({"/", "complex", "log"})
    with pytest.raises(AssertionError, match="asks for it by hand, and your code uses complex, imag"):
        assert_avoids(learner["by_complex_step"], COMPLEX_NUMBERS, "asks for it by hand")
    assert_avoids(learner["by_hand"], COMPLEX_NUMBERS + DIVISION + LOGARITHMS, "never fails")
    with pytest.raises(AssertionError, match="your code uses log$"):
        assert_avoids(learner["by_logs"], LOGARITHMS, "by hand")


def test_code_uses_follows_inner_code_partials_and_in_place_division() -> None:
    learner: dict[str, Any] = {}
    exec(compile("import cmath, functools\n"
                 "from autodiff_lite.numerical import central_difference\n"
                 "def scale(c, x):\n    return x / c\n"
                 "def halves(x):\n    x /= 2\n    return x\n"
                 "def in_a_lambda(x):\n    return (lambda t: t / 3)(x)\n"
                 "def in_a_class(x):\n    class Step:\n        h = halves(1.0)\n"
                 "    return x * Step.h\n"
                 "halve = functools.partial(scale, 2.0)\n"
                 "def by_partial(x):\n    return halve(x)\n"
                 "def by_sqrt(x):\n    return cmath.sqrt(x).real\n"
                 "def by_library(f, x):\n    return central_difference(f, x)\n"
                 "def countdown(n):\n    return n if n <= 0 else countdown(n - 1)\n",
                 "<exercise cell>", "exec"), learner)
    assert "/" in code_uses(learner["halves"])  # x /= 2 divides too
    assert "/" in code_uses(learner["in_a_lambda"])
    assert "/" in code_uses(learner["in_a_class"])  # the helper a class body names
    assert "/" in code_uses(functools.partial(learner["scale"], 3.0))
    assert "/" in code_uses(learner["by_partial"])  # through the partial it names
    # the library's own code is not the learner's: central_difference divides, they do not
    assert "/" not in code_uses(learner["by_library"])
    assert "countdown" in code_uses(learner["countdown"])  # recursion ends
    with pytest.raises(AssertionError, match="uses cmath"):
        assert_avoids(learner["by_sqrt"], COMPLEX_NUMBERS, "by hand")
    with pytest.raises(AssertionError, match="uses /$"):
        assert_avoids(learner["halves"], DIVISION, "without dividing")


def test_code_uses_sees_division_written_as_a_negative_power_or_through_operator() -> None:
    """A product's gradient by division fails at a zero however the division is
    spelled; a negative index or axis is not a power."""
    learner: dict[str, Any] = {}
    exec(compile("import operator\nimport numpy as np\nfrom operator import truediv\n"
                 "def by_power(x):\n    return np.prod(x) * x ** -1\n"
                 "def by_root(x):\n    return x ** -0.5\n"
                 "def in_place(x):\n    x **= -1\n    return x\n"
                 "def by_np_power(x):\n    return np.power(x, -1.0)\n"
                 "def by_pow(x):\n    return pow(x, -1)\n"
                 "def by_operator(x):\n    return operator.truediv(1.0, x)\n"
                 "def by_import(x):\n    return truediv(1.0, x)\n"
                 "def by_dunder(x):\n    return x.__rtruediv__(1.0)\n"
                 "def negatives(x):\n"
                 "    return np.sum(x ** 2, axis=-1) + x[-1] ** 3 + np.power(x, 2) - 1 + pow(2, x)\n",
                 "<exercise cell>", "exec"), learner)
    for name in ("by_power", "by_root", "in_place", "by_np_power", "by_pow"):
        assert "a negative power" in code_uses(learner[name]), name
    for name in ("by_operator", "by_import", "by_dunder"):
        with pytest.raises(AssertionError, match="without dividing, and your code uses"):
            assert_avoids(learner[name], DIVISION, "without dividing")
    assert_avoids(learner["negatives"], DIVISION, "never fails")
    with pytest.raises(AssertionError, match="uses a negative power$"):
        assert_avoids(learner["by_power"], DIVISION, "without dividing")


def test_error_in_cell_of_names_the_error_of_the_cell_that_defined_a_function(
        monkeypatch: pytest.MonkeyPatch) -> None:
    cell: dict[str, Any] = {}
    source = "def answer(x):\n    return x\n\nraise ValueError('stopped here')\n"
    try:
        exec(compile(source, "<cell 1>", "exec"), cell)
    except ValueError as err:
        stopped = err
    other: dict[str, Any] = {}
    exec(compile("def elsewhere(x):\n    return x\n", "<cell 2>", "exec"), other)
    monkeypatch.delattr(sys, "last_value", raising=False)
    monkeypatch.delattr(sys, "last_traceback", raising=False)
    assert error_in_cell_of(cell["answer"]) is None  # no error shown yet
    monkeypatch.setattr(sys, "last_value", stopped, raising=False)
    monkeypatch.setattr(sys, "last_traceback", stopped.__traceback__, raising=False)
    assert error_in_cell_of(cell["answer"]) is stopped
    assert error_in_cell_of(other["elsewhere"]) is None
