"""The instructor pipeline: nbgrader's Python API driven for a whole course.

Every step reads the course's own `nbgrader_config.py`, so the same course
folder works from the command line (`python -m grading`), from `nbgrader`
itself and from the tests (which copy the course to a temporary directory).

nbgrader stores grades in `gradebook.db`, but it has no place for "this
submission could not be graded" (a malformed or missing notebook, a kernel that
died): such a submission would look like a 0. The pipeline therefore keeps its
own verdict per submission in `autograded/grading_status.json`, and `export`
and `summary` report those submissions as not gradable, with the reason.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import nbformat
from nbgrader.api import MissingEntry
from nbgrader.apps import NbGraderAPI
from traitlets.config import Config, PyFileConfigLoader

from .execute import configure

CONFIG_FILE = "nbgrader_config.py"
STATUS_FILE = Path("autograded") / "grading_status.json"
GRADED, NOT_GRADABLE = "graded", "not gradable"

Progress = Callable[[str], None]


class PipelineError(RuntimeError):
    """A step that failed for the whole course (not for one student)."""


@dataclass
class Outcome:
    """What autograding did with one submission."""

    assignment: str
    student: str
    status: str          # GRADED or NOT_GRADABLE
    reason: str = ""     # why it could not be graded
    score: float | None = None
    max_score: float | None = None
    seconds: float = 0.0


def default_course_root() -> Path:
    """The repository's course/ folder (next to this package)."""
    return Path(__file__).resolve().parent.parent / "course"


def load_config(course_root: Path, timeout: int | None = None) -> Config:
    """The course's nbgrader config, with the course root pinned to `course_root`."""
    course_root = Path(course_root).resolve()
    if not (course_root / CONFIG_FILE).is_file():
        raise PipelineError(f"{course_root} has no {CONFIG_FILE}: pass the course folder "
                            "with --course-root (the folder holding source/)")
    config = PyFileConfigLoader(CONFIG_FILE, path=str(course_root)).load_config()
    config.CourseDirectory.root = str(course_root)
    if timeout is not None:
        config.Execute.timeout = timeout
    configure(config)
    return config


def _venv_on_path() -> None:
    """nbgrader creates the gradebook by running the `alembic` script as a
    subprocess; make the scripts of this Python's environment findable even when
    the environment is not activated (``.venv/bin/python -m grading``)."""
    scripts = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if scripts not in path.split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + path


