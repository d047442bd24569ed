"""nbgrader preprocessors that keep grading going whatever a submission does.

`grading.pipeline` puts these into nbgrader's autograde steps (`Autograde.
sanitize_preprocessors` and `Autograde.autograde_preprocessors`):

* `RestoreLockedCells` puts back read-only cells a student deleted (the setup
  cell that imports NumPy and the checks, the instructions), at their place.
  nbgrader restores the *source* of locked cells that are still there, and
  (with `OverwriteCells.add_missing_cells`) deleted test cells, but not deleted
  read-only cells; `OverwriteCellsWithIds` gives the test cells nbgrader puts
  back the cell ids that nbformat requires (nbgrader leaves them without);
* `GuardedExecute` is nbgrader's `Execute` with two additions:

  - a cell that runs past the timeout and ignores the interrupt (it catches
    KeyboardInterrupt or ignores SIGINT) no longer stops the notebook: the
    kernel is restarted, the cells before it are run again (their outputs are
    kept from the first run), the cell gets a `CellTimeoutError` output, and
    grading continues with the next cell. Only the tests that need that cell
    lose their points;
  - before each test cell, the grading package's guard is reset from outside
    the student's cells (`grading.guard.restore`: functions an answer replaced,
    the grading modules in `sys.modules`, `builtins.__import__`, stdout);
  - the kernel talks to it over Unix sockets in a folder of the grading
    process's own, where the system has them, instead of TCP ports: two
    grading processes starting kernels at the same moment (`--jobs`) cannot
    pick the same port, and the kernel has no reason to warn, in every
    submission's log, that its TCP traffic is not encrypted.

A notebook whose cells keep getting stuck is stopped after `max_restarts`
restarts, and any notebook after `notebook_timeout` seconds in all (the
submission is then reported as not gradable, with the reason).

`configure(c)` installs them into an nbgrader config; `python -m grading` does
it for you. To get the same defences from the plain `nbgrader autograde`
command, call it at the end of the course's `nbgrader_config.py`.
"""

from __future__ import annotations

import copy
import functools
import itertools
import os
import re
import tempfile
import time
from typing import Any

import zmq
from jupyter_client import KernelManager

from nbclient.exceptions import CellTimeoutError
from nbclient.util import ensure_async, run_sync
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import Execute, NbGraderPreprocessor, OverwriteCells
from traitlets import Integer, Unicode

# Run silently before every test cell (see grading.guard.restore).
RESTORE_SNIPPET = "__import__('sys').modules['grading.guard'].restore();"

_KERNELS = itertools.count()  # this process's kernels, one socket prefix each


@functools.cache
def _sockets() -> tempfile.TemporaryDirectory:
    """This process's folder for its kernels' sockets (removed when it exits)."""
    return tempfile.TemporaryDirectory(prefix="grading-kernels-")


def over_ipc(km: KernelManager) -> KernelManager:
    """Have `km` talk to its kernel over Unix sockets in a private folder, not TCP.

    No other user of the machine can reach the kernel (ipykernel warns about
    TCP without encryption). Not on Windows, and not where $TMPDIR is too deep
    for a socket's path (each socket adds "-<n>" to it): there the kernel keeps
    TCP ports on 127.0.0.1.
    """
    path = os.path.join(_sockets().name, f"kernel{next(_KERNELS)}")
    if zmq.has("ipc") and len(path) + 4 <= zmq.IPC_PATH_MAX_LEN:
        km.transport, km.ip = "ipc", path
    return km


STUCK_MESSAGE = ("this cell ran longer than {timeout} s and did not stop when interrupted "
                 "(it catches KeyboardInterrupt or ignores SIGINT), so the kernel was "
                 "restarted and the cells before it were run again; the tests that need "
                 "it score 0")


def _is_test(cell: NotebookNode) -> bool:
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


