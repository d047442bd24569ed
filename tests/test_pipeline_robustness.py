"""Grading that holds up against real submissions (issue 6), through real nbgrader.

One course with ps1 only, graded with a 5 s cell timeout: every fixture
submission of `tests/fixtures/submissions.py` (plus the malformed, renamed and
missing notebooks) is autograded in one batch, and the tests read the scores,
the autograded notebooks and the feedback. The kill-and-rerun test builds its
own small course and kills a command-line autograde run midway.

Reproduce one case: `.venv/bin/python -m pytest tests/test_pipeline_robustness.py -k <case>`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from grading import problems
from grading.feedback import HIDDEN_FEEDBACK, HIDDEN_MARK, HIDDEN_OUTPUT
from grading.pipeline import GRADED, NOT_GRADABLE, Course

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
import course_seeds  # noqa: E402  (tests/fixtures/course_seeds.py)
import submissions as fx  # noqa: E402  (tests/fixtures/submissions.py)

pytestmark = [pytest.mark.pipeline, pytest.mark.slow,
              # nbgrader's own gradebook code warns about SQLAlchemy sessions
              pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning"),
              # a test cell put back without an id (nbgrader does that) would be
              # refused by nbformat some day: the grading defences give it one
              pytest.mark.filterwarnings("error::nbformat.warnings.MissingIDFieldWarning")]

REPO = Path(__file__).resolve().parent.parent
PS1 = fx.ASSIGNMENT
SOURCE = REPO / "course" / "source" / PS1 / f"{PS1}.ipynb"
TIMEOUT = 5  # seconds per cell; the reference runs each cell in well under 1 s


def new_course(root: Path) -> Course:
    course = Course(fx.course_root(root), timeout=TIMEOUT)
    course.release(PS1)
    return course


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Course:
    course = new_course(tmp_path_factory.mktemp("robustness") / "course")
    fx.submit(course.root, "reference", "source")
    for name in [*fx.SUBMISSIONS, *fx.FILES]:
        fx.submit(course.root, name, name)
    start = time.monotonic()
    course.autograde(PS1)
    course.seconds = time.monotonic() - start  # type: ignore[attr-defined]
    return course


def status(course: Course, student: str) -> dict:
    return course.statuses()[f"{PS1}/{student}"]


def errors(course: Course, student: str) -> dict[str, str]:
    """grade_id -> "Ename: message" of each cell's error in the autograded notebook."""
    path = course.root / "autograded" / student / PS1 / f"{PS1}.ipynb"
    nb = nbformat.read(path, as_version=4)
    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if o.output_type == "error" and gid not in out:  # the first error
                out[gid] = f"{o.ename}: {o.evalue}"
    return out


def feedback_html(course: Course, student: str) -> str:
    course.feedback(PS1, student)
    return (course.root / "feedback" / student / PS1 / f"{PS1}.html").read_text()


def expected_for(case: str) -> list[str]:
    return [n for n, s in fx.SUBMISSIONS.items() if s["case"] == case]


def assert_scores(course: Course, case: str) -> None:
    for student in expected_for(case):
        expected = fx.SUBMISSIONS[student]["expected"]
        st = status(course, student)
        if expected is None:
            assert st["status"] == NOT_GRADABLE, (student, st)
            continue
        assert st["status"] == GRADED, (student, st["reason"])
        assert course.autograded_score(PS1, student) == (expected, 100.0), student


def test_reference_is_graded_at_100_in_the_same_batch(graded: Course) -> None:
    assert graded.autograded_score(PS1, "reference") == (100.0, 100.0)
    print(f"robustness batch: {len(graded.submitted_students(PS1))} submissions "
          f"autograded in {graded.seconds:.0f} s")  # type: ignore[attr-defined]


# 1 ---------------------------------------------------------------------------
def test_infinite_loop_scores_zero_on_its_tests_only(graded: Course) -> None:
    """A plain loop is interrupted; a loop ignoring SIGINT or catching
    KeyboardInterrupt restarts the kernel and the cells before it run again."""
    assert_scores(graded, "infinite_loop")
    assert errors(graded, "loop_forever")["jacobian"].startswith("KeyboardInterrupt")
    for student, cell in (("loop_ignoring_sigint", "jacobian"),
                          ("loop_catching_interrupt", "test_derivative")):
        message = errors(graded, student)[cell]
        assert message.startswith("CellTimeoutError") and "did not stop" in message
        # bounded: timeout, the wait for the kernel, a restart and the replay
        assert status(graded, student)["seconds"] < 20 * TIMEOUT


