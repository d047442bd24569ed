"""The graders' checks for learners working alone, without nbgrader.

    from grading import checks
    from grading.selfcheck import selfcheck
    selfcheck(checks.check_derivative, derivative, dict(exp=exp, log=log, sin=sin, cos=cos))

prints one friendly line, ✓ or ✗ with the teacher's message, and returns
whether the check passed, instead of stopping the notebook with a traceback.
The seed defaults to 0, so a learner sees the same inputs on every run; pass
`seed=` to try others. An exercise still left blank (a function of the learner's
that returns None or raises NotImplementedError on its first call, or an answer
that is still None) gets "not answered yet" instead of ✗.

The lessons in notebooks/ use two entry points that print the line and return
None, so that a cell shows nothing but that line:

* `check_exercise("Exercise 2", checks.check_back_substitute, back_substitute)`
  runs a grading check on an exercise;
* `check_answer("Exercise 3", test)` runs a lesson's own test of an answer
  where no grading check fits: `test()` returns a short summary when the answer
  is right, raises AssertionError with the reason when it is wrong, and returns
  None while the exercise is not answered yet. `assert_close` (the checks'
  comparison, from `grading.compare`) says what is wrong with an array answer.

A check cell run before its exercise cell fails on a name the exercise defines
before `check_exercise` is even called. Imported in an IPython kernel, this module
makes such a NameError, raised at the top level of a cell that calls
`check_exercise` or `check_answer`, print the "not answered yet" line instead of
a traceback (the cell still counts as failed, so "Run all" stops there); every
other NameError keeps its usual traceback.

Running a check leaves the kernel usable for the cells after it: the reference
library is blocked only while the learner's code runs, and the profile hook,
NumPy's error state and the warning filters are put back afterwards, so those
cells can use `autodiff_lite` and NumPy freely. (Once `grading.checks` is
imported, every check also puts back the NumPy, math and builtin functions that
`grading.guard` watches, should a cell have replaced one; the lessons replace none.)

Where an exercise asks for one tool of the library and not another (one
`ad.vjp` per row, `ad.hvp` but not `ad.hessian`, `ad.Dual` but not `ad.jacfwd`),
a lesson's test runs the answer inside `library_calls()`, which counts the
calls of the library's functions that the answer makes, and
`assert_only_calls` says which it should not have made.

Lessons build on `autodiff_lite`, and some of their exercises ask for it (seed
`ad.Dual` numbers, call `ad.hvp`); for those, pass `use_library=True`, which
lets the learner's functions (and the functions they return) use it. It also
lifts a check's ban on ready-made linear solvers, so keep the default where an
exercise asks for code without them. `use_library=("Dual",)` lets them use the
library but calls it ✗ when they call one of its functions (`ad.jacfwd` where
the exercise asks for a Jacobian built from `ad.Dual`).
"""

from __future__ import annotations

import collections
import contextlib
import dis
import functools
import linecache
import re
import sys
import sysconfig
import types
from types import TracebackType
from typing import Any, Callable

import autodiff_lite

from . import sandbox
from .compare import assert_close
from .sandbox import library_calls

__all__ = ["COMPLEX_NUMBERS", "DIVISION", "LOGARITHMS", "assert_avoids", "assert_close",
           "assert_only_calls", "check_answer", "check_exercise", "code_uses",
           "error_in_cell_of", "library_calls", "selfcheck"]

BLANK_HINT = "Fill in the exercise cell, run it, then run this cell again."

_FUNCTIONS = (types.FunctionType, types.MethodType, functools.partial)


