"""Autograding with several worker processes: `Course.autograde(..., jobs=N)`, `--jobs N`.

nbgrader grades one notebook at a time, and a submission is CPU-bound (a fresh
kernel imports NumPy and the course, nbgrader converts the notebook twice), so
N processes on N cores grade about N times as fast. Why the results are the
same as one by one:

* each worker runs nbgrader's own, unchanged autograde on the course's
  gradebook. A submission only writes its own rows (its student, submission,
  notebook and grades), and nbgrader opens the gradebook only for short
  sessions before and after running the notebook, never while the kernel runs.
  When two sessions meet, SQLite's own file locks serialise them; the workers'
  connections wait for the lock for up to `LOCK_WAIT` seconds instead of
  SQLite's default of 5 ("database is locked"). The locks are the operating
  system's, so a worker that dies holding one releases it;
* only the parent writes `grading_status.json`: workers send back their
  verdicts and the parent records them, one at a time;
* each worker's kernels talk to it over Unix sockets in a folder of its own
  (`grading.execute.GuardedExecute`) instead of TCP ports picked by binding to
  port 0 and releasing it, which two processes starting kernels at the same
  moment could both pick;
* a worker gets one submission at a time, so when it dies (a submission that
  kills its grading process, the out-of-memory killer) the parent knows which
  submission it was grading: that one is "not gradable" with the reason, a new
  worker takes its place and the batch goes on.

Workers are started with "spawn", not "fork": a forked copy of the parent
would share its open gradebook connections.
"""

from __future__ import annotations

import copy
import multiprocessing
import os
import signal
import tempfile
import time
import warnings
from collections import deque
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from traitlets.config import Config

from .pipeline import NOT_GRADABLE, Course, Outcome, PipelineError, _first_line

LOCK_WAIT = 300  # seconds a worker waits for the gradebook's lock

Task = tuple[str, str]  # (assignment, student)
READY = "ready"  # a worker's first message: it has started


def _worker_config(course: Course) -> Config:
    """The parent's config, with a gradebook connection that waits for the lock."""
    config = copy.deepcopy(course.config)  # the parent's own is left alone
    url = course.api.coursedir.db_url
    if url.startswith("sqlite:"):
        config.CourseDirectory.db_url = f"{url}{'&' if '?' in url else '?'}timeout={LOCK_WAIT}"
    return config


def _work(config: Config, root: str, filters: list, scratch: str, conn: Connection) -> None:
    """A worker process: grade the submissions the parent sends, one at a time,
    until it sends None. `filters` are the parent's warning filters (the same
    warnings are shown); temporary files (kernel sockets and connection files) go
    into `scratch`, which the parent removes even if a submission kills this one."""
    warnings.filters[:] = filters
    os.environ["TMPDIR"] = tempfile.tempdir = scratch  # the kernels inherit it
    course = Course(root, config=config)
    conn.send(READY)
    task: Task | None
    while (task := conn.recv()) is not None:
        try:
            outcome = course.grade_one(*task)
        except Exception as err:  # never lose the submission, nor the worker
            outcome = Outcome(*task, NOT_GRADABLE, f"grading it raised "
                              f"{type(err).__name__}: {_first_line(str(err))}")
        conn.send(outcome)


def _how(exitcode: int | None) -> str:
    """How a worker process ended, in words."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


def grade_in_workers(course: Course, assignment: str, students: list[str],
                     jobs: int) -> Iterator[Outcome]:
    """Grade `students`' submissions of `assignment` in `jobs` worker processes;
    yield each verdict as it arrives (recording them is the caller's)."""
    context = multiprocessing.get_context("spawn")
    config = _worker_config(course)
    scratch = tempfile.TemporaryDirectory(prefix="gw-")  # short: sockets live inside
    todo = deque(students)
    workers: dict[Connection, BaseProcess] = {}
    grading: dict[Connection, tuple[str, float]] = {}  # student, when it was sent
    running: set[Connection] = set()  # workers that have started

    def start() -> None:
        here, there = context.Pipe()
        process = context.Process(target=_work, name="autograde-worker", daemon=True,
                                  args=(config, str(course.root), warnings.filters,
                                        scratch.name, there))
        process.start()
        there.close()  # so that the worker's death reads as end of file here
        workers[here] = process
        send_next(here)

    def send_next(conn: Connection) -> None:
        """Give a worker the next submission, or None when none is left."""
        try:
            conn.send((assignment, todo[0]) if todo else None)
        except OSError:  # it died between two submissions: another takes over
            retire(conn)
            if todo:
                start()
            return
        if todo:
            grading[conn] = (todo.popleft(), time.monotonic())

    def retire(conn: Connection) -> int | None:
        process = workers.pop(conn)
        process.join()
        conn.close()
        return process.exitcode

    if todo:
        course.progress(f"{assignment}: {len(todo)} submissions, "
                        f"{min(jobs, len(todo))} worker processes")
    try:
        for _ in range(min(jobs, len(todo))):
            start()
        while grading:
            ready = wait(list(grading))
            for conn in [c for c in grading if c in ready]:
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    how = _how(retire(conn))
                    if conn not in running:
                        raise PipelineError(
                            f"a grading worker process {how} while starting (its error "
                            "is above). Workers are started with multiprocessing's "
                            "'spawn': a script must call autograde with jobs > 1 under "
                            "`if __name__ == \"__main__\":`") from None
                    student, sent = grading.pop(conn)
                    outcome = Outcome(
                        assignment, student, NOT_GRADABLE,
                        f"the grading worker process {how} while grading it (for "
                        "example the submission killed its grader, or it ran out of "
                        "memory)", seconds=round(time.monotonic() - sent, 1))
                    if todo:
                        start()
                else:
                    if message == READY:
                        running.add(conn)
                        continue
                    del grading[conn]
                    send_next(conn)
                    outcome = message
                yield outcome
        for process in workers.values():  # each has been sent None: it is ending
            process.join(timeout=60)
    finally:
        for conn, process in workers.items():  # interrupted, or stuck
            if process.is_alive():  # (its kernel notices and ends too)
                process.terminate()
                process.join()
            conn.close()
        scratch.cleanup()
