"""The nbgrader pipeline on the real assignments, in a temporary course root.

One course is built per test session: every assignment is released once and
three students submit it: `reference` hands in the source notebook (the
reference solution), `blank` the untouched release, `partial` the release
with some answer cells filled in from the solution. Everything is autograded
in one pass and the tests read the results.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.validator import Validator

from grading.__main__ import main
from grading.feedback import HIDDEN_FEEDBACK, HIDDEN_MARK
from grading.pipeline import GRADED, NOT_GRADABLE, Course, load_config

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
from course_seeds import hidden_seeds  # noqa: E402  (tests/fixtures/course_seeds.py)

pytestmark = [pytest.mark.pipeline, pytest.mark.slow,
              # nbgrader's own gradebook code warns about SQLAlchemy sessions
              pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "course" / "source"
ASSIGNMENTS = sorted(p.name for p in SOURCE.iterdir() if p.is_dir())

# For each assignment: answer cells filled in by the `partial` student, and the
# autograded points those answers earn (the sum of the test cells that need
# only them, read off the source notebook by hand).
PARTIAL = {
    "ps1_forward_mode": (("finite_differences", "dual_class"), 10 + 10 + 15),
    "ps2_reverse_mode": (("unbroadcast", "vjp_rules"), 10 + 15),
    "ps3_lagrangian": (("assemble", "fixed_point"), 25 + 15),
    "ps4_cheap_gradients": (("product_grad_dp", "cost_ratio"), 20 + 15),
}


# A jvp fitted to the visible test (Liu's f at (2, 5) along (1, 0)): it passes the
# visible test and must fail the hidden ones, losing that cell's 15 points.
HARDCODED = ("ps1_forward_mode", "jvp", """
def jvp(f, primals, tangents):
    f(*[Dual(p, t) for p, t in zip(primals, tangents)])
    return 11.652071455223084, 5.5
