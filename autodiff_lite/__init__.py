"""autodiff_lite: a small, readable automatic differentiation library for teaching.

One rule table (`autodiff_lite.rules`) gives every primitive its value, its JVP
rule and its VJP rule; forward mode (`Dual`), reverse mode (`Tape`) and the
Lagrangian view (`autodiff_lite.lagrangian`) all read that table and nothing else.
The names follow JAX and autograd, which learners meet next.

Modules beyond the transformations: `numerical` (finite differences,
`check_grads`), `symbolic` (expression trees, to compare), `lagrangian` (the
linear-system view of backprop), `implicit` (`fixed_point`), `checkpoint`,
`cost` (operation counts, peak memory), `workloads` (the benchmark workloads),
`hyper` (the ridge hypergradient example) and `viz` (pictures). Import a module by
name where it is not already an attribute (`import autodiff_lite.workloads`); the
package's `checkpoint` is the function, so `checkpoint_sequential` comes from
`from autodiff_lite.checkpoint import checkpoint_sequential`.
"""

from . import cost, lagrangian, symbolic, viz
from .api import (derivative, grad, hessian, hvp, jacfwd, jacrev, jvp, trace,
                  value_and_grad, vjp)
from .checkpoint import checkpoint
from .core import Primitive, primal
from .forward import Dual
from .implicit import fixed_point
from .numerical import check_grads
from .reverse import Box, Node, Tape
from .rules import RULES

__all__ = [
    "Box", "Dual", "Node", "Primitive", "RULES", "Tape", "check_grads", "checkpoint",
    "cost", "derivative", "fixed_point", "grad", "hessian", "hvp", "jacfwd", "jacrev",
    "jvp", "lagrangian", "primal", "symbolic", "trace", "value_and_grad", "vjp", "viz",
]
__version__ = "0.1.0"
