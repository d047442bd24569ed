"""Calling student code: quietly, and with the reference library out of reach.

Four things happen around every call into a student's answer:

* NumPy floating-point warnings and Python warnings are silenced, because nbgrader
  scores a test cell 0 as soon as it writes anything to stderr, and a correct
  solution may legitimately overflow or divide by zero on the way;
* `autodiff_lite` is blocked: attribute access on its modules raises (this covers
  `import autodiff_lite as ad; ad.grad(...)`), and a profile hook records any call
  into its code (this covers `from autodiff_lite import grad` made before the
  call). The exercises ask students to build the machinery themselves, so using
  the reference instead fails with a message that says so. Packages an
  exercise forbids (`forbidden`: NumPy's and SciPy's solvers) are watched by
  the same hook, and their compiled functions, which it cannot see (LAPACK and
  BLAS wrappers, NumPy's linalg gufuncs), are swapped for stand-ins that fail;
* exceptions become AssertionErrors that name the function and the input;
* given `seconds`, the call is stopped when it runs longer (a check that must
  tell an O(n) answer from an O(n²) one gives it an input where the difference
  is seconds against minutes, rather than wait for the cell's timeout).

Callbacks that the tests hand to student code (an HVP oracle, a function to
differentiate) may use the reference: wrap them with `trusted`. Where an
exercise allows some of the reference and not the rest, `library_calls` counts
which of its functions the student's code called.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import sys
import threading
import time
import types
import warnings
from typing import Any, Callable, Iterator

import numpy as np

import autodiff_lite

from . import guard


def module_dir(module: types.ModuleType) -> str:
    """The directory prefix of a package, to forbid its code in `call_student`."""
    return os.path.dirname(os.path.abspath(module.__file__ or "")) + os.sep


_REFERENCE = "autodiff_lite"
_REFERENCE_DIR = module_dir(autodiff_lite)
# the code whose calls of the reference are not the student's: its own, grading's
# (and, for lessons' self-checks, code that is not the learner's either)
OWN_CODE = (_REFERENCE_DIR, os.path.dirname(os.path.abspath(__file__)) + os.sep)
_errstate = np.errstate
_catch_warnings = warnings.catch_warnings
_simplefilter = warnings.simplefilter
_getprofile = sys.getprofile
_setprofile = sys.setprofile
_ModuleType = types.ModuleType
_object_setattr = object.__setattr__
_modules = sys.modules
_restore = guard.restore
_redirect_stderr = contextlib.redirect_stderr


class _Discard:
    """Where a student's function writes to stderr while it is tested: nbgrader
    gives a test cell that writes to stderr no points, without a word, and a log
    line (`logging.warning` before giving up) is no reason to lose a test that
    passes. Warnings are silenced the same way (`quiet`)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class ReferenceBlocked(RuntimeError):
    """Raised when student code touches `autodiff_lite` during a graded call."""


class _OutOfTime(BaseException):
    """Raised into student code when its time is up; a BaseException, so that the
    student's `except Exception` does not swallow it."""


def _time_up(signum: int, frame: types.FrameType | None) -> None:
    _State.out_of_time = True
    raise _OutOfTime


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise _OutOfTime into the block after `seconds` of wall-clock time.

    A no-op for None, and where no interval timer can be set: outside the main
    thread (signals go to the main thread) and on platforms without SIGALRM.
    The previous handler is put back whatever happens, and so is a timer that
    was running, with what was left of it. Code that catches _OutOfTime (an
    `except BaseException`) and returns is out of time all the same.
    """
    if (seconds is None or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return
    previous = signal.signal(signal.SIGALRM, _time_up)
    start = time.monotonic()
    _State.out_of_time = False
    outer, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
        if _State.out_of_time:
            raise _OutOfTime
    finally:
        # this block's timer off and the previous handler back before the outer
        # timer is set again: one that ran out meanwhile goes off at once, and
        # must reach its own handler, not be taken for this block's time limit
        signal.setitimer(signal.ITIMER_REAL, 0)
        left = max(outer - (time.monotonic() - start), 1e-6) if outer else 0.0
        signal.signal(signal.SIGALRM, previous)
        signal.setitimer(signal.ITIMER_REAL, left, interval)


# the code of a function whose calls a check wants to see -> a callback given the
# frame of each call (the arguments bound)
Watch = dict[types.CodeType, Callable[[types.FrameType], None]]


class _State:
    """What is being graded right now; `paused` > 0 inside a trusted callback."""

    task: str | None = None
    paused: int = 0
    violation: str | None = None
    # (directory prefix, name) of further code an exercise must not call.
    forbidden: tuple[tuple[str, str], ...] = ()
    # the profile hook from before the block (library_calls' counter, or None),
    # which trusted callbacks run under
    outer: Any = None
    # whether the time limit went off, though the student's code caught it
    out_of_time = False
    # code objects of the student's whose calls a check wants to see, however
    # reached (an alias, a functools.partial): code -> callback(frame)
    watched: Watch = {}


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
    _watch(frame)
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


def _forbidden_modules(forbidden: tuple[tuple[str, str], ...]
                       ) -> list[tuple[types.ModuleType, str]]:
    """The loaded modules of the forbidden packages, each with the package's name."""
    found = []
    for module in list(_modules.values()):
        filename = getattr(module, "__file__", None) or ""
        found += [(module, name) for prefix, name in forbidden if filename.startswith(prefix)]
    return found


