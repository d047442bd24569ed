"""Grading for autodiff-course: the checks autograder cells call, and the instructor pipeline.

* `grading.checks`: compare a student's derivative, JVP, Jacobian, VJP rules,
  gradients or linear systems with the reference library `autodiff_lite`;
* `grading.selfcheck`: the same checks with a friendly pass/fail line, for
  learners working without nbgrader;
* `grading.pipeline` and the command line (`python -m grading`): release,
  autograde, feedback, export and summary on nbgrader's Python API.

Importing `grading` itself is light: the checks load the reference library and
NumPy, the pipeline loads nbgrader, each only when used.
"""
