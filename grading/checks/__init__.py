"""The checks that autograder test cells call, one module per assignment.

Each check computes its expected values with the reference library
(`autodiff_lite`) on inputs drawn from `seed`, calls the student's code with the
reference blocked, and raises AssertionError with a teacher's message when
something is wrong. On success it returns a one-line summary.
"""

from .cheap import (check_conjugate_gradient, check_cost_ratio, check_product_gradient,
                    check_ridge_hypergradient)
from .forward import (check_dual_arithmetic, check_dual_functions, check_derivative,
                      check_difference, check_jacobian, check_jvp, check_step_choice)
from .lagrange import (check_assemble, check_back_substitute, check_fixed_point,
                       check_implicit_jacobian, check_lagrange_gradient)
from .reverse import (check_gradient_network, check_gradient_seed000, check_hvp,
                      check_tape_adjoints, check_unbroadcast, check_vjp_rules)

__all__ = [
    "check_derivative", "check_difference", "check_dual_arithmetic",
    "check_dual_functions", "check_jacobian", "check_jvp", "check_step_choice",
    "check_gradient_network", "check_gradient_seed000", "check_hvp", "check_tape_adjoints",
    "check_unbroadcast", "check_vjp_rules", "check_assemble", "check_back_substitute",
    "check_fixed_point", "check_implicit_jacobian", "check_lagrange_gradient",
    "check_conjugate_gradient", "check_cost_ratio", "check_product_gradient",
    "check_ridge_hypergradient",
]

import sys

from .. import compare, guard, problems, sandbox
from . import _common, cheap, forward, lagrange, reverse

_GRADING = (sys.modules["grading"], sys.modules[__name__], compare, guard, problems, sandbox,
            _common, cheap, forward, lagrange, reverse)
guard.snapshot(*_GRADING)
guard.seal(*_GRADING)
