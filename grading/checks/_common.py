"""What every check shares: seeded inputs, readable numbers, the guard."""

from __future__ import annotations

import functools
import sys
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np

from .. import guard
from ..feedback import HIDDEN_MARK, HIDDEN_OUTPUT


# Hidden tests pass seeds from here on; visible tests pass smaller ones.
HIDDEN_SEEDS = 1000


def check(fn: Callable[..., str], _restore: Callable[[], list[str]] = guard.restore,
          _sys: Any = sys) -> Callable[..., str]:
    """Mark a check: undo monkeypatching first, tag failures of hidden tests.

    The tag lets the feedback hide a hidden test's inputs and expected values
    (`grading.feedback`); the instructor's copy keeps the whole message. A
    hidden test first prints `HIDDEN_OUTPUT`: the feedback drops whatever the
    cell printed after it (a student's function could print its inputs), and
    any error raised after it counts as a hidden test's, whatever its type.
    """

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> str:
        _restore()
        hidden = kwargs.get("seed", 0) >= HIDDEN_SEEDS
        if hidden:
            _sys.stdout.write(HIDDEN_OUTPUT + "\n")
        try:
            return fn(*args, **kwargs)
        except AssertionError as err:
            if hidden:
                raise AssertionError(f"{HIDDEN_MARK} {err}") from None
            raise
        except BaseException as err:  # a student's own exception type, an interrupt
            if hidden:
                raise AssertionError(f"{HIDDEN_MARK} {type(err).__name__}: {err}") from None
            raise

    return run


def rng(seed: int) -> np.random.Generator:
    """The random inputs of one test: visible and hidden tests pass different seeds."""
    return np.random.default_rng(seed)


def num(x: Any) -> str:
    """A float as a person writes it (enough digits to reproduce the input)."""
    if isinstance(x, np.ndarray):
        return np.array2string(x, precision=4, separator=", ")
    return f"{float(x):.6g}"


def namespace(ops: Any, needed: tuple[str, ...], what: str) -> SimpleNamespace:
    """Student functions as `m.exp`, `m.log`, ... from a dict or a namespace."""
    get = ops.get if isinstance(ops, dict) else (lambda n: getattr(ops, n, None))
    missing = [n for n in needed if not callable(get(n))]
    if missing:
        raise AssertionError(f"{what} needs your functions {', '.join(missing)}; "
                             "define them in the answer cells above and run them")
    return SimpleNamespace(**{n: get(n) for n in needed})


def items(got: Any, n: int, where: str, expected: str) -> tuple[Any, ...]:
    """`got` as a tuple of its n items: a tuple, a list or a 1-d array of length n
    (np.array([value, tangent]) is a pair too), else a message saying what came
    back (the type and, for a sequence, its length; for an array, its shape)."""
    sequence = isinstance(got, (tuple, list)) or (isinstance(got, np.ndarray)
                                                  and got.ndim == 1)
    if sequence and len(got) == n:
        return tuple(got)
    if sequence:
        what = f"a {type(got).__name__} of {len(got)} item{'' if len(got) == 1 else 's'}"
    elif isinstance(got, np.ndarray):  # its repr would be many lines, cut off
        what = f"a NumPy array of shape {got.shape}"
    else:
        what = f"{type(got).__name__}: {got!r}"[:200]
    raise AssertionError(f"{where}: expected {expected}, got {what}")
