"""Autograding with worker processes (`--jobs N`) gives the same results as one by one.

One small class of ps1 submissions (the reference solution, the blank release,
a partial solution, wrong answers, a kernel that dies, a malformed file) is
released once, copied to two fresh course roots and graded there with jobs=1
and jobs=2. The second also holds a submission that kills the process grading
it, which only a worker can survive. No test here measures time: the speed-up
is measured by `python -m tests.benchmarks.bench_grading`.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from grading.__main__ import main
from grading.pipeline import GRADED, NOT_GRADABLE, Course, Outcome

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
import submissions as fx  # noqa: E402  (tests/fixtures/submissions.py)

pytestmark = [pytest.mark.pipeline,
              # nbgrader's own gradebook code warns about SQLAlchemy sessions
              pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]

PS1 = fx.ASSIGNMENT
# student -> (submission of tests/fixtures/submissions.py, autograded score or None)
CLASS = {
    "a_full": ("source", 100.0),
    "b_blank": ("release", 0.0),
    "c_partial": ("tamper_duplicates", float(fx.PARTIAL_POINTS)),
    "d_wrong": ("raises", 70.0),
    "e_dies": ("kernel_dies", None),
    "f_broken": ("malformed", None),
}
KILLER = "c_killer"  # sorted early, so that other submissions come after it


def without_killer(results: dict) -> dict:
    """`fx.results` of the jobs=2 run, less the submission only it has."""
    return {"statuses": {k: v for k, v in results["statuses"].items() if KILLER not in k},
            "rows": [r for r in results["rows"] if r["student"] != KILLER],
            "cells": {k: v for k, v in results["cells"].items() if k[0] != KILLER}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Course, list[Outcome]]]:
    """jobs -> (the course, what autograde returned)."""
    tmp = tmp_path_factory.mktemp("jobs")
    base = fx.course_root(tmp / "base")
    Course(base).release(PS1)
    for student, (name, _) in CLASS.items():
        fx.submit(base, student, name)
    done = {}
    for jobs in (1, 2):
        root = shutil.copytree(base, tmp / f"jobs{jobs}")
        if jobs > 1:
            fx.submit(root, KILLER, "kills_grader")
        course = Course(root)
        scratch = tmp / f"tmp{jobs}"  # the temporary files of this run, and only them
        scratch.mkdir()
        system_tmp, tempfile.tempdir = tempfile.tempdir, str(scratch)
        with pytest.MonkeyPatch.context() as env:
            env.setenv("TMPDIR", str(scratch))  # for the workers too
            try:
                done[jobs] = course, course.autograde(PS1, jobs=jobs)
            finally:
                tempfile.tempdir = system_tmp
    return done


@pytest.mark.slow
def test_jobs_2_grades_exactly_like_jobs_1(runs: dict, tmp_path: Path) -> None:
    (serial, serial_outcomes), (parallel, parallel_outcomes) = runs[1], runs[2]
    assert without_killer(fx.results(parallel)) == fx.results(serial)
    # what autograde returns: the same verdicts, in student order
    assert [o.student for o in parallel_outcomes if o.student != KILLER] == list(CLASS)
    verdicts = [[(o.student, o.status, o.reason, o.score, o.max_score) for o in outcomes
                 if o.student != KILLER] for outcomes in (serial_outcomes, parallel_outcomes)]
    assert verdicts[0] == verdicts[1]
    for jobs, course in ((1, serial), (2, parallel)):
        course.export(tmp_path / f"grades{jobs}.csv")
    csv1, csv2 = ((tmp_path / f"grades{jobs}.csv").read_text().splitlines()
                  for jobs in (1, 2))
    assert [line for line in csv2 if f",{KILLER}," not in line] == csv1


@pytest.mark.slow
def test_the_results_are_the_expected_ones(runs: dict) -> None:
    """Not two runs that are wrong the same way: each score, and each reason."""
    for jobs in (1, 2):
        course, _ = runs[jobs]
        statuses = course.statuses()
        for student, (_, expected) in CLASS.items():
            verdict = statuses[f"{PS1}/{student}"]
            if expected is None:
                assert verdict["status"] == NOT_GRADABLE and verdict["reason"], verdict
            else:
                assert verdict["status"] == GRADED, verdict
                assert course.autograded_score(PS1, student) == (expected, 100.0)
                # what a resubmission is told apart by, recorded from workers too
                assert verdict["submitted"] == course.fingerprint(PS1, student)
        assert "kernel died" in statuses[f"{PS1}/e_dies"]["reason"]
        assert "is not a valid notebook" in statuses[f"{PS1}/f_broken"]["reason"]


@pytest.mark.slow
def test_a_submission_that_kills_its_worker_is_not_gradable(runs: dict) -> None:
    course, outcomes = runs[2]
    verdict = course.statuses()[f"{PS1}/{KILLER}"]
    assert verdict["status"] == NOT_GRADABLE
    assert "grading worker process was killed by SIGKILL" in verdict["reason"]
    assert [o.student for o in outcomes] == sorted([*CLASS, KILLER])  # nobody lost
    row = next(r for r in course.rows() if r["student"] == KILLER)
    assert row["autograded_score"] == ""  # never a 0
    # the killed worker could not remove its kernel sockets; the parent did
    assert not list((course.root.parent / "tmp2").iterdir())


@pytest.mark.parametrize("jobs", ["0", "-2", "two", "1.5", ""])
def test_cli_refuses_a_bad_number_of_jobs(jobs: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["autograde", PS1, "--jobs", jobs])
    assert exc.value.code == 2  # a usage error, before anything is graded
    assert f"expected a whole number of worker processes, at least 1, got {jobs!r}" in \
        capsys.readouterr().err


@pytest.mark.parametrize("jobs", [0, -1, 1.0, True, "2"])
def test_autograde_refuses_a_bad_number_of_jobs(jobs: object, tmp_path: Path) -> None:
    course = Course(fx.course_root(tmp_path / "course"))
    with pytest.raises(ValueError, match="jobs must be a whole number of worker processes, "
                                         "at least 1"):
        course.autograde(PS1, jobs=jobs)  # type: ignore[arg-type]
    assert not (course.root / "release").exists()  # refused before doing anything
