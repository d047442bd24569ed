"""The pipeline over a course's life: grading again, resubmissions, mistakes.

An instructor autogrades more than once (a late submission, a fixed check), grades
written answers by hand in between, and gets submissions in the wrong place or
none at all. These tests run ps1 in a temporary course root for each case.
"""

from __future__ import annotations

import copy
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grading.__main__ import main
from grading.pipeline import GRADED, NOT_GRADABLE, RESUBMITTED, Course

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
import submissions as fx  # noqa: E402  (tests/fixtures/submissions.py)

pytestmark = [pytest.mark.pipeline, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]

PS1 = fx.ASSIGNMENT
MALFORMED = Path(__file__).resolve().parent / "fixtures" / "malformed.ipynb"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def course(tmp_path: Path) -> Course:
    c = Course(fx.course_root(tmp_path / "course"))
    c.release(PS1)
    return c


def written_answers(course: Course) -> list[str]:
    """The grade ids of the answers graded by hand (markdown answer cells)."""
    nb = nbformat.read(course.root / "source" / PS1 / f"{PS1}.ipynb", as_version=4)
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")
            and c.metadata["nbgrader"].get("grade") and c.cell_type == "markdown"]


def grade_by_hand(course: Course, student: str, scores: dict[str, float]) -> None:
    """What the formgrader's save does: a manual score, no longer needing grading."""
    with course.api.gradebook as gb:
        for cell, score in scores.items():
            grade = gb.find_grade(cell, PS1, PS1, student)
            grade.manual_score, grade.needs_manual_grade = score, False
        gb.db.commit()


def row(course: Course, student: str) -> dict:
    return next(r for r in course.rows() if r["student"] == student)


def test_grading_again_keeps_the_grades_of_unchanged_written_answers(
        course: Course, capsys: pytest.CaptureFixture) -> None:
    fx.submit(course.root, "alice", "source")
    course.autograde(PS1)
    answers = written_answers(course)
    assert answers, "ps1 has written answers"
    grade_by_hand(course, "alice", {cell: 4.0 for cell in answers})
    graded = row(course, "alice")
    assert graded["needs_manual_grade"] == "False" and graded["manual_score"] != ""

    course.autograde(PS1)  # nbgrader alone flags every manual grade for review here
    assert row(course, "alice") == graded

    path = course.root / "submitted" / "alice" / PS1 / f"{PS1}.ipynb"
    nb = nbformat.read(path, as_version=4)
    changed = next(c for c in nb.cells
                   if c.metadata.get("nbgrader", {}).get("grade_id") == answers[0])
    changed.source += "\n\nOn second thought, also this."
    nbformat.write(nb, path)
    # until it is graded again, its grades are the old notebook's: not exported as its
    stale = row(course, "alice")
    assert (stale["status"], stale["reason"], stale["autograded_score"]) == (
        NOT_GRADABLE, RESUBMITTED, "")
    capsys.readouterr()
    assert main(["--course-root", str(course.root), "summary"]) == 1
    assert main(["--course-root", str(course.root), "feedback", PS1]) == 0
    assert f"{PS1} alice: no feedback: handed in again" in capsys.readouterr().out
    course.autograde(PS1)
    again = row(course, "alice")
    assert again["status"] == GRADED
    assert again["needs_manual_grade"] == "True" and again["manual_score"] == ""
    with course.api.gradebook as gb:
        flags = {cell: gb.find_grade(cell, PS1, PS1, "alice").needs_manual_grade
                 for cell in answers}
    assert flags[answers[0]] and not any(flags[c] for c in answers[1:])


def test_an_ungradable_resubmission_shows_no_old_grade_or_feedback(
        course: Course, capsys: pytest.CaptureFixture) -> None:
    fx.submit(course.root, "bob", "source")
    course.autograde(PS1)
    grade_by_hand(course, "bob", {cell: 4.0 for cell in written_answers(course)})
    course.feedback(PS1)
    feedback = course.root / "feedback" / "bob" / PS1
    assert feedback.is_dir() and row(course, "bob")["status"] == GRADED

    shutil.copy(MALFORMED, course.root / "submitted" / "bob" / PS1 / f"{PS1}.ipynb")
    (outcome,) = course.autograde(PS1)
    assert outcome.status == NOT_GRADABLE
    assert not feedback.exists()  # it was the old notebook's
    assert row(course, "bob")["autograded_score"] == row(course, "bob")["manual_score"] == ""
    capsys.readouterr()
    assert main(["--course-root", str(course.root), "feedback", PS1, "--student", "bob"]) == 1
    assert "bob's submission of ps1_forward_mode is not gradable (" in capsys.readouterr().err
    with course.api.gradebook as gb:  # the hand grades are kept, should the failure be
        kept = [gb.find_grade(cell, PS1, PS1, "bob").manual_score  # the machine's
                for cell in written_answers(course)]
    assert kept and all(score == 4.0 for score in kept)