class GuardedExecute(Execute):
    """nbgrader's Execute, surviving cells that ignore interrupts; guard reset per test."""

    max_restarts = Integer(
        3, help="restarts after stuck cells before the notebook is given up on").tag(
            config=True)
    restore_snippet = Unicode(RESTORE_SNIPPET).tag(config=True)
    notebook_timeout = Integer(
        900, help="seconds a whole notebook may run (restarts and replays included) "
                  "before it is given up on; 0 for no limit").tag(config=True)

    _replaying = False
    _restarts = 0
    _stuck: set[int]

    async def async_execute_cell(self, cell: NotebookNode, cell_index: int,
                                 execution_count: int | None = None,
                                 store_history: bool = True) -> NotebookNode:
        if self._replaying:
            return await super().async_execute_cell(cell, cell_index, execution_count,
                                                    store_history)
        if not hasattr(self, "_stuck"):
            self._stuck = set()
            self._deadline = time.monotonic() + self.notebook_timeout
        if self.notebook_timeout and time.monotonic() > self._deadline:
            raise CellTimeoutError(f"the notebook ran longer than {self.notebook_timeout} s "
                                   "in total")
        if _is_test(cell) and self.restore_snippet:
            try:
                await self._run_quietly(self.restore_snippet, cell_index)
            except CellTimeoutError:  # the kernel no longer answers: start it afresh
                await self._recover(cell_index)
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count,
                                                    store_history)
        except CellTimeoutError:
            # The interrupt did not end the cell: the kernel is still busy with it.
            self._stuck.add(cell_index)
            await self._recover(cell_index)
            self.nb.cells[cell_index] = cell
            message = STUCK_MESSAGE.format(timeout=self.timeout)
            cell.outputs.append(NotebookNode(
                output_type="error", ename="CellTimeoutError", evalue=message,
                traceback=[f"CellTimeoutError: {message}"]))
            return cell

    # nbclient binds its synchronous wrapper to the base class's coroutine
    execute_cell = run_sync(async_execute_cell)

    def create_kernel_manager(self) -> KernelManager:
        return over_ipc(super().create_kernel_manager())

    async def _run_quietly(self, code: str, cell_index: int) -> None:
        """Run `code` in the kernel; its outputs go nowhere."""
        scratch = NotebookNode(cell_type="code", source=code, metadata={}, outputs=[],
                               execution_count=None)
        await self._run_aside(scratch, cell_index)

    async def _run_aside(self, cell: NotebookNode, cell_index: int) -> None:
        """Execute `cell` without it replacing the notebook's cell at `cell_index`
        (nbclient stores the cell it executed back into the notebook)."""
        original = self.nb.cells[cell_index]
        self._replaying = True
        try:
            await super().async_execute_cell(cell, cell_index, store_history=False)
        finally:
            self._replaying = False
            self.nb.cells[cell_index] = original

    async def _recover(self, cell_index: int) -> None:
        self._restarts += 1
        if self._restarts > self.max_restarts:
            raise CellTimeoutError(f"the kernel got stuck {self._restarts} times; giving up")
        self.log.error("Cell %d did not stop when interrupted; restarting the kernel and "
                       "running the cells before it again", cell_index)
        await self._restart_and_replay(cell_index)

    async def _restart_and_replay(self, cell_index: int) -> None:
        assert self.km is not None and self.kc is not None
        await ensure_async(self.km.restart_kernel(now=True))
        await ensure_async(self.kc.wait_for_ready(timeout=self.startup_timeout))
        started = time.monotonic()
        for index in range(cell_index):
            cell = self.nb.cells[index]
            if index in self._stuck or cell.cell_type != "code":
                continue
            await self._run_aside(copy.deepcopy(cell), index)
        self.log.info("Replayed %d cells in %.1f s", cell_index, time.monotonic() - started)


def plain_copies(nb: NotebookNode) -> None:
    """Drop the empty `nbgrader` metadata DeduplicateIds leaves on duplicated cells."""
    for cell in nb.cells:
        if "nbgrader" in cell.metadata and "grade_id" not in cell.metadata.nbgrader:
            del cell.metadata["nbgrader"]


class RestoreLockedCells(NbGraderPreprocessor):
    """Put back read-only cells that a submission deleted, where they were.

    Runs after nbgrader's DeduplicateIds, which leaves an empty `nbgrader`
    metadata dict on every copy of a duplicated cell but the last; nbgrader's
    OverwriteCells then fails on it (KeyError 'grade_id'), so those copies are
    made plain cells here.
    """

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        plain_copies(nb)
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            try:
                source = gb.find_notebook(info["notebook"], info["assignment"])
            except Exception:  # unknown notebook: nbgrader reports it
                return nb, resources
            # nbgrader keeps source cells in notebook order (add_missing_cells relies on it)
            cells = [(c.name, c.cell_type, c.source, bool(c.locked))
                     for c in source.source_cells]
            graded = {c.name for c in source.grade_cells} | {
                c.name for c in source.solution_cells}
        present = {c.metadata.get("nbgrader", {}).get("grade_id"): k
                   for k, c in enumerate(nb.cells) if "nbgrader" in c.metadata}
        for k, (name, cell_type, text, locked) in enumerate(cells):
            if name in present or not locked or name in graded:
                continue  # grade cells are nbgrader's job (add_missing_cells)
            self.log.warning("Read-only cell %s was deleted; putting it back", name)
            new = NotebookNode(cell_type=cell_type, source=text, metadata=NotebookNode(
                nbgrader=NotebookNode(grade=False, solution=False, locked=True,
                                      grade_id=name, schema_version=3)))
            if cell_type == "code":
                new.outputs, new.execution_count = [], None
            previous = [present[n] for n, *_ in cells[:k] if n in present]
            at = max(previous) + 1 if previous else 0
            nb.cells.insert(at, new)
            present = {i: (j + 1 if j >= at else j) for i, j in present.items()}
            present[name] = at
        give_cells_ids(nb)
        return nb, resources