""", 100 - 15)


def replace_answer(nb: nbformat.NotebookNode, grade_id: str, code: str) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = code
    return nb


def copy_course(dest: Path) -> Path:
    """A fresh course root: config and sources only, no generated folders."""
    dest.mkdir(parents=True)
    shutil.copy(REPO / "course" / "nbgrader_config.py", dest)
    shutil.copytree(SOURCE, dest / "source",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return dest


def submit(root: Path, student: str, assignment: str, nb: nbformat.NotebookNode) -> Path:
    folder = root / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{assignment}.ipynb"
    nbformat.write(nb, path)
    return path


def cell_ids(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}


def fill_answers(release: nbformat.NotebookNode, source: nbformat.NotebookNode,
                 grade_ids: tuple[str, ...]) -> nbformat.NotebookNode:
    """The release with the solutions of `grade_ids` pasted in, as a student would."""
    solutions = cell_ids(source)
    nb = nbformat.from_dict(release)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in grade_ids:
            cell.source = "\n".join(
                line for line in solutions[gid].source.splitlines()
                if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    return nb


@pytest.fixture(scope="session")
def course(tmp_path_factory: pytest.TempPathFactory) -> Course:
    root = copy_course(tmp_path_factory.mktemp("pipeline") / "course")
    c = Course(root)
    for a in ASSIGNMENTS:
        c.release(a)
        source = nbformat.read(SOURCE / a / f"{a}.ipynb", as_version=4)
        release = nbformat.read(root / "release" / a / f"{a}.ipynb", as_version=4)
        submit(root, "reference", a, source)
        submit(root, "blank", a, release)
        submit(root, "partial", a, fill_answers(release, source, PARTIAL[a][0]))
        if a == HARDCODED[0]:
            submit(root, "hardcoder", a, replace_answer(source, *HARDCODED[1:3]))
        c.autograde(a)
    return c


def test_every_assignment_has_a_partial_solution() -> None:
    assert set(PARTIAL) == set(ASSIGNMENTS)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_solution_earns_full_autograded_marks(course: Course,
                                                         assignment: str) -> None:
    assert course.statuses()[f"{assignment}/reference"]["status"] == GRADED
    assert course.autograded_score(assignment, "reference") == (100.0, 100.0)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_release_autogrades_at_zero(course: Course, assignment: str) -> None:
    status = course.statuses()[f"{assignment}/blank"]
    assert status["status"] == GRADED, status["reason"]
    assert course.autograded_score(assignment, "blank") == (0.0, 100.0)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_partial_solution_earns_exactly_its_points(course: Course,
                                                   assignment: str) -> None:
    assert course.autograded_score(assignment, "partial") == (PARTIAL[assignment][1], 100.0)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_has_no_solutions_or_hidden_tests(course: Course, assignment: str) -> None:
    text = (course.root / "release" / assignment / f"{assignment}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS"):
        assert marker not in text
    assert not hidden_seeds(text)
    source = (SOURCE / assignment / f"{assignment}.ipynb").read_text()
    assert "BEGIN HIDDEN TESTS" in source and hidden_seeds(source)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_has_a_manually_graded_answer_and_read_only_cells(assignment: str) -> None:
    nb = nbformat.read(SOURCE / assignment / f"{assignment}.ipynb", as_version=4)
    meta = [c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata]
    tests = [m for m in meta if m["grade"] and not m["solution"]]
    assert sum(m["points"] for m in tests) == 100
    assert all(m["locked"] for m in tests)
    assert len(tests) >= 4  # partial credit is possible
    assert any(m["grade"] and m["solution"] for m in meta)  # a written answer
    assert any(m["locked"] and not m["grade"] for m in meta)  # read-only instructions


def test_hidden_tests_catch_hard_coded_answers_without_revealing_them(course: Course) -> None:
    a = HARDCODED[0]
    assert course.autograded_score(a, "hardcoder") == (HARDCODED[3], 100.0)
    course.feedback(a, "hardcoder")
    html = (course.root / "feedback" / "hardcoder" / a / f"{a}.html").read_text()
    assert HIDDEN_FEEDBACK.split(":")[0] in html
    autograded = (course.root / "autograded" / "hardcoder" / a / f"{a}.ipynb").read_text()
    assert HIDDEN_MARK in autograded  # the instructor's copy keeps the details
    assert HIDDEN_MARK not in html and "the directional derivative" not in html


def test_feedback_export_round_trip(course: Course, tmp_path: Path) -> None:
    course.feedback(ASSIGNMENTS[0])
    for student in ("reference", "blank", "partial"):
        html = course.root / "feedback" / student / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.html"
        assert html.is_file()
        text = html.read_text()
        assert "BEGIN HIDDEN TESTS" not in text and not hidden_seeds(text)
    out = tmp_path / "grades.csv"
    assert main(["--course-root", str(course.root), "export", "-o", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 3 * len(ASSIGNMENTS) + 1  # + the hard-coder
    with course.api.gradebook as gb:
        for row in rows:
            sub = gb.find_submission(row["assignment"], row["student"])
            assert row["status"] == GRADED
            assert float(row["autograded_score"]) == sub.code_score
            assert float(row["max_autograded_score"]) == sub.max_code_score
            assert row["needs_manual_grade"] == str(bool(sub.needs_manual_grade))


@pytest.mark.parametrize("student", ["reference", "blank"])
def test_validate_agrees_with_autograde(course: Course, student: str) -> None:
    assignment = ASSIGNMENTS[0]
    path = course.root / "submitted" / student / assignment / f"{assignment}.ipynb"
    validator = Validator(config=load_config(course.root))
    result = validator.validate(str(path))
    passed = not result.get("failed") and not result.get("changed") and \
        not result.get("passed")  # "passed" lists cells that pass *without* an answer
    full_marks = course.autograded_score(assignment, student)[0] == 100.0
    assert passed == full_marks, result


def test_summary_and_exit_codes_report_ungradable_work(course: Course,
                                                       capsys: pytest.CaptureFixture) -> None:
    """A malformed and a missing notebook are reported with a reason, not as 0."""
    a = ASSIGNMENTS[0]
    root = course.root
    broken = root / "submitted" / "mallory" / a
    broken.mkdir(parents=True)
    shutil.copy(REPO / "tests" / "fixtures" / "malformed.ipynb", broken / f"{a}.ipynb")
    renamed = root / "submitted" / "oscar" / a
    renamed.mkdir(parents=True)
    shutil.copy(SOURCE / a / f"{a}.ipynb", renamed / "my_homework.ipynb")
    try:
        for student in ("mallory", "oscar"):
            assert main(["--course-root", str(root), "autograde", a,
                         "--student", student]) == 1
        out = capsys.readouterr().out
        assert "not valid JSON" in out or "not a valid notebook" in out
        assert f"missing notebook {a}.ipynb (submitted instead: my_homework.ipynb)" in out
        assert main(["--course-root", str(root), "summary"]) == 1
        out = capsys.readouterr().out
        assert f"not gradable: {a} mallory" in out and f"not gradable: {a} oscar" in out
        rows = {r["student"]: r for r in course.rows() if r["assignment"] == a}
        assert rows["mallory"]["status"] == NOT_GRADABLE
        assert rows["mallory"]["autograded_score"] == ""  # never a silent 0
        assert rows["reference"]["autograded_score"] == "100"
    finally:
        shutil.rmtree(root / "submitted" / "mallory")
        shutil.rmtree(root / "submitted" / "oscar")
        statuses = course.statuses()
        for student in ("mallory", "oscar"):
            statuses.pop(f"{a}/{student}", None)
        (root / "autograded" / "grading_status.json").write_text(json.dumps(statuses))


def test_cli_usage_errors() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


def test_autograding_again_replaces_and_never_duplicates(course: Course) -> None:
    a = ASSIGNMENTS[0]
    before = course.autograded_score(a, "partial")
    (outcome,) = course.autograde(a, "partial")
    assert (outcome.score, outcome.max_score) == before
    with course.api.gradebook as gb:
        students = [s.student.id for s in gb.assignment_submissions(a)]
    assert sorted(students) == sorted(set(students))
