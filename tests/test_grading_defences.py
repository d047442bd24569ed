"""Unit tests of the defences issue 6 added (the pipeline tests grade them for real)."""

from __future__ import annotations

import asyncio
import builtins
import copy
import logging
import signal
import sys
import threading
import time
import types
import warnings
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
import zmq

from grading import checks, compare, guard, problems
from grading.execute import (CapOutputSize, GuardedExecute, configure, give_cells_ids,
                             plain_copies)
from grading.feedback import HIDDEN_FEEDBACK, HIDDEN_MARK, HIDDEN_OUTPUT, ShortTestTracebacks
from grading.sandbox import call_student

pytestmark = pytest.mark.grading


def test_a_function_that_patches_builtins_while_tested_fails_and_is_undone() -> None:
    original = builtins.abs

    def cheat() -> float:
        builtins.abs = lambda x: 0.0
        return 1.0

    with pytest.raises(AssertionError, match=r"replaced builtins\.abs while being tested"):
        call_student(cheat, name="cheat", task="nothing")
    assert builtins.abs is original


def test_an_import_hook_installed_while_tested_fails_and_is_undone() -> None:
    # builtins.__import__ is on the guard's list: a hook could hand the test cells
    # that import after it a fake NumPy or a fake grading
    original = builtins.__import__

    def cheat() -> float:
        builtins.__import__ = lambda *args, **kwargs: original(*args, **kwargs)
        return 1.0

    with pytest.raises(AssertionError, match=r"replaced builtins\.__import__ while being"):
        call_student(cheat, name="cheat", task="nothing")
    assert builtins.__import__ is original


def test_what_a_tested_function_writes_to_stderr_is_dropped(
        capsys: pytest.CaptureFixture[str]) -> None:
    # nbgrader zeroes a test cell with stderr output; a log line must not cost a test
    def logs() -> float:
        logging.getLogger("a student's").warning("no convergence after 10 000 iterations")
        print("debugging", file=sys.stderr)
        return 1.0

    assert call_student(logs, name="logs", task="nothing") == 1.0
    assert capsys.readouterr().err == ""
    print("after", file=sys.stderr)  # and stderr is back
    assert capsys.readouterr().err == "after\n"


def test_a_recursion_too_deep_is_told_it_may_be_finite() -> None:
    def prefix(i: int) -> float:  # ends, but only after as many calls as entries
        return 1.0 if i == 0 else prefix(i - 1) * 1.0

    with pytest.raises(AssertionError, match=r"^prefix on 200000 entries went deeper than "
                                             r"Python's recursion limit.*as a loop\)$"):
        call_student(lambda: prefix(200_000), name="prefix", task="nothing",
                     shown="200000 entries")


def test_a_time_limit_stops_a_loop_that_catches_exceptions_and_is_put_back() -> None:
    def spin() -> None:
        while True:
            try:
                sum(range(1000))
            except Exception:  # what a student's loop may do; the limit gets through
                pass

    before = signal.getsignal(signal.SIGALRM)
    with pytest.raises(AssertionError, match=r"^spin on x = 1 did not finish within 0\.2 s$"):
        call_student(spin, name="spin", task="nothing", shown="x = 1", seconds=0.2)
    assert call_student(lambda: 3, name="quick", task="nothing", seconds=0.2) == 3
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # no alarm left to go off


def test_code_that_catches_the_time_limit_is_out_of_time_all_the_same() -> None:
    def stubborn() -> int:
        try:
            while True:
                sum(range(1000))
        except BaseException:  # swallows the limit, then answers as if in time
            return 3

    with pytest.raises(AssertionError, match=r"^stubborn did not finish within 0\.2 s$"):
        call_student(stubborn, name="stubborn", task="nothing", seconds=0.2)


def test_a_timer_running_before_the_call_keeps_what_was_left_of_it() -> None:
    # the outer timer (a cell timeout, say) is put back with what was left of it:
    # the time the call took comes off it, and a repeating timer keeps repeating
    signal.setitimer(signal.ITIMER_REAL, 100.0, 50.0)  # SIGALRM's default: no firing here
    try:
        assert call_student(lambda: time.sleep(0.3), name="slow", task="nothing",
                            seconds=5.0) is None
        left, interval = signal.getitimer(signal.ITIMER_REAL)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    assert 50.0 < left <= 99.7 and interval == 50.0