def give_cells_ids(nb: NotebookNode) -> None:
    """Give every cell without an id one (`restored-<grade id>`), in notebooks of
    format 4.5 and later, where ids are required: nbformat warns about a cell
    without one and means to refuse it, and nbgrader's add_missing_cells puts
    deleted test cells back without one."""
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        return
    taken = {cell.get("id") for cell in nb.cells}
    for k, cell in enumerate(nb.cells):
        if cell.get("id"):
            continue
        name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell-{k}"
        base = "restored-" + re.sub(r"[^A-Za-z0-9-]", "-", str(name))[:40]
        new, n = base, 1
        while new in taken:
            new, n = f"{base}-{n}", n + 1
        cell.id = new
        taken.add(new)


class OverwriteCellsWithIds(OverwriteCells):
    """nbgrader's OverwriteCells, then ids for the test cells it put back (within
    the step: nbconvert validates the notebook after every preprocessor)."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        nb, resources = super().preprocess(nb, resources)
        give_cells_ids(nb)
        return nb, resources


class CapOutputSize(NbGraderPreprocessor):
    """Cap the characters of every output (nbgrader's LimitOutput counts lines only).

    One line of a hundred megabytes, or a huge HTML display, would otherwise end
    up in the autograded notebook and in the feedback. Images have a larger limit
    of their own, per image and per notebook: an ordinary matplotlib figure is
    25-60 thousand characters of base64, and a plot a written answer asks for is
    what the instructor grades by hand, in this notebook.
    """

    max_chars = Integer(20_000, help="characters kept per output").tag(config=True)
    max_image_chars = Integer(1_000_000, help="characters kept per image").tag(config=True)
    max_image_total = Integer(5_000_000, help="characters of images kept per notebook"
                              ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        self._image_chars = 0
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell: NotebookNode, resources: dict,
                        index: int) -> tuple[NotebookNode, dict]:
        if cell.cell_type != "code":
            return cell, resources
        for out in cell.outputs:
            if out.output_type == "stream" and len(out.text) > self.max_chars:
                out.text = out.text[:self.max_chars] + "\n... Output truncated ...\n"
            elif out.output_type in ("display_data", "execute_result"):
                self._cap_display(out)
            elif out.output_type == "error":
                out.evalue = str(out.evalue)[:self.max_chars]
                out.traceback = [line[:self.max_chars] for line in out.traceback]
        return cell, resources

    def _cap_display(self, out: NotebookNode) -> None:
        """Keep each representation of a display within its limit; say what was dropped."""
        kept, dropped = NotebookNode(), []
        for mime, value in out.get("data", {}).items():
            size = len(str(value))
            if mime.startswith("image/"):
                fits = (size <= self.max_image_chars
                        and self._image_chars + size <= self.max_image_total)
                self._image_chars += size if fits else 0
            else:
                fits = size <= self.max_chars
            if fits:
                kept[mime] = value
            else:
                dropped.append(f"{mime} of {size} characters")
        if dropped:
            kept["text/plain"] = f"[an output too large to keep: {', '.join(dropped)}]"
            out.data = kept


def configure(config: Any) -> None:
    """Use these preprocessors in nbgrader's autograde steps (in `config`)."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput,
                                        DeduplicateIds, IgnorePattern, LimitOutput,
                                        OverwriteKernelspec, SaveAutoGrades)

    config.Autograde.sanitize_preprocessors = [
        ClearOutput, DeduplicateIds, OverwriteKernelspec, RestoreLockedCells,
        OverwriteCellsWithIds, CheckCellMetadata]
    config.Autograde.autograde_preprocessors = [
        GuardedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
        CapOutputSize, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
