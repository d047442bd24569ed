"""Unit tests of the defences issue 6 added (the pipeline tests grade them for real)."""

from __future__ import annotations

import asyncio
import builtins
import copy
import logging
import signal
import sys
import threading
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
    signal.setitimer(signal.ITIMER_REAL, 100.0)  # a cell timeout, say; SIGALRM's default
    try:
        assert call_student(lambda: 3, name="quick", task="nothing", seconds=0.2) == 3
        left, _ = signal.getitimer(signal.ITIMER_REAL)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    assert 99.0 < left <= 100.0


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