def test_a_timer_that_ran_out_during_the_call_goes_off_after_it() -> None:
    # put back with no time left, it must go off at once, not be switched off
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    try:
        call_student(lambda: time.sleep(0.3), name="slow", task="nothing", seconds=5.0)
        for _ in range(1000):  # the handler runs at the next check for signals
            if fired:
                break
            time.sleep(0.001)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert fired == [signal.SIGALRM]


def test_touching_the_reference_fails_even_if_the_answer_catches_the_error() -> None:
    import autodiff_lite as ad

    def sly() -> float:
        try:
            return ad.grad(lambda t: t * t)(1.0)
        except Exception:  # swallows the block's error and answers anyway
            return 2.0

    with pytest.raises(AssertionError, match=r"your code called autodiff_lite\.grad\. "):
        call_student(sly, name="sly", task="the gradient")


def test_trusted_callbacks_may_use_solvers_and_hand_the_guard_back_after() -> None:
    # A test's callback (an oracle) may call what the student may not; once it has
    # returned, the student's code is watched again, names imported before included.
    from autodiff_lite import grad
    from grading.checks.lagrange import SOLVERS
    from grading.sandbox import trusted

    A, b = np.array([[2.0, 0.0], [1.0, 1.0]]), np.array([2.0, 3.0])
    oracle = trusted(lambda: np.linalg.solve(A, b))  # through NumPy's compiled gufunc
    assert call_student(lambda: float(oracle()[1]), name="answer", task="it",
                        forbidden=SOLVERS) == 2.0

    def after_the_oracle() -> float:
        oracle()
        return grad(lambda t: t * t)(1.0)
    with pytest.raises(AssertionError, match=r"your code called autodiff_lite: grad\. "):
        call_student(after_the_oracle, name="answer", task="it", forbidden=SOLVERS)


def test_a_call_leaves_the_profile_hook_it_found() -> None:
    # the block's hook must not outlive it: every later call in the kernel would
    # pay for it, and a `library_calls` around the call would stop counting
    def hook(frame: types.FrameType, event: str, arg: Any) -> None:
        pass

    previous = sys.getprofile()
    sys.setprofile(hook)
    try:
        call_student(lambda: 3, name="quick", task="nothing")
        after = sys.getprofile()
    finally:
        sys.setprofile(previous)
    assert after is hook


def test_warnings_made_errors_and_numpy_set_to_raise_do_not_fail_a_right_answer() -> None:
    # a notebook may have set either; a correct answer may overflow on the way, or warn
    def overflows() -> float:
        warnings.warn("no convergence after 10 000 iterations", stacklevel=1)
        return float(np.exp(np.float64(1000.0)) > 0)

    old = np.seterr(all="raise")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert call_student(overflows, name="overflows", task="nothing") == 1.0
    finally:
        np.seterr(**old)


