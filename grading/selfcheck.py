"""The graders' checks for learners working alone, without nbgrader.

    from grading import checks
    from grading.selfcheck import selfcheck
    selfcheck(checks.check_derivative, derivative, dict(exp=exp, log=log, sin=sin, cos=cos))

prints one friendly line, ✓ or ✗ with the teacher's message, and returns
whether the check passed, instead of stopping the notebook with a traceback.
The seed defaults to 0, so a learner sees the same inputs on every run; pass
`seed=` to try others.
"""

from __future__ import annotations

from typing import Any, Callable


def selfcheck(check: Callable[..., str], *args: Any, seed: int = 0, **kwargs: Any) -> bool:
    """Run `check(*args, seed=seed, **kwargs)`; print ✓ or ✗ and the reason."""
    name = getattr(check, "__name__", "check")
    try:
        summary = check(*args, seed=seed, **kwargs)
    except AssertionError as err:
        print(f"✗ {name}: not yet. {err}")
        return False
    print(f"✓ {name}: {summary}")
    return True