class Course:
    """One course folder and the nbgrader API configured for it."""

    def __init__(self, root: Path | str | None = None, timeout: int | None = None,
                 progress: Progress | None = None, config: Config | None = None) -> None:
        """`config`: an already loaded course config, used as it is instead of
        reading the course's (a grading worker gets its parent's, changes included)."""
        _venv_on_path()
        self.root = Path(root if root is not None else default_course_root()).resolve()
        self.config = config if config is not None else load_config(self.root, timeout)
        self.api = NbGraderAPI(config=self.config)
        self.progress = progress or (lambda message: None)

    # ------------------------------------------------------------------ layout
    @property
    def timeout(self) -> int:
        """Per-cell execution timeout in seconds, from the course config."""
        return int(self.config.Execute.get("timeout", 30))

    def assignments(self) -> list[str]:
        """The assignments in source/, in order."""
        source = self.root / "source"
        if not source.is_dir():
            raise PipelineError(f"{source} does not exist: is {self.root} a course root?")
        return sorted(p.name for p in source.iterdir()
                      if p.is_dir() and not p.name.startswith("."))

    def notebooks(self, assignment: str) -> list[str]:
        """Notebook names (without .ipynb) of an assignment's source."""
        folder = self.root / "source" / assignment
        return sorted(p.stem for p in folder.glob("*.ipynb"))

    def submitted_students(self, assignment: str) -> list[str]:
        """Students with a folder submitted/<student>/<assignment>/."""
        submitted = self.root / "submitted"
        if not submitted.is_dir():
            return []
        return sorted(p.name for p in submitted.iterdir()
                      if (p / assignment).is_dir() and not p.name.startswith("."))

    def _check(self, assignment: str) -> None:
        if assignment not in self.assignments():
            raise PipelineError(f"no assignment {assignment!r} in {self.root / 'source'}; "
                                f"known: {', '.join(self.assignments())}")

    # ----------------------------------------------------------------- release
    def release(self, assignment: str) -> None:
        """Generate the student version into release/ and record it in the gradebook."""
        self._check(assignment)
        result = self.api.generate_assignment(assignment, force=True, create=True)
        if not result["success"]:
            raise PipelineError(f"generating {assignment} failed:\n"
                                f"{_tail(result.get('log', ''))}\n{result.get('error', '')}")
        self.progress(f"released {assignment} -> {self.root / 'release' / assignment}")

    def release_to_exchange(self, assignment: str) -> None:
        """Copy the generated release into the exchange, for students to fetch."""
        result = self.api.release_assignment(assignment)
        if not result["success"]:
            raise PipelineError(f"releasing {assignment} to the exchange failed:\n"
                                f"{_tail(result.get('log', ''))}")

    def collect(self, assignment: str) -> None:
        """Collect submissions from the exchange into submitted/."""
        result = self.api.collect(assignment)
        if not result["success"]:
            raise PipelineError(f"collecting {assignment} failed:\n"
                                f"{_tail(result.get('log', ''))}")

    # --------------------------------------------------------------- autograde
    def autograde(self, assignment: str, student: str | None = None,
                  jobs: int = 1) -> list[Outcome]:
        """Autograde every submission of `assignment` (or one student's).

        Each submission is checked before nbgrader runs it (the expected
        notebooks present and readable), and every failure is recorded with its
        reason, so that one broken submission never stops the batch. With
        `jobs` > 1, that many worker processes grade submissions side by side
        (`grading.parallel`); the verdicts and grades are the same as one by one.
        """
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise ValueError(f"jobs must be a whole number of worker processes, at least 1; "
                             f"got {jobs!r}")
        self._check(assignment)
        if not (self.root / "release" / assignment).is_dir():
            self.release(assignment)
        students = self.submitted_students(assignment)
        if student is not None:
            if student not in students:
                raise PipelineError(f"no submission of {assignment} by {student!r} in "
                                    f"{self.root / 'submitted'}")
            students = [student]
        if jobs == 1:
            results: Iterable[Outcome] = (self.grade_one(assignment, s) for s in students)
        else:
            from .parallel import grade_in_workers  # it imports this module
            results = grade_in_workers(self, assignment, students, jobs)
        outcomes: dict[str, Outcome] = {}
        for k, outcome in enumerate(results, 1):
            self._record(outcome)
            outcomes[outcome.student] = outcome
            self.progress(f"[{k}/{len(students)}] {assignment} {outcome.student}: "
                          f"{_describe(outcome)} ({outcome.seconds:.1f} s)")
        return [outcomes[s] for s in students]  # in student order, however they finished

    def grade_one(self, assignment: str, student: str) -> Outcome:
        """Autograde one submission and time it (recording the verdict is the caller's)."""
        start = time.monotonic()
        outcome = self._autograde_one(assignment, student)
        outcome.seconds = round(time.monotonic() - start, 1)
        return outcome

    def _autograde_one(self, assignment: str, student: str) -> Outcome:
        problem = self._unreadable(assignment, student)
        if problem:
            return Outcome(assignment, student, NOT_GRADABLE, problem)
        result = self.api.autograde(assignment, student, force=True, create=True)
        if not result["success"]:
            return Outcome(assignment, student, NOT_GRADABLE, _failure_reason(result))
        score, max_score = self.autograded_score(assignment, student)
        return Outcome(assignment, student, GRADED, "", score, max_score)

    def _unreadable(self, assignment: str, student: str) -> str:
        """Why a submission cannot be run, or "" if its notebooks look fine."""
        folder = self.root / "submitted" / student / assignment
        found = sorted(p.name for p in folder.glob("*.ipynb"))
        for name in self.notebooks(assignment):
            path = folder / f"{name}.ipynb"
            if not path.is_file():
                others = f" (submitted instead: {', '.join(found)})" if found else ""
                return f"missing notebook {name}.ipynb{others}"
            try:
                nbformat.read(path, as_version=4)
            except Exception as err:  # any parse error: the file is not a notebook
                return f"{name}.ipynb is not a valid notebook ({type(err).__name__}: " \
                       f"{_first_line(str(err))})"
        return ""

    def autograded_score(self, assignment: str, student: str) -> tuple[float, float]:
        """(autograded points earned, autograded points possible) from the gradebook."""
        with self.api.gradebook as gb:
            sub = gb.find_submission(assignment, student)
            return float(sub.code_score), float(sub.max_code_score)

    # ---------------------------------------------------------------- feedback
    def feedback(self, assignment: str, student: str | None = None) -> None:
        """Write feedback HTML into feedback/<student>/<assignment>/ for graded work."""
        self._check(assignment)
        statuses = self.statuses()
        students = [student] if student else [
            s for s in self.submitted_students(assignment)
            if statuses.get(_key(assignment, s), {}).get("status") == GRADED]
        for k, sid in enumerate(students, 1):
            result = self.api.generate_feedback(assignment, sid, force=True)
            if not result["success"]:
                raise PipelineError(f"feedback for {sid} on {assignment} failed:\n"
                                    f"{_tail(result.get('log', ''))}")
            self.progress(f"[{k}/{len(students)}] feedback {assignment} {sid}")

    # ------------------------------------------------------------ status store
    def statuses(self) -> dict[str, dict]:
        """The recorded verdict per submission, keyed "assignment/student"."""
        path = self.root / STATUS_FILE
        if not path.is_file():
            return {}
        return json.loads(path.read_text(encoding="utf-8"))

    def _record(self, outcome: Outcome) -> None:
        path = self.root / STATUS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        statuses = self.statuses()
        statuses[_key(outcome.assignment, outcome.student)] = asdict(outcome)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(statuses, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)  # never a half-written file if the run is killed

    # ------------------------------------------------------------------ grades
    def rows(self) -> Iterator[dict]:
        """One row per submission: gradebook scores, or the reason it was not graded."""
        statuses = self.statuses()
        with self.api.gradebook as gb:
            for assignment in self.assignments():
                graded = {}
                try:
                    for sub in gb.assignment_submissions(assignment):
                        graded[sub.student.id] = sub
                except MissingEntry:  # not released yet: no such assignment in the db
                    graded = {}
                students = sorted(set(graded) | {
                    k.split("/", 1)[1] for k in statuses if k.split("/", 1)[0] == assignment})
                for sid in students:
                    status = statuses.get(_key(assignment, sid), {})
                    sub = graded.get(sid)
                    if status.get("status") == NOT_GRADABLE or sub is None:
                        yield {"assignment": assignment, "student": sid,
                               "status": NOT_GRADABLE,
                               "reason": status.get("reason", "never autograded"),
                               "autograded_score": "", "max_autograded_score": "",
                               "manual_score": "", "max_manual_score": "",
                               "needs_manual_grade": ""}
                        continue
                    yield {"assignment": assignment, "student": sid, "status": GRADED,
                           "reason": "",
                           "autograded_score": _fmt(sub.code_score),
                           "max_autograded_score": _fmt(sub.max_code_score),
                           # empty, not 0, until the written answers are graded
                           "manual_score": "" if sub.needs_manual_grade
                           else _fmt(sub.written_score),
                           "max_manual_score": _fmt(sub.max_written_score),
                           "needs_manual_grade": str(bool(sub.needs_manual_grade))}

    def export(self, path: Path) -> int:
        """Write every submission's grade (or why it has none) to a CSV file."""
        rows = list(self.rows())
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=EXPORT_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        return len(rows)

    def summary(self) -> list[dict]:
        """Per assignment: graded count, not-gradable count and reasons, mean/min/max."""
        table = []
        rows = list(self.rows())
        for assignment in self.assignments():
            mine = [r for r in rows if r["assignment"] == assignment]
            scores = [float(r["autograded_score"]) for r in mine if r["status"] == GRADED]
            table.append({
                "assignment": assignment,
                "graded": len(scores),
                "not_gradable": [(r["student"], r["reason"]) for r in mine
                                 if r["status"] == NOT_GRADABLE],
                "mean": sum(scores) / len(scores) if scores else None,
                "min": min(scores) if scores else None,
                "max": max(scores) if scores else None,
            })
        return table