class _Answer:
    """A learner's function as a check calls it; remembers whether it is still blank.

    It is blank when its first call returns None or raises NotImplementedError
    (what an unanswered stub does). Given `trusted` (`use_library=True`), the
    function, and any function it returns such as `derivative(f)`, runs as
    trusted code, so it may use `autodiff_lite`.
    """

    def __init__(self, fn: Callable[..., Any], trusted: Callable[..., Any] | None) -> None:
        self.fn, self.trusted = fn, trusted
        self.name = getattr(fn, "__name__", "your function")
        self.calls = 0
        self.blank: str | None = None
        # the learner's namespace, where a check may watch what the function calls
        # (check_ridge_hypergradient watches conjugate_gradient)
        self.__globals__ = getattr(fn, "__globals__", {})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        first = self.calls == 0
        self.calls += 1
        fn = self.fn if self.trusted is None else self.trusted(self.fn)
        try:
            result = fn(*args, **kwargs)
        except NotImplementedError:
            if first:
                self.blank = f"{self.name} raises NotImplementedError"
            raise
        if first and result is None:
            self.blank = (f"{self.name} returns None; if you have written it, make it "
                          "return its result instead of the stub's None")
        if self.trusted is not None and isinstance(result, _FUNCTIONS):
            result = _Answer(result, self.trusted)
        return result


def _wrap(value: Any, trusted: Callable[..., Any] | None, answers: list[_Answer]) -> Any:
    """Wrap a learner's function, or the functions in a dict of them (VJP rules, ops)."""
    if isinstance(value, _FUNCTIONS):
        answer = _Answer(value, trusted)
        answers.append(answer)
        return answer
    if isinstance(value, dict):
        return {k: _wrap(v, trusted, answers) for k, v in value.items()}
    return value


def _not_answered(label: str, why: str = "") -> None:
    because = f" ({why})" if why else ""
    print(f"{label}: not answered yet{because}. {BLANK_HINT}")


UseLibrary = bool | tuple[str, ...]


def _run(label: str | None, check: Callable[..., str], args: tuple[Any, ...], seed: int,
         use_library: UseLibrary, kwargs: dict[str, Any]) -> bool:
    """Run a check on the learner's answers and print one line; True if it passed."""
    name = getattr(check, "__name__", "check")
    shown = label or name
    if any(a is None for a in args):
        _not_answered(shown, "an answer is still None")
        return False
    trusted = sandbox.trusted if use_library else None
    answers: list[_Answer] = []
    wrapped = tuple(_wrap(a, trusted, answers) for a in args)
    some = use_library if isinstance(use_library, tuple) else None
    if some is not None and not set(some) <= set(autodiff_lite.__all__):
        raise ValueError(f"use_library names {sorted(set(some) - set(autodiff_lite.__all__))}, "
                         "which autodiff_lite does not have")
    try:
        counting = library_calls() if some is not None else contextlib.nullcontext()
        with counting as used:
            summary = check(*wrapped, seed=seed, **kwargs)
        if some is not None:
            assert_only_calls(used, some, "the numbers are right, but the exercise asks you "
                              f"to build this from {' and '.join('ad.' + n for n in some)}")
    except AssertionError as err:
        blank = next((a.blank for a in answers if a.blank), None)
        if blank:
            _not_answered(shown, blank)
        else:
            print(f"✗ {shown}: not yet. {err}")
        return False
    print(f"✓ {shown}: {summary}")
    return True


def assert_only_calls(used: collections.Counter[str], allowed: tuple[str, ...],
                      asks: str) -> None:
    """Fail with `asks` (what the exercise asks for) when the learner's code called
    library functions other than `allowed`; `used` comes from `library_calls()`."""
    others = sorted(set(used) - set(allowed))
    if others:
        raise AssertionError(f"{asks}, and your code calls "
                             f"{', '.join('ad.' + n for n in others)}")


def selfcheck(check: Callable[..., str], *args: Any, seed: int = 0,
              use_library: UseLibrary = False, **kwargs: Any) -> bool:
    """Run `check(*args, seed=seed, **kwargs)`; print ✓ or ✗ and the reason.

    Returns whether the check passed. `use_library=True` lets the learner's
    functions use `autodiff_lite` (see the module docstring).
    """
    return _run(None, check, args, seed, use_library, kwargs)


