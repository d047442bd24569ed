"""nbgrader configuration of autodiff-course; the course root is this folder.

`python -m grading ...` (or `autodiff-grade`) loads this file, and so does the
`nbgrader` command when run from this folder. Every path is relative to the
folder, so the course can be copied anywhere (the tests copy it to a temporary
directory). The gradebook defaults to sqlite:///<root>/gradebook.db.
"""

import os

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)
HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "autodiff-course"
c.CourseDirectory.root = HERE

# A local exchange inside the course (gitignored), for release/fetch/submit/collect
# on one machine. On a shared server point this at the server's exchange instead.
c.Exchange.root = os.path.join(HERE, "exchange")

# Seconds each cell may run before it is interrupted and scored 0. The reference
# solutions run each test cell in well under a second.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# Put back test cells (and the tasks around them) that a student deleted, so
# the original tests always run; locked cells are restored from the gradebook.
c.OverwriteCells.add_missing_cells = True

# Keep the autograded notebooks and the feedback small even if an answer prints
# without end.
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

# Feedback shows students their autograded notebook: strip the hidden tests'
# code, shorten test tracebacks and redact hidden tests' messages (see
# grading/feedback.py); the grades are read first, so nothing is lost.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "nbgrader.preprocessors.ClearHiddenTests",
    "grading.feedback.ShortTestTracebacks",
]

# The defences of grading/execute.py (stuck cells, locked cells a student deleted,
# outsized outputs) for the plain `nbgrader autograde` command too;
# `python -m grading` installs them anyway. grading is installed with the course.
from grading.execute import configure  # noqa: E402

configure(c)