def test_a_compiled_solver_imported_into_the_notebook_is_refused_through_a_partial(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # a functools.partial has no globals: the notebook's (__main__) are searched too
    import functools

    import scipy.linalg.lapack

    from grading.checks.lagrange import SOLVERS
    notebook = types.ModuleType("__main__")
    exec("from scipy.linalg.lapack import dtrtrs\n"
         "def solve(A, b, lower):\n    return dtrtrs(A, b, lower=lower)[0]\n", vars(notebook))
    monkeypatch.setitem(sys.modules, "__main__", notebook)
    answer = functools.partial(vars(notebook)["solve"], lower=1)
    with pytest.raises(AssertionError, match=r"called scipy\.linalg\.dtrtrs"):
        call_student(answer, np.eye(2), np.ones(2), name="back_substitute",
                     task="back-substitution", forbidden=SOLVERS)
    assert vars(notebook)["dtrtrs"] is scipy.linalg.lapack.dtrtrs  # put back


def test_a_stub_and_a_name_that_is_not_a_function_are_told_so() -> None:
    def stub(x: float) -> float:
        raise NotImplementedError

    with pytest.raises(AssertionError, match=r"^jvp on x = 1: not implemented yet \(it "
                                             r"raised NotImplementedError\)$"):
        call_student(stub, 1.0, name="jvp", task="it", shown="x = 1")
    with pytest.raises(AssertionError, match=r"^jvp should be a function, but it is "
                                             r"NoneType: None$"):
        call_student(None, name="jvp", task="it")  # type: ignore[arg-type]


def test_outside_the_main_thread_a_call_runs_without_a_time_limit() -> None:
    results: list[Any] = []

    def call() -> None:
        results.append(call_student(lambda: "done", name="f", task="nothing", seconds=0.1))
    thread = threading.Thread(target=call)
    thread.start()
    thread.join()
    assert results == ["done"]  # signals can only be set from the main thread


def test_checks_read_through_the_module_are_the_originals() -> None:
    real = checks.check_jvp
    namespace = vars(checks)
    namespace["check_jvp"] = lambda *args, **kwargs: "passed"
    try:
        assert checks.check_jvp is real  # a test cell's `checks.check_jvp`
    finally:
        guard.restore()
    assert namespace["check_jvp"] is real
    with pytest.raises(AttributeError):
        checks.__class__ = types.ModuleType  # type: ignore[assignment]


def test_the_checks_constants_and_tables_cannot_be_changed_from_a_notebook() -> None:
    # A longer time limit would let an O(n²) answer through; an empty table of
    # problems, any answer at all; another numpy in a check's globals, anything.
    cheap = vars(checks)["cheap"]
    wrong_difference = lambda f, x, h: 0.0  # noqa: E731
    vars(cheap)["LONG_SECONDS"] = 1e9
    vars(checks.forward)["np"] = types.SimpleNamespace()
    vars(problems)["SCALAR"] = {}
    # the check puts each back before it runs, so the wrong answer still fails
    with pytest.raises(AssertionError, match="forward_difference for f"):
        checks.check_difference(wrong_difference, "forward", seed=0)
    assert vars(cheap)["LONG_SECONDS"] == 20.0 and vars(checks.forward)["np"] is np
    vars(problems)["SCALAR"] = {}
    assert "grading.problems.SCALAR" in guard.restore()
    for table in (problems.SCALAR, problems.LARGE_X, problems.VECTOR):
        with pytest.raises(AttributeError):  # a read-only mapping: no clear, pop, update
            table.clear()  # type: ignore[attr-defined]
        with pytest.raises(TypeError):
            table["x"] = wrong_difference  # type: ignore[index]


def test_the_private_helpers_of_the_grading_modules_are_put_back_too() -> None:
    # every comparison goes through compare's captured primitives: an answer cell
    # that makes `_abs` return 0 would pass any wrong value, and a check's
    # functions cannot be deleted
    vars(compare)["_abs"] = lambda v: 0.0
    with pytest.raises(AssertionError, match="forward_difference for f"):
        checks.check_difference(lambda f, x, h: 0.0, "forward", seed=0)
    assert vars(compare)["_abs"] is builtins.abs
    with pytest.raises(AttributeError, match="cannot be deleted"):
        del checks.check_jvp
    assert "check_jvp" in vars(checks)


def test_restore_reseals_and_puts_grading_back_into_sys_modules() -> None:
    real = sys.modules["grading"]
    object.__setattr__(compare, "__class__", types.ModuleType)
    sys.modules["grading"] = types.ModuleType("grading")
    replaced = guard.restore()
    assert sys.modules["grading"] is real
    assert type(compare).__name__ == "_Sealed"
    assert "sys.modules['grading']" in replaced and "grading.compare.__class__" in replaced


def test_feedback_drops_what_hidden_tests_printed_and_redacts_their_errors() -> None:
    cell = nbformat.v4.new_code_cell("print(checks.check_jvp(jvp, ops, seed=8))")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t",
                                 "points": 1}
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout",
                               text=f"visible passed\n{HIDDEN_OUTPUT}\nLEAK (1.5, 2.5)\n"),
        nbformat.v4.new_output("display_data", data={"text/html": "<b>LEAK</b>"}),
        nbformat.v4.new_output("stream", name="stdout", text="LEAK again\n"),
        nbformat.v4.new_output("error", ename="Leak", evalue="LEAK (1.5, 2.5)",
                               traceback=["Leak: LEAK (1.5, 2.5)"]),
    ]
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb, _ = ShortTestTracebacks().preprocess(nb, {})
    out = nb.cells[0].outputs
    assert [o.output_type for o in out] == ["stream", "error"]
    assert out[0].text == f"visible passed\n{HIDDEN_OUTPUT}\n"
    assert out[1].evalue == HIDDEN_FEEDBACK and "LEAK" not in str(out[1])
    assert out[1].ename == "AssertionError"  # not the hidden test's exception type
    assert HIDDEN_MARK not in str(out)