def check_exercise(label: str, check: Callable[..., str], *args: Any, seed: int = 0,
                   use_library: UseLibrary = False, **kwargs: Any) -> None:
    """A lesson's self-check with a grading check: one line headed by `label`, no value.

    Prints "✓ label: ..." or "✗ label: not yet. <reason>", or "label: not answered
    yet" while the exercise is blank; returns None so the cell shows only that line.
    """
    _run(label, check, args, seed, use_library, kwargs)


def check_answer(label: str, test: Callable[[], str | None]) -> None:
    """A lesson's own test of an answer, for exercises no grading check fits.

    `test()` returns a short summary when the answer is right (✓), raises
    AssertionError with the reason when it is wrong (✗), and returns None when
    the exercise is not answered yet. Whatever else it raises becomes one line,
    so "Run all" goes on: a stub's NotImplementedError is not answered yet; a
    name `test` itself reads and finds undefined is "not checked yet", since
    the cell that defines it has not run: the exercise cell, or after a
    restart one of the lesson's (the checks read as few of the lesson's names
    as they can, but cannot tell whose a missing name is); an error from the
    learner's code is reported with its type and message; one from the test's own lines means the answer does not
    have the form the test expects (a number where it wants a pair, say).
    """
    try:
        summary = test()
    except AssertionError as err:
        print(f"✗ {label}: not yet. {err}")
        return
    except NotImplementedError:
        _not_answered(label, "your code raises NotImplementedError")
        return
    except Exception as err:  # noqa: BLE001  (one line whatever went wrong)
        if not _raised_in_learner_code(err, test):
            if isinstance(err, NameError):
                # the name may be the answer's or the lesson's (after a restart): a
                # check cannot tell which cell should have defined it, so say both
                print(f"{label}: not checked yet ({err}). Run the cells above this one "
                      "first, the exercise cell and, after a restart, the lesson's cells "
                      "before it; then run this cell again.")
            else:
                print(f"✗ {label}: not yet. Your answer does not have the form the "
                      f"exercise asks for: checking it raised {type(err).__name__}: {err}")
            return
        print(f"✗ {label}: not yet. Your code raised {type(err).__name__}: {err}")
        return
    if summary is None:
        _not_answered(label)
        return
    print(f"✓ {label}: {summary}")


# what `assert_avoids` refuses where an exercise asks for a method that has none of it
COMPLEX_NUMBERS = ("complex", "imag", "cmath", "complex64", "complex128")
LOGARITHMS = ("log", "log1p", "log2", "log10", "logaddexp", "logaddexp2", "logsumexp")
NEGATIVE_POWER = "a negative power"  # what `code_uses` calls x ** -1: a division too
DIVISION = ("/", "divide", "true_divide", "reciprocal", "truediv", "itruediv", "__truediv__",
            "__rtruediv__", NEGATIVE_POWER)
_POWERS = ("pow", "power", "float_power")


def _negative_powers(steps: list[dis.Instruction]) -> bool:
    """Whether the code raises to a negative constant, x ** -1 or np.power(x, -0.5):
    a division written as a power, which a product's gradient must avoid as well."""
    for i, step in enumerate(steps[:-1]):
        value, after = step.argval, steps[i + 1]
        if (step.opname != "LOAD_CONST" or isinstance(value, bool)
                or not isinstance(value, (int, float)) or not value < 0):
            continue
        if after.opname == "BINARY_OP" and after.argrepr in ("**", "**="):
            return True
        # pow(x, -1), np.power(x, -1): the callee, x, then the exponent
        if after.opname in ("PRECALL", "CALL") and after.arg == 2 and i >= 2 \
                and steps[i - 2].argval in _POWERS:
            return True
    return False