def _compiled_in(modules: list[tuple[types.ModuleType, str]]) -> dict[int, tuple[Any, str]]:
    """The functions the extension modules among `modules` define (LAPACK and BLAS
    wrappers such as scipy.linalg.lapack.dtrtrs, NumPy's linalg gufuncs), by id,
    with the name to report. A profile hook sees no call of these, so
    `_compiled_blocked` puts stand-ins in their place."""
    found: dict[int, tuple[Any, str]] = {}
    for module, name in modules:
        if str(getattr(module, "__file__", "")).endswith(".py"):
            continue
        for attr, value in vars(module).items():
            # not what they import (NumPy's zeros and asarray are there too)
            home = getattr(value, "__module__", None)
            if (callable(value) and not isinstance(value, (type, _ModuleType))
                    and (home is None or str(home).startswith(name))):
                found[id(value)] = (value, f"{name}.{attr}")
    return found


@contextlib.contextmanager
def _compiled_blocked(forbidden: tuple[tuple[str, str], ...],
                      namespaces: list[dict[str, Any]]) -> Iterator[None]:
    """While the block runs, the forbidden packages' compiled functions, wherever
    the packages' modules or `namespaces` (the student's globals) hold them,
    are stand-ins that report a violation (and call through for trusted code)."""
    modules = _forbidden_modules(forbidden)
    compiled = _compiled_in(modules)
    if not compiled:
        yield
        return
    swapped: list[tuple[dict[str, Any], str, Any]] = []
    for space in [vars(m) for m, _ in modules] + namespaces:
        for attr, value in list(space.items()):
            hit = compiled.get(id(value))
            if hit is not None and hit[0] is value:
                space[attr] = _stand_in(*hit)
                swapped.append((space, attr, value))
    try:
        yield
    finally:
        for space, attr, value in swapped:
            space[attr] = value


def _is_own(namespace: dict[str, Any]) -> bool:
    """Whether `namespace` is the globals of grading's or the reference's code
    (a check's lambda around the student's function), which the guard watches."""
    return str(namespace.get("__file__", "")).startswith(OWN_CODE)