def test_feedback_joins_the_pieces_of_a_stream() -> None:
    # A loaded kernel's flush timer can send one print in pieces: each piece got a
    # block of its own in the feedback, and a marker cut in two would not be seen.
    cell = nbformat.v4.new_code_cell("print(checks.check_jvp(jvp, ops, seed=8))")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t",
                                 "points": 1}
    half = len(HIDDEN_OUTPUT) // 2
    pieces = ["LEAK", " (2.0, 5.0)\n", f"visible passed\n{HIDDEN_OUTPUT[:half]}",
              f"{HIDDEN_OUTPUT[half:]}\nLEAK (1.5, 2.5)\n"]
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=p) for p in pieces]
    nb, _ = ShortTestTracebacks().preprocess(nbformat.v4.new_notebook(cells=[cell]), {})
    out = nb.cells[0].outputs
    assert len(out) == 1 and out[0].text == f"LEAK (2.0, 5.0)\nvisible passed\n{HIDDEN_OUTPUT}\n"
    # pieces of different streams stay apart, in their order
    cell.outputs = [nbformat.v4.new_output("stream", name=name, text=text) for name, text in
                    (("stdout", "a"), ("stderr", "b"), ("stdout", "c"))]
    nb, _ = ShortTestTracebacks().preprocess(nbformat.v4.new_notebook(cells=[cell]), {})
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [
        ("stdout", "a"), ("stderr", "b"), ("stdout", "c")]


def test_feedback_keeps_the_tracebacks_of_cells_that_are_not_tests() -> None:
    # an answer cell graded by hand and a cell the student added hold no hidden
    # test, and the whole traceback of their own code helps them
    error = nbformat.v4.new_output("error", ename="ZeroDivisionError",
                                   evalue="division by zero",
                                   traceback=["Cell In[3], line 1", "----> 1 1 / 0",
                                              "ZeroDivisionError: division by zero"])
    cells = []
    for meta in ({"grade": True, "solution": True, "grade_id": "a", "points": 2}, None):
        cell = nbformat.v4.new_code_cell("1 / 0")
        if meta is not None:
            cell.metadata["nbgrader"] = meta
        cell.outputs = [copy.deepcopy(error)]
        cells.append(cell)
    nb, _ = ShortTestTracebacks().preprocess(nbformat.v4.new_notebook(cells=cells), {})
    assert [c.outputs[0].traceback for c in nb.cells] == [error.traceback] * 2


def test_hidden_checks_turn_any_exception_into_a_tagged_failure(
        capsys: pytest.CaptureFixture) -> None:
    class Leak(BaseException):
        pass

    def jvp(f, primals, tangents):  # noqa: ANN001, ANN202
        raise Leak(str(primals))

    ops = {name: getattr(__import__("math"), name) for name in ("exp", "log", "sin", "cos")}
    with pytest.raises(AssertionError, match=r"^\[hidden test\] Leak"):
        checks.check_jvp(jvp, ops, seed=1008)
    assert HIDDEN_OUTPUT in capsys.readouterr().out


def test_outputs_are_capped_in_characters() -> None:
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * 10**6),
                    nbformat.v4.new_output("display_data", data={"text/html": "y" * 10**6})]
    nb, _ = CapOutputSize(max_chars=1000).preprocess(nbformat.v4.new_notebook(cells=[cell]),
                                                     {})
    assert sum(len(str(o)) for o in nb.cells[0].outputs) < 3000