def test_a_misplaced_resubmission_also_withdraws_the_old_feedback(course: Course) -> None:
    fx.submit(course.root, "erin", "source")
    course.autograde(PS1)
    course.feedback(PS1)
    folder = course.root / "submitted" / "erin"
    shutil.move(folder / PS1 / f"{PS1}.ipynb", folder / f"{PS1}.ipynb")
    shutil.rmtree(folder / PS1)
    course.autograde(PS1)
    assert row(course, "erin")["status"] == NOT_GRADABLE
    assert not (course.root / "feedback" / "erin" / PS1).exists()


def test_submissions_autograde_never_saw_are_reported(course: Course,
                                                      capsys: pytest.CaptureFixture) -> None:
    fx.submit(course.root, "carol", "source")
    course.autograde(PS1)
    fx.submit(course.root, "gina", "source")  # arrives after the run
    assert row(course, "gina") | {"reason": "never autograded"} == row(course, "gina")
    assert row(course, "gina")["status"] == NOT_GRADABLE
    capsys.readouterr()
    assert main(["--course-root", str(course.root), "feedback", PS1, "--student", "gina"]) == 1
    assert "has not been autograded: run autograde first" in capsys.readouterr().err
    assert main(["--course-root", str(course.root), "feedback", "--student", "gina"]) == 1
    assert f"{PS1}: no feedback: gina's submission" in capsys.readouterr().out

    loose = course.root / "submitted" / "jack"  # no assignment folder
    loose.mkdir()
    shutil.copy(course.root / "source" / PS1 / f"{PS1}.ipynb", loose)
    assert main(["--course-root", str(course.root), "autograde", PS1, "--student",
                 "jack"]) == 1
    assert f"is in submitted/jack/ instead of submitted/jack/{PS1}/" in capsys.readouterr().out
    assert row(course, "jack")["status"] == NOT_GRADABLE


def test_instructor_mistakes_get_clear_errors(course: Course,
                                              capsys: pytest.CaptureFixture) -> None:
    root = ["--course-root", str(course.root)]
    assert main([*root, "autograde", PS1]) == 1  # nothing collected yet
    assert "nothing to autograde" in capsys.readouterr().err
    assert main([*root, "collect", "ps1_forward_mod"]) == 1  # misspelt
    assert "no assignment 'ps1_forward_mod'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main([*root, "autograde", PS1, "--timeout", "0"])  # 0 would mean no limit
    assert exc.value.code == 2
    assert "expected a whole number of seconds, at least 1, got '0'" in capsys.readouterr().err


def test_autograde_of_every_assignment_releases_none_nobody_submitted(
        course: Course, capsys: pytest.CaptureFixture) -> None:
    root = ["--course-root", str(course.root)]
    ps2 = "ps2_reverse_mode"
    shutil.copytree(REPO / "course" / "source" / ps2, course.root / "source" / ps2)
    fx.submit(course.root, "alice", "source")
    assert main([*root, "autograde"]) == 0  # every assignment: ps2 has no submissions
    assert not (course.root / "release" / ps2).exists()
    assert f"released {ps2}" not in capsys.readouterr().out
    assert main([*root, "feedback", ps2]) == 0
    assert f"{ps2}: no autograded submissions, no feedback to write" in capsys.readouterr().out
    # one student, no assignment named: the assignments they handed in, not every one
    assert main([*root, "autograde", "--student", "alice"]) == 0
    assert main([*root, "feedback", "--student", "alice"]) == 0
    out = capsys.readouterr()
    assert f"autograding {PS1} in" in out.out and ps2 not in out.out + out.err
    assert (course.root / "feedback" / "alice" / PS1 / f"{PS1}.html").is_file()
    assert main([*root, "autograde", "--student", "bob"]) == 1
    assert "no submission by 'bob' in" in capsys.readouterr().err