def code_uses(fn: Any) -> set[str]:
    """The names the code of `fn` mentions (functions, modules, attributes), "/"
    if it divides, "a negative power" if it raises to a negative constant and
    "complex" if it writes a complex number (`1e-30j`).

    Read from the code, not from a run: NumPy's functions and Python's
    arithmetic on numbers call nothing a profile hook could see. It follows
    the functions `fn` defines inside itself and the learner's own functions
    it names (a helper from another cell), not the libraries'.
    """
    names: set[str] = set()
    seen: set[int] = set()
    todo = [fn]
    while todo:
        f = todo.pop()
        while isinstance(f, functools.partial):
            f = f.func
        f = getattr(f, "__func__", f)  # a bound method
        code = getattr(f, "__code__", None)
        if code is None or id(code) in seen or code.co_filename.startswith(_LIBRARY_CODE):
            continue
        seen.add(id(code))
        spaces = getattr(f, "__globals__", {})
        codes = [code]
        while codes:
            c = codes.pop()
            names.update(c.co_names)
            for const in c.co_consts:
                if isinstance(const, types.CodeType):
                    codes.append(const)
                elif isinstance(const, complex):
                    names.add("complex")
            steps = list(dis.get_instructions(c))
            if any(i.opname == "BINARY_OP" and i.argrepr in ("/", "/=") for i in steps):
                names.add("/")
            if _negative_powers(steps):
                names.add(NEGATIVE_POWER)
            todo += [spaces[i.argval] for i in steps if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")
                     and isinstance(spaces.get(i.argval), (types.FunctionType, functools.partial))]
    return names


def assert_avoids(fn: Any, avoid: tuple[str, ...], asks: str) -> None:
    """Fail with `asks` (what the exercise asks for) when the code of `fn`
    mentions one of `avoid` (see `code_uses`): `COMPLEX_NUMBERS` refuses the
    complex-step method, which a tolerance cannot tell from an exact derivative."""
    found = sorted(code_uses(fn) & set(avoid))
    if found:
        raise AssertionError(f"{asks}, and your code uses {', '.join(found)}")


def error_in_cell_of(fn: Any) -> BaseException | None:
    """The last error the kernel showed, if it was raised in the cell that
    defined `fn` (IPython keeps it in `sys.last_value`): a cell that stopped
    there left its later names as they were, a stub's None say."""
    error, tb = getattr(sys, "last_value", None), getattr(sys, "last_traceback", None)
    cell = getattr(getattr(fn, "__code__", None), "co_filename", None)
    while cell is not None and tb is not None:
        if tb.tb_frame.f_code.co_filename == cell:
            return error
        tb = tb.tb_next
    return None


# where the code of Python, installed packages and this course's own packages lives
_LIBRARY_CODE = tuple({sysconfig.get_paths()[key] for key in ("stdlib", "purelib", "platlib")}
                      | set(sandbox.OWN_CODE))


def _raised_in_learner_code(err: BaseException, test: Callable[..., Any]) -> bool:
    """Whether a frame of `err`'s traceback is the learner's code: neither the
    check cell's (where `test` was defined; Jupyter names each cell's code
    apart) nor a library's."""
    cell = test.__code__.co_filename
    tb = err.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename != cell and not filename.startswith(_LIBRARY_CODE):
            return True
        tb = tb.tb_next
    return False


# the label of a check call in a cell's source: check_exercise("Exercise 3", ...)
_CHECK_CALL = re.compile(r"""\bcheck_(?:exercise|answer)\(\s*(["'])(.+?)\1""")


def _name_error_in_check_cell(shell: Any, etype: type[BaseException], value: BaseException,
                              tb: TracebackType, tb_offset: int | None = None) -> None:
    """IPython's handler for NameError (see the module docstring)."""
    last = tb
    while last.tb_next is not None:
        last = last.tb_next
    code = last.tb_frame.f_code
    source = "".join(linecache.getlines(code.co_filename))
    calls = [(source.count("\n", 0, m.start()) + 1, m.group(2))
             for m in _CHECK_CALL.finditer(source)]
    if code.co_name != "<module>" or not calls:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return
    # the call the failing line belongs to: the last one that starts at or before it
    started = [label for line, label in calls if line <= last.tb_lineno]
    _not_answered(started[-1] if started else calls[0][1],
                  f"{value}: run the cells above this one first")


def _register_in_kernel() -> None:
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to register
        return
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((NameError,), _name_error_in_check_cell)


_register_in_kernel()