def test_images_have_limits_of_their_own() -> None:
    # a figure a written answer asks for is kept; a huge image, or images past the
    # notebook's budget, are dropped with a note saying what they were
    def figure(chars: int) -> nbformat.NotebookNode:
        return nbformat.v4.new_output("display_data", data={
            "image/png": "i" * chars, "text/plain": "<Figure size 640x480 with 1 Axes>"})
    cells = [nbformat.v4.new_code_cell("") for _ in range(3)]
    cells[0].outputs = [figure(60_000)]
    cells[1].outputs = [figure(2_000_000)]
    cells[2].outputs = [figure(60_000), figure(60_000)]
    nb, _ = CapOutputSize(max_chars=1000, max_image_chars=1_000_000,
                          max_image_total=100_000).preprocess(
        nbformat.v4.new_notebook(cells=cells), {})
    first, huge, (second, third) = (c.outputs if len(c.outputs) > 1 else c.outputs[0]
                                    for c in nb.cells)
    assert first.data["image/png"] == "i" * 60_000
    assert first.data["text/plain"] == "<Figure size 640x480 with 1 Axes>"
    for dropped in (huge, second, third):
        assert "image/png" not in dropped.data
        assert "image/png of" in dropped.data["text/plain"]


def test_streams_and_errors_are_capped_at_the_limit() -> None:
    # just over the limit is over it; an error's message and traceback are outputs too
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * 1001),
                    nbformat.v4.new_output("error", ename="ValueError", evalue="v" * 10**6,
                                           traceback=["t" * 10**6, "short"])]
    nb, _ = CapOutputSize(max_chars=1000).preprocess(nbformat.v4.new_notebook(cells=[cell]),
                                                     {})
    stream, error = nb.cells[0].outputs
    assert stream.text == "x" * 1000 + "\n... Output truncated ...\n"
    assert error.evalue == "v" * 1000 and error.traceback == ["t" * 1000, "short"]


def test_the_image_budget_is_per_notebook_and_spent_only_on_images_kept() -> None:
    # nbgrader runs one CapOutputSize over every notebook of a batch; an image
    # too large to keep takes nothing from the budget of those after it
    def figure(chars: int) -> nbformat.NotebookNode:
        return nbformat.v4.new_output("display_data", data={"image/png": "i" * chars})
    cap = CapOutputSize(max_image_chars=1000, max_image_total=1500)
    for _ in range(2):  # two students' notebooks
        cell = nbformat.v4.new_code_cell("")
        cell.outputs = [figure(800), figure(5000), figure(600)]
        nb, _ = cap.preprocess(nbformat.v4.new_notebook(cells=[cell]), {})
        assert ["image/png" in o.data for o in nb.cells[0].outputs] == [True, False, True]


def test_copies_left_by_deduplication_become_plain_cells() -> None:
    cell = nbformat.v4.new_code_cell("print(1)")
    cell.metadata["nbgrader"] = {}  # what nbgrader's DeduplicateIds leaves on a copy
    nb = nbformat.v4.new_notebook(cells=[cell])
    plain_copies(nb)  # the first step of RestoreLockedCells
    assert "nbgrader" not in nb.cells[0].metadata


def test_cells_put_back_without_an_id_get_a_unique_valid_one() -> None:
    # what nbgrader's add_missing_cells inserts: a test cell with no id
    cells = [nbformat.v4.new_code_cell("x = 1", id="restored-test-jvp")]
    cells += [nbformat.v4.new_code_cell("assert x == 1") for _ in range(3)]
    nb = nbformat.v4.new_notebook(cells=cells)
    for cell in nb.cells[1:]:
        del cell["id"]
    nb.cells[1].metadata["nbgrader"] = {"grade_id": "test_jvp"}
    nb.cells[2].metadata["nbgrader"] = {"grade_id": "test_jvp"}  # clashes twice
    nb.cells[3].metadata["nbgrader"] = {"grade_id": "test 2.1 " * 10}  # not a valid id
    with pytest.warns(nbformat.warnings.MissingIDFieldWarning):
        nbformat.validate(copy.deepcopy(nb))
    give_cells_ids(nb)
    ids = [cell.id for cell in nb.cells]
    assert ids[0] == "restored-test-jvp" and len(set(ids)) == 4
    assert all(i.startswith("restored-") and len(i) <= 64 for i in ids)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nbformat.validate(nb)


