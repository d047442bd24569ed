"""Command line of the instructor pipeline: ``autodiff-grade`` or ``python -m grading``.

Exit status: 0 when every step succeeded, 1 when a step failed, 2 for a usage
error; `autograde` and `summary` also exit with 1 when some submission could not
be graded (the summary says which and why).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from .pipeline import NOT_GRADABLE, Course, PipelineError, format_summary


ONE_STUDENT = "only this student (with no ASSIGNMENT: each one they handed in)"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="autodiff-grade",
        description="Release, autograde, return feedback and export grades for the "
                    "autodiff-course nbgrader course.")
    p.add_argument("--course-root", type=Path, default=None,
                   help="the course folder holding nbgrader_config.py and source/ "
                        "(default: the repository's course/)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_assignments(name: str, text: str) -> argparse.ArgumentParser:
        q = sub.add_parser(name, help=text, description=text)
        q.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                       help="assignment ids (default: all in source/)")
        return q

    q = with_assignments("release", "generate the student versions into release/")
    q.add_argument("--exchange", action="store_true",
                   help="also copy them into the exchange for students to fetch")
    q.add_argument("--force", action="store_true",
                   help="with --exchange: replace a release already in the exchange")
    with_assignments("collect", "collect submissions from the exchange into submitted/")
    q = with_assignments("autograde", "run and score the submissions in submitted/")
    q.add_argument("--student", help=ONE_STUDENT)
    q.add_argument("--timeout", type=_at_least_one("seconds"), default=None,
                   help="seconds per cell (default: Execute.timeout of the course config)")
    q.add_argument("--jobs", "-j", type=_at_least_one("worker processes"), default=1,
                   metavar="N",
                   help="grade N submissions at a time, in N worker processes (default: "
                        "1; about one per core: each runs a kernel)")
    q = with_assignments("feedback", "write feedback HTML into feedback/")
    q.add_argument("--student", help=ONE_STUDENT)
    text = "write all grades to a CSV file"
    q = sub.add_parser("export", help=text, description=text)
    q.add_argument("--output", "-o", type=Path, default=None,
                   help="the CSV file to write (default: grades.csv in the course root, "
                        "which git ignores: grades are personal data)")
    text = "print a table per assignment: scores and the submissions not gradable"
    sub.add_parser("summary", help=text, description=text)
    return p


def _at_least_one(what: str) -> Callable[[str], int]:
    """The type of --jobs and --timeout: a whole number of `what`, at least 1 (a
    timeout of 0 would be read by nbclient as no limit at all)."""
    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            number = 0
        if number < 1:
            raise argparse.ArgumentTypeError(f"expected a whole number of {what}, at "
                                             f"least 1, got {text!r}")
        return number
    return parse


def _say(message: str) -> None:
    """Print progress; when the reader has gone (`... | head`), go on quietly."""
    try:
        print(message, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run(args: argparse.Namespace) -> int:
    """Run one command; return the exit status."""
    course = Course(args.course_root, timeout=getattr(args, "timeout", None),
                    progress=_say)
    names = getattr(args, "assignments", None)
    student = getattr(args, "student", None)
    if student and not names:  # one student's work: what they handed in, not every assignment
        names = course.handed_in(student)
        if not names:
            raise PipelineError(f"no submission by {student!r} in {course.root / 'submitted'}")
    names = names or course.assignments()
    status = 0
    if args.command == "release":
        for a in names:
            course.release(a)
            if args.exchange:
                course.release_to_exchange(a, force=args.force)
    elif args.command == "collect":
        for a in names:
            course.collect(a)
    elif args.command == "autograde":
        _say(f"autograding {', '.join(names)} in {course.root} "
             f"(at most {course.timeout} s per cell)")
        seen = 0
        for a in names:
            outcomes = course.autograde(a, student, jobs=args.jobs)
            seen += len(outcomes)
            if any(o.status == NOT_GRADABLE for o in outcomes):
                status = 1
            if not outcomes:
                _say(f"{a}: no submissions in {course.root / 'submitted'}")
        if not seen:
            raise PipelineError(f"nothing to autograde in {course.root / 'submitted'}: "
                                "collect the submissions first (collect ASSIGNMENT) or "
                                "copy each into submitted/<student>/<assignment>/")
        _say(format_summary([r for r in course.summary() if r["assignment"] in names]))
    elif args.command == "feedback":
        for a in names:
            try:
                course.feedback(a, student)
            except PipelineError as err:
                if not student or args.assignments:
                    raise
                _say(f"{a}: no feedback: {err}")  # each one handed in: write the rest
                status = 1
    elif args.command == "export":
        output = args.output or course.root / "grades.csv"
        n = course.export(output)
        _say(f"wrote {n} rows to {output}")
    elif args.command == "summary":
        table = course.summary()
        _say(format_summary(table))
        status = 1 if any(r["not_gradable"] for r in table) else 0
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `autodiff-grade` and `python -m grading`."""
    parser = _parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if getattr(args, "force", False) and not args.exchange:
        parser.error("release --force replaces a release in the exchange: use it with "
                     "--exchange (release/ itself is always regenerated)")
    # nbgrader's gradebook code triggers SQLAlchemy session warnings that say
    # nothing to an instructor; keep the terminal for progress and errors.
    warnings.filterwarnings("ignore", module=r"nbgrader\.api")
    try:
        return run(args)
    except PipelineError as err:
        print(f"autodiff-grade: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