EXPORT_COLUMNS = ["assignment", "student", "status", "reason", "autograded_score",
                  "max_autograded_score", "manual_score", "max_manual_score",
                  "needs_manual_grade"]


def format_summary(table: list[dict]) -> str:
    """The summary as a plain-text table, then the reasons for ungradable work."""
    lines = [f"{'assignment':<22} {'graded':>6} {'not gradable':>12} {'mean':>7} "
             f"{'min':>7} {'max':>7}"]
    for row in table:
        stats = [f"{row[k]:7.1f}" if row[k] is not None else f"{'-':>7}"
                 for k in ("mean", "min", "max")]
        lines.append(f"{row['assignment']:<22} {row['graded']:>6} "
                     f"{len(row['not_gradable']):>12} {' '.join(stats)}")
    for row in table:
        for student, reason in row["not_gradable"]:
            lines.append(f"not gradable: {row['assignment']} {student}: {reason}")
    return "\n".join(lines)


def _key(assignment: str, student: str) -> str:
    return f"{assignment}/{student}"


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{float(x):g}"


def _describe(outcome: Outcome) -> str:
    if outcome.status == GRADED:
        return f"{_fmt(outcome.score)}/{_fmt(outcome.max_score)} autograded points"
    return f"NOT GRADABLE: {outcome.reason}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else ""


def _tail(log: str, lines: int = 15) -> str:
    return "\n".join(log.strip().splitlines()[-lines:])


_REASONS = (
    (r"ran longer than (\d+) s in total", "the notebook ran longer than the time allowed "
     "for a whole notebook (GuardedExecute.notebook_timeout)"),
    (r"kernel got stuck \d+ times", "more cells than allowed did not stop when interrupted "
     "(GuardedExecute.max_restarts)"),
    (r"DeadKernelError|Kernel died|kernel died", "the kernel died while running the "
     "notebook (for example os._exit or a crash in an answer)"),
    (r"kernel became unresponsive|UnresponsiveKernelError", "the kernel stopped "
     "responding and could not be interrupted"),
    (r"CellTimeoutError|TimeoutError", "a cell exceeded the time limit and the kernel "
     "could not be interrupted"),
    (r"NotJSONError|not valid JSON|Notebook does not appear to be JSON",
     "the notebook file is not valid JSON"),
    (r"ValidationError", "the notebook does not follow the notebook format"),
)


def _failure_reason(result: dict) -> str:
    """A one-line reason from nbgrader's log and traceback of a failed autograde."""
    text = f"{result.get('log', '')}\n{result.get('error', '')}"
    for pattern, reason in _REASONS:
        if re.search(pattern, text):
            return reason
    errors = [line for line in text.splitlines() if line.startswith("[ERROR]")]
    return _first_line(errors[0][len("[ERROR] "):]) if errors else "nbgrader failed " \
        "(see the log)"