def test_a_notebook_of_format_4_4_gets_no_ids() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    nb.nbformat_minor = 4
    del nb.cells[0]["id"]
    give_cells_ids(nb)
    assert "id" not in nb.cells[0]


def test_configure_installs_the_preprocessors() -> None:
    from traitlets.config import Config

    c = Config()
    configure(c)
    names = [p.__name__ for p in c.Autograde.autograde_preprocessors]
    assert names[0] == "GuardedExecute" and "CapOutputSize" in names
    sanitize = [p.__name__ for p in c.Autograde.sanitize_preprocessors]
    assert "RestoreLockedCells" in sanitize
    assert "OverwriteCellsWithIds" in sanitize and "OverwriteCells" not in sanitize


def test_kernels_talk_over_unix_sockets_of_their_own(capfd: pytest.CaptureFixture) -> None:
    """No TCP port two grading processes could both pick, no warning per submission."""
    ex = GuardedExecute()
    ex.nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    first, second = ex.create_kernel_manager(), ex.create_kernel_manager()
    if not zmq.has("ipc"):  # Windows: TCP, as nbclient does
        assert first.transport == second.transport == "tcp"
        return
    assert first.transport == second.transport == "ipc"
    assert first.ip != second.ip
    assert Path(first.ip).parent == Path(second.ip).parent  # this process's folder
    asyncio.run(_run_a_cell(first))
    assert not list(Path(first.ip).parent.glob(f"{Path(first.ip).name}-*"))  # cleaned up
    assert "without encryption" not in capfd.readouterr().err


