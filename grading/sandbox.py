"""Calling student code: quietly, and with the reference library out of reach.

Three things happen around every call into a student's answer:

* NumPy floating-point warnings and Python warnings are silenced, because nbgrader
  scores a test cell 0 as soon as it writes anything to stderr, and a correct
  solution may legitimately overflow or divide by zero on the way;
* `autodiff_lite` is blocked: attribute access on its modules raises (this covers
  `import autodiff_lite as ad; ad.grad(...)`), and a profile hook records any call
  into its code (this covers `from autodiff_lite import grad` made before the
  call). The exercises ask students to build the machinery themselves, so using
  the reference instead fails with a message that says so;
* exceptions become AssertionErrors that name the function and the input;
* given `seconds`, the call is stopped when it runs longer (a check that must
  tell an O(n) answer from an O(n²) one gives it an input where the difference
  is seconds against minutes, rather than wait for the cell's timeout).

Callbacks that the tests hand to student code (an HVP oracle, a function to
differentiate) may use the reference: wrap them with `trusted`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import types
import warnings
from typing import Any, Callable, Iterator

import numpy as np

import autodiff_lite

from . import guard

_REFERENCE = "autodiff_lite"
_REFERENCE_DIR = os.path.dirname(os.path.abspath(autodiff_lite.__file__)) + os.sep
_errstate = np.errstate
_catch_warnings = warnings.catch_warnings
_simplefilter = warnings.simplefilter
_getprofile = sys.getprofile
_setprofile = sys.setprofile
_ModuleType = types.ModuleType
_object_setattr = object.__setattr__
_modules = sys.modules
_restore = guard.restore


class ReferenceBlocked(RuntimeError):
    """Raised when student code touches `autodiff_lite` during a graded call."""


class _OutOfTime(BaseException):
    """Raised into student code when its time is up; a BaseException, so that the
    student's `except Exception` does not swallow it."""


def _time_up(signum: int, frame: types.FrameType | None) -> None:
    raise _OutOfTime


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise _OutOfTime into the block after `seconds` of wall-clock time.

    A no-op for None, and where no interval timer can be set: outside the main
    thread (signals go to the main thread) and on platforms without SIGALRM.
    The previous handler and timer are put back whatever happens.
    """
    if (seconds is None or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return
    previous = signal.signal(signal.SIGALRM, _time_up)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _State:
    """What is being graded right now; `paused` > 0 inside a trusted callback."""

    task: str | None = None
    paused: int = 0
    violation: str | None = None
    # (directory prefix, name) of further code an exercise must not call.
    forbidden: tuple[tuple[str, str], ...] = ()


def _blocked_message(what: str, task: str | None) -> str:
    return (f"this exercise asks you to implement {task} yourself, but your "
            f"code called {what}. Build it from plain Python and NumPy.")


class _BlockedModule(_ModuleType):
    """Module class swapped onto `autodiff_lite` modules while student code runs."""

    def __getattribute__(self, name: str) -> Any:
        if _State.paused or name in ("__name__", "__class__", "__spec__", "__dict__",
                                     "__path__", "__file__", "__loader__"):
            return _ModuleType.__getattribute__(self, name)
        modname = _ModuleType.__getattribute__(self, "__name__")
        what = f"{modname}.{name}"
        if _State.violation is None:
            _State.violation = what
        raise ReferenceBlocked(_blocked_message(what, _State.task))


def _profile_hook(frame: types.FrameType, event: str, arg: Any) -> None:
    if event != "call" or _State.paused or _State.violation is not None:
        return
    filename = frame.f_code.co_filename
    if filename.startswith(_REFERENCE_DIR):
        _State.violation = f"{_REFERENCE}: {frame.f_code.co_name}"
        return
    code_name = frame.f_code.co_name
    # A NumPy function first runs its dispatcher, often shared (inv and det run
    # `_unary_dispatcher`): wait for the function itself, which runs next.
    if code_name.endswith("_dispatcher"):
        return
    for prefix, name in _State.forbidden:
        if filename.startswith(prefix):
            _State.violation = f"{name}.{code_name}"
            return


def module_dir(module: types.ModuleType) -> str:
    """The directory prefix of a package, to forbid its code in `call_student`."""
    return os.path.dirname(os.path.abspath(module.__file__ or "")) + os.sep


def _reference_modules() -> list[types.ModuleType]:
    return [m for name, m in list(_modules.items())
            if (name == _REFERENCE or name.startswith(_REFERENCE + "."))
            and type(m) in (_ModuleType, _BlockedModule)]


@contextlib.contextmanager
def reference_blocked(task: str,
                      forbidden: tuple[tuple[str, str], ...] = ()) -> Iterator[None]:
    """Run a block with `autodiff_lite` (and `forbidden` code) unusable; fail if used."""
    modules = _reference_modules()
    previous_hook = _getprofile()
    _State.task, _State.violation, _State.paused = task, None, 0
    _State.forbidden = forbidden
    for m in modules:
        _object_setattr(m, "__class__", _BlockedModule)
    _setprofile(_profile_hook)
    try:
        yield
    finally:
        _setprofile(previous_hook)
        for m in modules:
            _object_setattr(m, "__class__", _ModuleType)
        _State.task, _State.forbidden = None, ()
        violation, _State.violation = _State.violation, None
        if violation is not None:  # replaces whatever the student code raised
            raise AssertionError(_blocked_message(violation, task))


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence NumPy floating-point warnings and Python warnings (no stderr)."""
    with _catch_warnings():
        _simplefilter("ignore")
        with _errstate(all="ignore"):
            yield


def trusted(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Let a test's own callback use the reference while student code calls it."""

    def call(*args: Any, **kwargs: Any) -> Any:
        _State.paused += 1
        previous = _getprofile()
        _setprofile(None)
        try:
            return fn(*args, **kwargs)
        finally:
            _setprofile(previous)
            _State.paused -= 1

    return call


def call_student(fn: Callable[..., Any], *args: Any, name: str, task: str,
                 shown: str = "", forbidden: tuple[tuple[str, str], ...] = (),
                 seconds: float | None = None) -> Any:
    """Call `fn(*args)` as student code: quiet, reference blocked, clear errors.

    `name` is how the message refers to the student's function, `task` what the
    exercise asks them to implement, `shown` a readable form of the input,
    `forbidden` further packages it must not call ((module_dir(pkg), name) pairs),
    `seconds` how long it may run (see `time_limit`).
    """
    if not callable(fn):
        raise AssertionError(f"{name} should be a function, but it is "
                             f"{type(fn).__name__}: {fn!r}")
    on = f" on {shown}" if shown else ""
    try:
        with quiet(), reference_blocked(task, forbidden):
            try:
                with time_limit(seconds):
                    result = fn(*args)
            finally:
                replaced = _restore()  # what the call replaced, put back at once
        if replaced:
            raise AssertionError(f"{name}{on} replaced {', '.join(replaced)} while being "
                                 "tested; grading puts it back and gives no points for "
                                 "this test")
        return result
    except AssertionError:
        raise
    except ReferenceBlocked as err:
        raise AssertionError(str(err)) from None
    except _OutOfTime:
        raise AssertionError(f"{name}{on} did not finish within {seconds:g} s") from None
    except NotImplementedError:
        raise AssertionError(f"{name}{on}: not implemented yet (it raised "
                             "NotImplementedError)") from None
    except RecursionError:
        raise AssertionError(f"{name}{on} recursed without end (RecursionError)") from None
    except Exception as err:  # a student's bug: report it, do not crash the test
        raise AssertionError(f"{name}{on} raised {type(err).__name__}: {err}") from None