# 2 ---------------------------------------------------------------------------
def test_raises_or_dies(graded: Course) -> None:
    """An answer that raises: its tests score 0 and say what it raised (the
    rest is graded). A kernel that dies: not gradable, with the reason."""
    assert_scores(graded, "raises_or_dies")
    found = errors(graded, "raises")
    assert "raised ZeroDivisionError: my bug" in found["test_derivative"]
    assert found["jvp"] == "RuntimeError: not finished"
    assert found["test_jvp"] == "NameError: name 'jvp' is not defined"
    st = status(graded, "kernel_dies")
    assert "kernel died" in st["reason"]
    row = next(r for r in graded.rows() if r["student"] == "kernel_dies")
    assert row["status"] == NOT_GRADABLE and row["autograded_score"] == ""  # never a 0


# 3 ---------------------------------------------------------------------------
def test_bad_files_are_reported_and_the_batch_continues(graded: Course) -> None:
    for student, spec in fx.FILES.items():
        st = status(graded, student)
        assert st["status"] == NOT_GRADABLE and spec["reason"] in st["reason"], st
    summary = {r["student"]: r for r in graded.rows()}
    assert all(summary[s]["autograded_score"] == "" for s in fx.FILES)
    # students sorted after each failure were graded
    assert all(status(graded, s)["status"] == GRADED
               for s in ("patches_libraries", "reference", "warns"))


