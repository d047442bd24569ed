"""Submissions that break the run: a cell that never ends, a kernel that dies.

A course with ps1 only, graded with a short per-cell timeout. A cell that loops
forever is interrupted and only the tests depending on it score 0; a kernel that
dies makes the submission "not gradable" with the reason, never a silent 0, and
the other students of the batch are still graded.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from grading.pipeline import GRADED, NOT_GRADABLE, Course

pytestmark = [pytest.mark.pipeline, pytest.mark.slow,
              # nbgrader's own gradebook code warns about SQLAlchemy sessions
              pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]

REPO = Path(__file__).resolve().parent.parent
PS1 = "ps1_forward_mode"
SOURCE = REPO / "course" / "source" / PS1 / f"{PS1}.ipynb"


def with_answer(cell_id: str, code: str) -> nbformat.NotebookNode:
    """The reference solution with one answer cell replaced by `code`."""
    nb = nbformat.read(SOURCE, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == cell_id:
            cell.source = code
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Course:
    root = tmp_path_factory.mktemp("failures") / "course"
    (root / "source" / PS1).mkdir(parents=True)
    shutil.copy(REPO / "course" / "nbgrader_config.py", root)
    shutil.copy(SOURCE, root / "source" / PS1)
    course = Course(root, timeout=5)
    course.release(PS1)
    submissions = {
        "looper": with_answer("jacobian", "while True:\n    pass"),
        "crasher": with_answer("derivative", "import os\nos._exit(1)"),
        "zz_after": nbformat.read(SOURCE, as_version=4),
    }
    for student, nb in submissions.items():
        folder = root / "submitted" / student / PS1
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{PS1}.ipynb")
    course.autograde(PS1)
    return course


def test_endless_cell_is_interrupted_and_only_its_test_scores_zero(graded: Course) -> None:
    assert graded.statuses()[f"{PS1}/looper"]["status"] == GRADED
    assert graded.autograded_score(PS1, "looper") == (80.0, 100.0)  # jacobian: 20 points


def test_dead_kernel_is_not_gradable_with_the_reason(graded: Course) -> None:
    status = graded.statuses()[f"{PS1}/crasher"]
    assert status["status"] == NOT_GRADABLE
    assert "kernel died" in status["reason"]
    row = next(r for r in graded.rows() if r["student"] == "crasher")
    assert row["status"] == NOT_GRADABLE and row["autograded_score"] == ""


def test_the_batch_goes_on_after_a_failure(graded: Course) -> None:
    assert graded.autograded_score(PS1, "zz_after") == (100.0, 100.0)
