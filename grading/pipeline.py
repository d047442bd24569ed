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
import hashlib
import json
import os
import re
import shutil
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
# the reason for a graded submission whose notebooks changed after it was graded
RESUBMITTED = ("handed in again after it was autograded: its grade is the old notebook's; "
               "autograde it again")
# the end of nbgrader's error when a release adds or removes graded cells of an
# assignment that has submissions
CHANGED_AFTER_SUBMISSIONS = "because there are submissions associated with it"

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
    submitted: str = ""  # fingerprint of the notebooks graded (`Course.fingerprint`)


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
        if timeout < 1:  # nbclient reads 0 and below as "no limit": a loop would hang
            raise PipelineError(f"the timeout must be at least 1 second, got {timeout}")
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

    def submission(self, assignment: str, student: str) -> Path:
        """The folder nbgrader reads a student's submission of `assignment` from."""
        return self.root / "submitted" / student / assignment

    def handed_in(self, student: str) -> list[str]:
        """The assignments `student` handed something in for, where nbgrader reads
        it or not (a notebook left in submitted/<student>/ itself)."""
        return [a for a in self.assignments()
                if student in self.submitted_students(a) or student in self._misplaced(a)]

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
            if CHANGED_AFTER_SUBMISSIONS in result.get("error", "") + result.get("log", ""):
                raise PipelineError(
                    f"{assignment} has submissions in the gradebook, and nbgrader cannot "
                    "add or remove graded cells once it has: change an assignment before "
                    "anyone submits it, or start a new gradebook (docs/instructors.md, "
                    "Changing an assignment)")
            raise PipelineError(f"generating {assignment} failed:\n"
                                f"{_tail(result.get('log', ''))}\n{result.get('error', '')}")
        self.progress(f"released {assignment} -> {self.root / 'release' / assignment}")

    def release_to_exchange(self, assignment: str, force: bool = False) -> None:
        """Copy the generated release into the exchange, for students to fetch;
        `force` replaces a release already there."""
        self.api.config.ExchangeReleaseAssignment.force = force
        result = self.api.release_assignment(assignment)
        if not result["success"]:
            raise PipelineError(f"releasing {assignment} to the exchange failed:\n"
                                f"{_tail(result.get('log', ''))}")
        self.progress(f"released {assignment} to the exchange")

    def collect(self, assignment: str) -> None:
        """Collect submissions from the exchange into submitted/, and say how many."""
        self._check(assignment)
        result = self.api.collect(assignment)
        if not result["success"]:
            raise PipelineError(f"collecting {assignment} failed:\n"
                                f"{_tail(result.get('log', ''))}")
        if "No submissions" in result.get("log", ""):
            self.progress(f"{assignment}: no submissions in the exchange to collect")
        else:
            self.progress(f"collected {assignment} from the exchange; "
                          f"{self.root / 'submitted'} now holds "
                          f"{len(self.submitted_students(assignment))} submission(s) of it")

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
        students = self.submitted_students(assignment)
        misplaced = self._misplaced(assignment)
        if student is not None:
            if student not in students and student not in misplaced:
                raise PipelineError(self._no_submission(assignment, student))
            students = [student] if student in students else []
            misplaced = {student: misplaced[student]} if student in misplaced else {}
        if not students and not misplaced:
            return []  # nothing handed in: leave an assignment not yet released alone
        if not (self.root / "release" / assignment).is_dir():
            self.release(assignment)
        unrun = [Outcome(assignment, sid, NOT_GRADABLE, reason)
                 for sid, reason in misplaced.items()]
        for outcome in unrun:
            self._record(outcome)
            self.progress(f"{assignment} {outcome.student}: {NOT_GRADABLE}: {outcome.reason}")
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
        # in student order, however they finished
        return [outcomes[s] for s in students] + unrun

    def _misplaced(self, assignment: str) -> dict[str, str]:
        """Students whose notebooks of `assignment` lie in submitted/<student>/ itself,
        not in the submitted/<student>/<assignment>/ that nbgrader reads: the reason."""
        submitted = self.root / "submitted"
        names = {f"{n}.ipynb" for n in self.notebooks(assignment)}
        found = {}
        for folder in sorted(submitted.iterdir()) if submitted.is_dir() else []:
            loose = sorted(names & {p.name for p in folder.glob("*.ipynb")})
            if folder.is_dir() and loose and not (folder / assignment).is_dir():
                found[folder.name] = (f"{', '.join(loose)} is in submitted/{folder.name}/ "
                                      f"instead of submitted/{folder.name}/{assignment}/, "
                                      "where nbgrader looks for it")
        return found

    def grade_one(self, assignment: str, student: str) -> Outcome:
        """Autograde one submission and time it (recording the verdict is the caller's)."""
        start = time.monotonic()
        outcome = self._autograde_one(assignment, student)
        outcome.seconds = round(time.monotonic() - start, 1)
        return outcome

    def _autograde_one(self, assignment: str, student: str) -> Outcome:
        problem = self._unreadable(assignment, student)
        if not problem:
            before = self._written_answers(assignment, student)
            submitted = self.fingerprint(assignment, student)
            result = self.api.autograde(assignment, student, force=True, create=True)
            if result["success"]:
                self._keep_written_grades(assignment, student, before)
                score, max_score = self.autograded_score(assignment, student)
                return Outcome(assignment, student, GRADED, "", score, max_score,
                               submitted=submitted)
            problem = _failure_reason(result)
        return Outcome(assignment, student, NOT_GRADABLE, problem)

    def _written_answers(self, assignment: str, student: str) -> dict[tuple[str, str], str]:
        """The manually graded answers of the last autograded copy, by (notebook, cell)."""
        answers = {}
        for path in (self.root / "autograded" / student / assignment).glob("*.ipynb"):
            for cell in nbformat.read(path, as_version=4).cells:
                meta = cell.metadata.get("nbgrader", {})
                if meta.get("grade") and meta.get("solution"):
                    answers[path.stem, meta["grade_id"]] = cell.source
        return answers

    def _keep_written_grades(self, assignment: str, student: str,
                             before: dict[tuple[str, str], str]) -> None:
        """nbgrader flags every manual grade for review when it autogrades again;
        an answer that did not change keeps its grade as it was (a first grading
        has nothing to keep: no gradebook session then)."""
        if not before:
            return
        after = self._written_answers(assignment, student)
        with self.api.gradebook as gb:
            for (notebook, cell), source in after.items():
                if before.get((notebook, cell)) != source:
                    continue
                grade = gb.find_grade(cell, notebook, assignment, student)
                if grade.manual_score is not None:
                    grade.needs_manual_grade = False
            gb.db.commit()

    def _unreadable(self, assignment: str, student: str) -> str:
        """Why a submission cannot be run, or "" if its notebooks look fine."""
        folder = self.submission(assignment, student)
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
        if not student:
            verdicts = {s: self.verdict(statuses, assignment, s)
                        for s in self.submitted_students(assignment)}
            students = [s for s, verdict in verdicts.items() if verdict.get("status") == GRADED]
            for sid, verdict in verdicts.items():
                if verdict.get("reason") == RESUBMITTED:
                    self.progress(f"{assignment} {sid}: no feedback: {RESUBMITTED}")
        else:
            students = [student]
            verdict = self.verdict(statuses, assignment, student)
            if verdict.get("status") == NOT_GRADABLE:
                raise PipelineError(f"{student}'s submission of {assignment} is not "
                                    f"gradable ({verdict.get('reason')}): there is no "
                                    "feedback to write")
            if student not in self.submitted_students(assignment):
                raise PipelineError(self._no_submission(assignment, student))
            if not (self.root / "autograded" / student / assignment).is_dir():
                raise PipelineError(f"{student}'s submission of {assignment} has not been "
                                    f"autograded: run autograde first (no folder "
                                    f"{self.root / 'autograded' / student / assignment})")
        if not students:
            self.progress(f"{assignment}: no autograded submissions, no feedback to write")
        for k, sid in enumerate(students, 1):
            result = self.api.generate_feedback(assignment, sid, force=True)
            if not result["success"]:
                raise PipelineError(f"feedback for {sid} on {assignment} failed:\n"
                                    f"{_tail(result.get('log', ''))}")
            self.progress(f"[{k}/{len(students)}] feedback {assignment} {sid}")

    def _no_submission(self, assignment: str, student: str) -> str:
        return f"no submission of {assignment} by {student!r} in {self.root / 'submitted'}"

    # ------------------------------------------------------------ status store
    def statuses(self) -> dict[str, dict]:
        """The recorded verdict per submission, keyed "assignment/student"."""
        path = self.root / STATUS_FILE
        if not path.is_file():
            return {}
        return json.loads(path.read_text(encoding="utf-8"))

    def fingerprint(self, assignment: str, student: str) -> str:
        """A hash of the notebooks in submitted/<student>/<assignment>/, names and
        bytes: a new collect or a file copied over one graded changes it."""
        digest = hashlib.sha256()
        for path in sorted(self.submission(assignment, student).glob("*.ipynb")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()

    def verdict(self, statuses: dict[str, dict], assignment: str, student: str) -> dict:
        """The verdict recorded for a submission (empty if none), except that a graded
        one whose notebooks changed since is not gradable until graded again: its
        grades in the gradebook are the old notebook's."""
        verdict = statuses.get(_key(assignment, student), {})
        graded_copy = verdict.get("submitted")  # absent from a status file of older runs
        if (verdict.get("status") == GRADED and graded_copy
                and self.submission(assignment, student).is_dir()
                and graded_copy != self.fingerprint(assignment, student)):
            return {**verdict, "status": NOT_GRADABLE, "reason": RESUBMITTED}
        return verdict

    def _record(self, outcome: Outcome) -> None:
        """Store a verdict. Every verdict comes here, so here a submission found not
        gradable (a broken resubmission, say) loses the feedback of an earlier run,
        which belonged to the notebook it replaced; its grades stay in the
        gradebook (hand grades included, should the failure be the machine's), and
        export, summary and feedback treat it as not gradable."""
        if outcome.status == NOT_GRADABLE:
            shutil.rmtree(self.root / "feedback" / outcome.student / outcome.assignment,
                          ignore_errors=True)
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
                students = sorted(set(graded) | set(self.submitted_students(assignment)) | {
                    k.split("/", 1)[1] for k in statuses if k.split("/", 1)[0] == assignment})
                for sid in students:
                    status = self.verdict(statuses, assignment, sid)
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
