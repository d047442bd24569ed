"""Autograding a class: one by one (as nbgrader does) against `--jobs N` worker processes.

Run: `python -m tests.benchmarks.bench_grading [--quick] [--submissions 200] [--jobs 2]`
(or `make bench`). Hands in synthetic submissions of ps1 cycling through a mix
of kinds (the reference solution, the blank release, a partial solution, wrong
answers, a kernel that dies, a malformed file: the fixtures of
tests/fixtures/submissions.py), in two halves, each in temporary course roots
(a copy of the course config and source, a fresh gradebook). Each half is
autograded twice, with jobs=1 and with jobs=N, in the order 1, N, N, 1, so
that a machine getting faster or slower during the runs favours neither.
Between the runs, the same number of processes doing pure CPU work measures
what N processes can gain on this machine at best (a virtual machine's cores
are not always all there). Prints seconds per submission, the speed-ups, and
whether the two ways decided exactly the same (verdicts and reasons, export
rows, every test cell's score). Asserts nothing about time; exits 1 if the
results differ or a score is not what its kind expects.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from multiprocessing import get_context
from multiprocessing.pool import Pool
from pathlib import Path

from grading.pipeline import Course
from tests.fixtures import submissions as fx

# One cycle of the class: what each kind scores out of 100 (None: not gradable).
MIX = {
    "source": 100, "release": 0, "tamper_duplicates": fx.PARTIAL_POINTS, "raises": 70,
    "kernel_dies": None, "bad_values": 30, "uses_reference_or_fd": 50, "warns": 100,
    "tamper_deletes": 100, "malformed": None,
}


def class_of(n: int) -> dict[str, str]:
    """student -> kind of submission, cycling through MIX."""
    kinds = list(MIX)
    return {f"student{k:04d}": kinds[k % len(kinds)] for k in range(n)}


def build_class(root: Path, students: dict[str, str]) -> None:
    """A released course with ps1 at `root` and these students' submissions."""
    fx.course_root(root)
    Course(root).release(fx.ASSIGNMENT)
    for student, kind in students.items():
        fx.submit(root, student, kind)


def grade(root: Path, jobs: int) -> tuple[float, dict]:
    """Autograde every submission at `root` with `jobs`; (seconds, fx.results)."""
    n = len(list((root / "submitted").iterdir()))
    every, done = max(1, n // 5), 0

    def progress(message: str) -> None:
        nonlocal done
        if message.startswith("["):  # one line per submission
            done += 1
            if done % every == 0:
                print(f"  jobs={jobs}: {done}/{n} after {time.perf_counter() - start:.0f} s",
                      flush=True)

    course = Course(root, progress=progress)
    start = time.perf_counter()
    course.autograde(fx.ASSIGNMENT, jobs=jobs)
    return time.perf_counter() - start, fx.results(course)


SPIN = 10_000_000  # loop iterations of one probe: about 0.3 to 1 s


def spin(n: int = SPIN) -> float:
    """Seconds of a pure-Python loop: CPU work and nothing else."""
    start = time.perf_counter()
    x = 0
    for i in range(n):
        x += i
    return time.perf_counter() - start


def cpu_scaling(pool: Pool, jobs: int, samples: int = 3) -> list[float]:
    """How many times the work of one process `jobs` processes do in the same time."""
    ratios = []
    for _ in range(samples):
        one = spin()
        start = time.perf_counter()
        pool.map(spin, [SPIN] * jobs)
        ratios.append(jobs * one / (time.perf_counter() - start))
    return ratios


def by_student(results: dict) -> dict[str, tuple]:
    """fx.results regrouped per student: verdict, test cell scores, export row."""
    return {row["student"]: (
        results["statuses"].get(f"{fx.ASSIGNMENT}/{row['student']}"),
        sorted((k, v) for k, v in results["cells"].items() if k[0] == row["student"]),
        row) for row in results["rows"]}


def _at_least_2(text: str) -> int:
    if not text.isdigit() or int(text) < 2:
        raise argparse.ArgumentTypeError(f"expected a whole number, at least 2, got {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="10 submissions (one of each kind) instead of 200")
    parser.add_argument("--submissions", type=_at_least_2, default=None, metavar="N",
                        help="how many submissions (default: 200, 10 with --quick)")
    parser.add_argument("--jobs", type=_at_least_2, default=2, metavar="N",
                        help="worker processes of the parallel runs (default: 2)")
    args = parser.parse_args(argv)
    n, jobs = args.submissions or (10 if args.quick else 200), args.jobs
    warnings.filterwarnings("ignore", module=r"nbgrader\.api")  # SQLAlchemy session chatter
    print(f"Autograding {fx.ASSIGNMENT}: {n} synthetic submissions cycling through "
          f"{', '.join(MIX)}; {os.cpu_count()} CPU cores", flush=True)
    everyone = class_of(n)
    halves = [dict(list(everyone.items())[:n // 2]), dict(list(everyone.items())[n // 2:])]
    seconds = {1: 0.0, jobs: 0.0}
    results: dict[int, list[dict]] = {1: [], jobs: []}
    scaling: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp, \
            get_context("spawn").Pool(jobs) as pool:
        for k, (half, order) in enumerate(zip(halves, ((1, jobs), (jobs, 1)))):
            base = Path(tmp) / f"half{k}"
            build_class(base, half)
            for run in order:
                scaling += cpu_scaling(pool, jobs)
                print(f"half of {len(half)} submissions, jobs={run}", flush=True)
                took, decided = grade(shutil.copytree(base, Path(tmp) / f"half{k}-jobs{run}"),
                                      run)
                seconds[run] += took
                results[run].append(decided)
        scaling += cpu_scaling(pool, jobs)
    t1, tn = seconds[1], seconds[jobs]
    print(f"\n{'run':<22} {'jobs':>4} {'total s':>9} {'s/submission':>13} {'speed-up':>9}")
    print(f"{'one by one (nbgrader)':<22} {1:>4} {t1:>9.1f} {t1 / n:>13.2f} {1:>8.2f}x")
    print(f"{'worker processes':<22} {jobs:>4} {tn:>9.1f} {tn / n:>13.2f} {t1 / tn:>8.2f}x")
    print(f"{'pure CPU work (peer)':<22} {jobs:>4} {'':>9} {'':>13} "
          f"{statistics.median(scaling):>8.2f}x  (median of {len(scaling)} probes between "
          f"the runs; {min(scaling):.2f}x to {max(scaling):.2f}x)")
    differ = []
    for serial, parallel in zip(results[1], results[jobs]):
        a, b = by_student(serial), by_student(parallel)
        differ += sorted(s for s in set(a) | set(b) if a.get(s) != b.get(s))
    same = all(a == b for a, b in zip(results[1], results[jobs]))
    print("identical results (verdicts and reasons, export rows, every test cell's score): "
          + ("yes" if same else f"NO (students: {', '.join(differ) or 'none'})"))
    scores = {k: v for r in results[1] for k, v in r["statuses"].items()}
    wrong = [s for s, kind in everyone.items()
             if scores[f"{fx.ASSIGNMENT}/{s}"]["score"] != MIX[kind]]
    print("every score as its kind expects: " + ("yes" if not wrong else
                                                 f"NO ({', '.join(wrong)})"))
    return 0 if same and not wrong else 1


if __name__ == "__main__":
    sys.exit(main())