def test_kernels_fall_back_to_tcp_where_a_socket_path_would_be_too_long(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # a deep $TMPDIR (macOS gives /var/folders/.../T/): zmq refuses long ipc paths
    from grading import execute
    deep = types.SimpleNamespace(name="/tmp/" + "d" * zmq.IPC_PATH_MAX_LEN)
    monkeypatch.setattr(execute, "_sockets", lambda: deep)
    ex = GuardedExecute()
    ex.nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    assert ex.create_kernel_manager().transport == "tcp"


class _Kernel:
    """What GuardedExecute asks of its kernel manager and client on a restart."""

    def __init__(self) -> None:
        self.restarts = 0

    async def restart_kernel(self, now: bool = False) -> None:
        self.restarts += 1

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        pass


def _scripted(monkeypatch: pytest.MonkeyPatch, sources: list[str], hangs: list[str],
              **config: Any) -> tuple[GuardedExecute, list[str]]:
    """A GuardedExecute on code cells of these sources (test cells start with
    "test", answer cells with "answer" or "loop") whose kernel is a script: it
    records each source it is given and prints a line, but does not stop on the
    first run of each source in `hangs` (nbclient raises CellTimeoutError)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError

    ran: list[str] = []

    async def execute(self: GuardedExecute, cell: nbformat.NotebookNode, cell_index: int,
                      execution_count: int | None = None,
                      store_history: bool = True) -> nbformat.NotebookNode:
        ran.append(cell.source)
        if cell.source in hangs:
            hangs.remove(cell.source)
            raise CellTimeoutError("interrupted, and still busy")
        cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text="out\n"))
        self.nb.cells[cell_index] = cell  # what nbclient does with the cell it ran
        return cell

    monkeypatch.setattr(NotebookClient, "async_execute_cell", execute)
    cells = [nbformat.v4.new_markdown_cell("# the statement")]
    for source in sources:
        cell = nbformat.v4.new_code_cell(source)
        test, answer = source.startswith("test"), source.startswith(("answer", "loop"))
        cell.metadata["nbgrader"] = {"grade": test or source == "answer graded",
                                     "solution": answer, "locked": not answer,
                                     "grade_id": source.replace(" ", "-"), "points": 1}
        cells.append(cell)
    ex = GuardedExecute(**config)
    ex.nb = nbformat.v4.new_notebook(cells=cells)
    ex.km = ex.kc = _Kernel()  # type: ignore[assignment]
    return ex, ran


def test_a_stuck_cell_restarts_the_kernel_and_runs_the_cells_before_it_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The guard is reset before test cells only (not before an answer cell that is
    # graded); a stuck cell, or a kernel that does not answer the reset, restarts
    # the kernel; the code cells before run again on copies (their outputs stay
    # the first run's), except those that got stuck (they would again); past
    # max_restarts the notebook is given up on.
    from nbclient.exceptions import CellTimeoutError

    from grading.execute import RESTORE_SNIPPET, STUCK_MESSAGE
    sources = ["setup", "answer", "test", "loop", "answer graded", "loop again", "test 2"]
    hangs = [RESTORE_SNIPPET, "loop", "loop again"]
    ex, ran = _scripted(monkeypatch, sources, hangs, max_restarts=3)
    cells = list(ex.nb.cells)
    for index in range(1, len(cells)):
        ex.execute_cell(cells[index], index)
    before_test, before_loop = ["setup", "answer"], ["setup", "answer", "test"]
    assert ran == (["setup", "answer", RESTORE_SNIPPET] + before_test + ["test", "loop"]
                   + before_loop + ["answer graded", "loop again"] + before_loop
                   + ["answer graded", RESTORE_SNIPPET, "test 2"])
    assert ex.km.restarts == 3
    assert all(a is b for a, b in zip(ex.nb.cells, cells))  # not the copies run again
    outputs = [[o.get("text") or o.evalue for o in c.get("outputs", [])] for c in cells]
    stuck = STUCK_MESSAGE.format(timeout=ex.timeout)
    assert outputs == [[], ["out\n"], ["out\n"], ["out\n"], [stuck], ["out\n"], [stuck],
                       ["out\n"]]
    hangs.append("test 2")  # a fourth restart is one too many
    with pytest.raises(CellTimeoutError, match="stuck 4 times; giving up"):
        ex.execute_cell(cells[7], 7)


def test_a_notebook_past_its_time_budget_is_given_up_on_unless_there_is_none(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from nbclient.exceptions import CellTimeoutError
    for budget in (60, 0):
        ex, ran = _scripted(monkeypatch, ["setup", "answer"], [], notebook_timeout=budget)
        ex.execute_cell(ex.nb.cells[1], 1)
        ex._deadline -= 120  # as if the first cell had run two minutes
        if budget:
            with pytest.raises(CellTimeoutError, match="longer than 60 s in total"):
                ex.execute_cell(ex.nb.cells[2], 2)
        else:  # 0: no limit
            ex.execute_cell(ex.nb.cells[2], 2)
            assert ran == ["setup", "answer"]


def test_the_documented_limits_are_the_defaults() -> None:
    # docs/instructors.md: 900 s a notebook, 3 stuck cells, outputs of 20 000
    # characters, images of 1 000 000 each and 5 000 000 a notebook
    ex, cap = GuardedExecute(), CapOutputSize()
    assert (ex.notebook_timeout, ex.max_restarts) == (900, 3)
    assert (cap.max_chars, cap.max_image_chars, cap.max_image_total) == (
        20_000, 1_000_000, 5_000_000)


def test_a_socket_path_needs_room_for_the_suffix_zmq_adds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # zmq names each of a kernel's sockets "<path>-<n>": a path 2 characters short
    # of zmq's limit is too long already
    import itertools

    from grading import execute
    monkeypatch.setattr(execute, "_KERNELS", itertools.count(5))  # "kernel5"
    folder = "/tmp/" + "d" * (zmq.IPC_PATH_MAX_LEN - len("/tmp/") - len("/kernel5") - 2)
    monkeypatch.setattr(execute, "_sockets", lambda: types.SimpleNamespace(name=folder))
    ex = GuardedExecute()
    ex.nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    assert ex.create_kernel_manager().transport == "tcp"


async def _run_a_cell(km: Any) -> None:
    """Start `km`'s kernel (nbclient's managers are asynchronous), run a cell, stop it."""
    await km.start_kernel()
    try:
        client = km.client()
        client.start_channels()
        await client.wait_for_ready(timeout=60)
        reply = await client.execute_interactive("6 * 7", timeout=60)
        assert reply["content"]["status"] == "ok"
        assert list(Path(km.ip).parent.glob(f"{Path(km.ip).name}-*"))  # its sockets
        client.stop_channels()
    finally:
        await km.shutdown_kernel(now=True)