def _stand_in(fn: Any, what: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        if _State.paused:
            return fn(*args, **kwargs)
        if _State.violation is None:
            _State.violation = what
        raise ReferenceBlocked(_blocked_message(what, _State.task))
    return call


def _reference_modules() -> list[types.ModuleType]:
    return [m for name, m in list(_modules.items())
            if (name == _REFERENCE or name.startswith(_REFERENCE + "."))
            and type(m) in (_ModuleType, _BlockedModule)]


@contextlib.contextmanager
def reference_blocked(task: str, forbidden: tuple[tuple[str, str], ...] = (),
                      namespaces: tuple[dict[str, Any], ...] = (),
                      watch: Watch | None = None) -> Iterator[None]:
    """Run a block with `autodiff_lite` (and `forbidden` code) unusable; fail if
    used. `namespaces`: the student's globals, where compiled functions of the
    forbidden packages may have been imported; `watch`: see `call_student`."""
    modules = _reference_modules()
    previous_hook = _getprofile()
    _State.task, _State.violation, _State.paused = task, None, 0
    _State.forbidden, _State.outer, _State.watched = forbidden, previous_hook, watch or {}
    for m in modules:
        _object_setattr(m, "__class__", _BlockedModule)
    _setprofile(_profile_hook)
    try:
        with _compiled_blocked(forbidden, list(namespaces)):
            yield
    finally:
        _setprofile(previous_hook)
        for m in modules:
            _object_setattr(m, "__class__", _ModuleType)
        _State.task, _State.forbidden, _State.outer, _State.watched = None, (), None, {}
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
    """Let a test's own callback use the reference while student code calls it
    (under the profile hook from before the block, should `library_calls` count)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        _State.paused += 1
        previous = _getprofile()
        _setprofile(_watching if _State.watched else _State.outer)
        try:
            return fn(*args, **kwargs)
        finally:
            _setprofile(previous)
            _State.paused -= 1

    return call


def _watch(frame: types.FrameType) -> None:
    """Hand a call of a watched function to its callback, when the student's code
    made it (not the library's own: the lesson's `conjugate_gradient` is the
    library's, which `hyper.hypergradient` calls too)."""
    seen = _State.watched.get(frame.f_code)
    if (seen is not None and frame.f_back is not None
            and not frame.f_back.f_code.co_filename.startswith(OWN_CODE)):
        seen(frame)


def _watching(frame: types.FrameType, event: str, arg: Any) -> None:
    """The profile hook of trusted code while a check watches some of the
    student's functions (a lesson's answer may use the library): the watch, then
    the hook from before the block."""
    if event == "call":
        _watch(frame)
    if _State.outer is not None:
        _State.outer(frame, event, arg)


@contextlib.contextmanager
def library_calls() -> Iterator[collections.Counter[str]]:
    """Count, by name, the calls of the reference's public functions (`ad.grad`,
    `ad.vjp`, ...) that student code makes while the block runs.

    A profile hook sees a call however the function was reached (`ad.vjp`, a
    name imported before, `autodiff_lite.api.vjp`, a `functools.partial`). A
    call of a function one of them returned (`my_grad = ad.grad(g)`, a VJP's
    pullback) puts the name in the counter too, with no count of its own, so
    `used["vjp"]` is the number of calls of `ad.vjp` and `set(used)` every
    function used. A call counts when the caller is outside the library and
    grading, so `ad.hvp`'s own call of `jvp`, or a check computing its expected
    value, does not. Use it around the outermost call: it replaces the profile
    hook while it runs.
    """
    counts: collections.Counter[str] = collections.Counter()
    # the code of each public function; "grad" also stands for "grad.<locals>.g"
    public = {name: fn.__code__ for name in autodiff_lite.__all__
              if isinstance(fn := getattr(autodiff_lite, name), types.FunctionType)}

    def hook(frame: types.FrameType, event: str, arg: Any) -> None:
        if event != "call" or frame.f_back is None:
            return
        code = frame.f_code
        name = code.co_qualname.partition(".")[0]
        own = public.get(name)
        if (own is not None and own.co_filename == code.co_filename
                and not frame.f_back.f_code.co_filename.startswith(OWN_CODE)):
            counts[name] += 1 if code is own else 0

    previous = _getprofile()
    _setprofile(hook)
    try:
        yield counts
    finally:
        _setprofile(previous)


def call_student(fn: Callable[..., Any], *args: Any, name: str, task: str,
                 shown: str = "", forbidden: tuple[tuple[str, str], ...] = (),
                 seconds: float | None = None,
                 watch: Watch | None = None) -> Any:
    """Call `fn(*args)` as student code: quiet, reference blocked, clear errors.

    `name` is how the message refers to the student's function, `task` what the
    exercise asks them to implement, `shown` a readable form of the input,
    `forbidden` further packages it must not call ((module_dir(pkg), name) pairs),
    `seconds` how long it may run (see `_time_limit`), `watch` maps the code of
    a function to a callback that gets the frame of each call the student's code
    makes of it (with the arguments bound) during this one.
    """
    if not callable(fn):
        raise AssertionError(f"{name} should be a function, but it is "
                             f"{type(fn).__name__}: {fn!r}")
    on = f" on {shown}" if shown else ""
    try:
        namespaces = tuple({id(ns): ns for ns in (getattr(fn, "__globals__", None),
                                                  vars(_modules["__main__"]))
                            if isinstance(ns, dict) and not _is_own(ns)}.values())
        with quiet(), reference_blocked(task, forbidden, namespaces, watch):
            try:
                with _time_limit(seconds), _redirect_stderr(_Discard()):
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
        raise AssertionError(
            f"{name}{on} went deeper than Python's recursion limit (RecursionError): a "
            "recursion without end, or one as deep as its input is long (write that one "
            "as a loop)") from None
    except Exception as err:  # a student's bug: report it, do not crash the test
        raise AssertionError(f"{name}{on} raised {type(err).__name__}: {err}") from None