def test_feedback_for_a_student_who_never_submitted(course: Course,
                                                    capsys: pytest.CaptureFixture) -> None:
    assert main(["--course-root", str(course.root), "feedback", PS1, "--student", "bob"]) == 1
    assert f"no submission of {PS1} by 'bob'" in capsys.readouterr().err


def test_release_with_force_needs_the_exchange(course: Course,
                                               capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--course-root", str(course.root), "release", PS1, "--force"])
    assert exc.value.code == 2 and "use it with --exchange" in capsys.readouterr().err


def test_a_graded_cell_added_after_submissions_is_refused_in_one_sentence(
        course: Course, capsys: pytest.CaptureFixture) -> None:
    fx.submit(course.root, "alice", "source")
    course.autograde(PS1)
    path = course.root / "source" / PS1 / f"{PS1}.ipynb"
    nb = nbformat.read(path, as_version=4)
    extra = copy.deepcopy(next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
                               and c.cell_type == "code"))
    extra.id, extra.metadata.nbgrader.grade_id = "test-extra", "test_extra"
    nb.cells.append(extra)
    nbformat.write(nb, path)
    assert main(["--course-root", str(course.root), "release", PS1]) == 1
    err = capsys.readouterr().err
    assert "has submissions in the gradebook" in err and "Traceback" not in err, err


def test_release_to_the_exchange_again_with_force(course: Course,
                                                  capsys: pytest.CaptureFixture) -> None:
    root = ["--course-root", str(course.root)]
    assert main([*root, "release", PS1, "--exchange"]) == 0
    assert main([*root, "release", PS1, "--exchange"]) == 1
    assert "add --force to overwrite" in capsys.readouterr().err
    assert main([*root, "release", PS1, "--exchange", "--force"]) == 0
    assert main([*root, "collect", PS1]) == 0
    assert f"{PS1}: no submissions in the exchange to collect" in capsys.readouterr().out


def test_a_class_through_the_exchange_and_a_resubmission(course: Course, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    """As on a shared server: the student fetches and submits with nbgrader's own
    commands, the instructor collects; a second submission replaces the first at
    the next collect, and until it is graded its old grade is not reported."""
    root = ["--course-root", str(course.root)]
    student = pwd.getpwuid(os.getuid()).pw_name  # nbgrader submits as the OS user
    home = tmp_path / "student"
    home.mkdir()
    exchange = [f"--Exchange.root={course.root / 'exchange'}", "--course=autodiff-course"]

    def nbgrader(*args: str) -> None:
        done = subprocess.run([sys.executable, "-m", "nbgrader", *args, *exchange], cwd=home,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    assert main([*root, "release", PS1, "--exchange"]) == 0
    nbgrader("fetch_assignment", PS1)
    fetched = home / PS1 / f"{PS1}.ipynb"
    blank = fetched.read_bytes()
    shutil.copy(course.root / "source" / PS1 / f"{PS1}.ipynb", fetched)  # every answer
    nbgrader("submit", PS1)
    assert main([*root, "collect", PS1]) == 0
    assert main([*root, "autograde", PS1]) == 0
    assert row(course, student)["autograded_score"] == "100"

    fetched.write_bytes(blank)  # second thoughts: the blank notebook, handed in again
    nbgrader("submit", PS1)
    assert main([*root, "collect", PS1]) == 0
    capsys.readouterr()
    assert main([*root, "summary"]) == 1
    assert RESUBMITTED in capsys.readouterr().out
    assert main([*root, "autograde", PS1]) == 0
    assert row(course, student)["status"] == GRADED
    assert row(course, student)["autograded_score"] == "0"


def test_export_writes_into_the_course_root_by_default(course: Course) -> None:
    fx.submit(course.root, "dave", "source")
    course.autograde(PS1)
    assert main(["--course-root", str(course.root), "export"]) == 0
    assert "dave" in (course.root / "grades.csv").read_text()


def test_output_piped_into_a_reader_that_stops(course: Course) -> None:
    # `python -m grading summary | head -1`: the reader is gone before the output ends
    proc = subprocess.Popen([sys.executable, "-m", "grading", "--course-root",
                             str(course.root), "summary"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=Path(__file__).resolve().parent.parent)
    proc.stdout.close()  # type: ignore[union-attr]
    _, err = proc.communicate(timeout=120)
    assert b"BrokenPipeError" not in err and b"Traceback" not in err, err
