"""autodiff_lite: a small, readable automatic differentiation library for teaching.

One rule table (`autodiff_lite.rules`) gives every primitive its value, its JVP
rule and its VJP rule; forward mode (`Dual`), reverse mode (`Tape`) and the
Lagrangian view (`autodiff_lite.lagrangian`) all read that table and nothing else.
The names follow JAX and autograd, which learners meet next.
"""

from .api import (derivative, grad, hessian, hvp, jacfwd, jacrev, jvp, trace,
                  value_and_grad, vjp)
from .core import Primitive, primal
from .forward import Dual
from .numerical import check_grads
from .reverse import Box, Node, Tape
from .rules import RULES
from . import lagrangian
from .implicit import fixed_point
from .checkpoint import checkpoint
from . import cost
from . import symbolic, viz

__all__ = [
    "Box", "Dual", "Node", "Primitive", "RULES", "Tape", "check_grads", "derivative",
    "grad", "hessian", "hvp", "jacfwd", "jacrev", "jvp", "primal", "trace",
    "value_and_grad", "symbolic", "vjp", "viz", "lagrangian", "fixed_point", "checkpoint", "cost",
]
__version__ = "0.1.0"