# 4 ---------------------------------------------------------------------------
def test_tampered_cells(graded: Course) -> None:
    """Edited, deleted, retyped or duplicated read-only and test cells: the
    original tests run and the score is what the answers earn."""
    assert_scores(graded, "tampered_cells")
    autograded = graded.root / "autograded"
    nb = nbformat.read(autograded / "tamper_deletes" / PS1 / f"{PS1}.ipynb", as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    source_ids = [c.metadata.get("nbgrader", {}).get("grade_id")
                  for c in nbformat.read(SOURCE, as_version=4).cells]
    assert [i for i in ids if i] == [i for i in source_ids if i]  # all back, in order
    nb = nbformat.read(autograded / "tamper_edits_tests" / PS1 / f"{PS1}.ipynb",
                       as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    assert "check_jvp" in cells["test_jvp"].source
    assert cells["test_step_choice"].cell_type == "code"
    assert cells["setup"].source.endswith("from grading import checks")


# 5 ---------------------------------------------------------------------------
def test_monkeypatching(graded: Course) -> None:
    """np.allclose, np.isclose, np.testing.*, math.isclose, builtins, the
    grading package replaced: no point the answers do not earn."""
    assert_scores(graded, "monkeypatching")
    message = errors(graded, "patches_during_test")["test_jvp"]
    assert "replaced builtins.abs, builtins.len while being tested" in message


# 6 ---------------------------------------------------------------------------
def test_reference_or_fd(graded: Course) -> None:
    assert_scores(graded, "reference_or_fd")
    found = errors(graded, "uses_reference_or_fd")
    assert "numerical differentiation" in found["test_derivative"]
    for cell in ("test_jvp", "test_jacobian"):
        assert "asks you to implement" in found[cell] and "autodiff_lite" in found[cell]


# 7: tests/test_pipeline_course.py::test_hidden_tests_catch_hard_coded_answers_...


# 8 ---------------------------------------------------------------------------
def test_numpy_warnings(graded: Course) -> None:
    assert_scores(graded, "numpy_warnings")


# 9 ---------------------------------------------------------------------------
def test_bad_values(graded: Course) -> None:
    assert_scores(graded, "bad_values")
    found = errors(graded, "bad_values")
    assert "expected shape (), got shape (1,)" in found["test_difference_quotients"]
    assert "got nan" in found["test_derivative"] and "the exact answer is finite" in \
        found["test_derivative"]
    assert "got inf" in found["test_jvp"]
    assert "expected a number or an array of numbers, got a str" in found["test_jacobian"]


# 10 --------------------------------------------------------------------------
def hidden_values() -> list[str]:
    """How the hidden jvp tests' inputs and expected values would be printed."""
    shown = []
    for seed in course_seeds.hidden_seeds(SOURCE.read_text(), "check_jvp("):
        r = np.random.default_rng(seed)
        x = tuple(float(v) for v in r.uniform(0.5, 5.0, size=2))
        v = tuple(float(t) for t in r.normal(size=2))
        out, tangent = ad.jvp(lambda a, b: problems.seed004_f(anp, a, b), x, v)
        for value in (*x, *v, out, tangent):
            shown += [repr(float(value))[:10], f"{float(value):.6g}"]
    return shown


def test_hidden_tests_stay_hidden(graded: Course) -> None:
    release = (graded.root / "release" / PS1 / f"{PS1}.ipynb").read_text()
    assert "BEGIN HIDDEN TESTS" not in release and not course_seeds.hidden_seeds(release)
    assert_scores(graded, "hidden_tests")
    secrets = hidden_values()
    for student in ("leaks_hidden", "bad_values", "reference"):
        html = feedback_html(graded, student)
        assert "BEGIN HIDDEN TESTS" not in html and not course_seeds.hidden_seeds(html)
        assert HIDDEN_MARK not in html
        leaked = [s for s in secrets if s in html]
        assert not leaked, (student, leaked)
    html = feedback_html(graded, "leaks_hidden")
    assert not re.search(r"LEAKERROR \(", html)  # the raised message (the source has {...})
    assert re.findall(r"LEAK(?:HTML)? \(([^)]*)\)", html) == ["2.0, 5.0", "2.0, 5.0"]
    assert HIDDEN_OUTPUT in html and HIDDEN_FEEDBACK.split(":")[0] in html
    # the instructor's copy keeps everything
    autograded = (graded.root / "autograded" / "leaks_hidden" / PS1 /
                  f"{PS1}.ipynb").read_text()
    assert re.search(r"LEAKERROR \(", autograded)


# 11 --------------------------------------------------------------------------
def test_huge_output(graded: Course) -> None:
    assert_scores(graded, "huge_output")
    reference = len(feedback_html(graded, "reference"))
    html = feedback_html(graded, "prints_a_lot")
    assert len(html) < reference + 150_000, len(html)
    autograded = graded.root / "autograded" / "prints_a_lot" / PS1 / f"{PS1}.ipynb"
    assert autograded.stat().st_size < 200_000
    assert "Output truncated" in html
    # the figure stays, for the instructor grading by hand and in the feedback
    assert '"image/png"' in autograded.read_text() and "data:image/png;base64" in html


# 12 --------------------------------------------------------------------------
def gradebook_rows(root: Path) -> dict:
    """Every row nbgrader keeps per submission, and the scores."""
    db = sqlite3.connect(root / "gradebook.db")
    try:
        tables = {t: db.execute(f"select count(*) from {t}").fetchone()[0]
                  for t in ("student", "submitted_assignment", "submitted_notebook",
                            "grade", "comment")}
        scores = sorted(db.execute(
            "select s.student_id, c.name, g.auto_score from grade g "
            "join submitted_notebook n on g.notebook_id = n.id "
            "join submitted_assignment s on n.assignment_id = s.id "
            "join base_cell c on g.cell_id = c.id").fetchall())
    finally:
        db.close()
    return {"tables": tables, "scores": scores}


KILL_STUDENTS = {"a_full": 100.0, "b_partial": float(fx.PARTIAL_POINTS)}
KILL_SUBMISSIONS = {"a_full": "source", "b_partial": "partial"}


def test_rerun_after_a_killed_run(tmp_path: Path) -> None:
    """Kill `python -m grading autograde` midway (the whole process group), run
    it again: every submission graded once, nothing lost or duplicated, and a
    third run changes nothing."""
    course = new_course(tmp_path / "course")
    root = course.root
    for student, name in KILL_SUBMISSIONS.items():
        fx.submit(root, student, name)
    command = [sys.executable, "-m", "grading", "--course-root", str(root),
               "autograde", PS1, "--timeout", str(TIMEOUT)]
    run = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=os.environ.copy())
    status_file = root / "autograded" / "grading_status.json"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and run.poll() is None:
            if status_file.is_file() and len(json.loads(status_file.read_text())) >= 1:
                break
            time.sleep(0.1)
        time.sleep(1.0)  # well into the second submission
        assert run.poll() is None, "the run ended before it could be killed"
        os.killpg(run.pid, signal.SIGKILL)
    finally:
        run.wait(timeout=30)
    killed = json.loads(status_file.read_text())
    assert 1 <= len(killed) < len(KILL_STUDENTS)

    assert subprocess.run(command, capture_output=True, env=os.environ.copy()).returncode == 0
    after = gradebook_rows(root)
    course = Course(root)
    assert {s: course.autograded_score(PS1, s)[0] for s in KILL_STUDENTS} == KILL_STUDENTS
    n = len(KILL_STUDENTS)
    with course.api.gradebook as gb:
        nb = gb.find_notebook(PS1, PS1)
        cells, comments = len(nb.grade_cells), len(nb.solution_cells)
    assert after["tables"] == {"student": n, "submitted_assignment": n,
                               "submitted_notebook": n, "grade": n * cells,
                               "comment": n * comments}

    course.autograde(PS1)  # once more: nothing changes
    assert gradebook_rows(root) == after
    assert len(course.statuses()) == n


# 1 (the bound on a whole notebook) --------------------------------------------
def test_notebook_time_budget(tmp_path: Path) -> None:
    """Past GuardedExecute.notebook_timeout a notebook is given up on and
    reported as not gradable with the reason (default 900 s; 3 s here)."""
    course = new_course(tmp_path / "course")
    fx.submit(course.root, "slow_cells", "slow_cells")
    course.config.GuardedExecute.notebook_timeout = 3
    (outcome,) = course.autograde(PS1)
    assert outcome.status == NOT_GRADABLE and "notebook_timeout" in outcome.reason
    assert outcome.seconds < 60
