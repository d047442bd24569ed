"""The checks of ps2-ps4 against the reference solutions and their typical mistakes.

The solutions are executed from course/source (setup and answer cells only), so
these tests exercise the checks on the code students are expected to write;
each mistake below must fail with a message that points at it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest

from grading import checks
from grading.selfcheck import selfcheck

pytestmark = pytest.mark.grading

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
from course_seeds import seeds  # noqa: E402  (tests/fixtures/course_seeds.py)

SOURCE = Path(__file__).resolve().parent.parent / "course" / "source"
PS2_ELEMENTWISE_SEEDS = seeds((SOURCE / "ps2_reverse_mode" / "ps2_reverse_mode.ipynb").read_text(),
                              "check_vjp_rules(vjp_rules, elementwise")


def solutions(assignment: str) -> dict[str, Any]:
    """The namespace after running the setup and answer cells of the source notebook."""
    nb = nbformat.read(SOURCE / assignment / f"{assignment}.ipynb", as_version=4)
    ns: dict[str, Any] = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("solution") or meta.get("grade_id") == "setup"):
            exec(compile(cell.source, f"<{assignment}:{meta['grade_id']}>", "exec"), ns)
    return ns


@pytest.fixture(scope="module")
def ps2() -> dict[str, Any]:
    return solutions("ps2_reverse_mode")


@pytest.fixture(scope="module")
def ps3() -> dict[str, Any]:
    return solutions("ps3_lagrangian")


@pytest.fixture(scope="module")
def ps4() -> dict[str, Any]:
    return solutions("ps4_cheap_gradients")


def ops2(ns: dict[str, Any]) -> dict[str, Any]:
    return dict(exp=ns["exp"], sin=ns["sin"], tanh=ns["tanh"], sum=ns["total"])


def test_ps2_solution_passes(ps2: dict[str, Any]) -> None:
    checks.check_unbroadcast(ps2["unbroadcast"], seed=7)
    checks.check_vjp_rules(ps2["vjp_rules"], tuple(ps2["vjp_rules"]), seed=7)
    checks.check_tape_adjoints(ps2["trace"], ps2["backward"], ops2(ps2), seed=7)
    checks.check_gradient_seed000(ps2["grad"], ops2(ps2), seed=7)
    checks.check_gradient_network(ps2["grad"], ops2(ps2), seed=7)
    checks.check_hvp(ps2["hvp"], ops2(ps2), seed=7)


def test_ps2_running_a_rules_cell_again_keeps_the_other_cells_rules() -> None:
    nb = nbformat.read(SOURCE / "ps2_reverse_mode" / "ps2_reverse_mode.ipynb", as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
    ns: dict[str, Any] = {}
    for grade_id in ("setup", "unbroadcast", "vjp_rules", "vjp_rules_matrix", "vjp_rules"):
        exec(compile(cells[grade_id], f"<ps2:{grade_id}>", "exec"), ns)  # noqa: S102
    assert {"add", "tanh", "matmul", "sum"} <= set(ns["vjp_rules"])


def test_ps2_missing_unbroadcast_is_named(ps2: dict[str, Any]) -> None:
    with pytest.raises(AssertionError, match=r"unbroadcast\(g, \(4,\)\).*expected shape"):
        checks.check_unbroadcast(lambda g, shape: g, seed=0)
    rules = dict(ps2["vjp_rules"], add=lambda g, z, x, y: (g, g))
    with pytest.raises(AssertionError, match="argument . of the add rule.*unbroadcast"):
        checks.check_vjp_rules(rules, ("add",), seed=0)


def test_ps2_unbroadcast_that_drops_one_leading_axis_fails() -> None:
    def one_axis(g: Any, shape: tuple) -> Any:  # `if` where it needs `while`
        g = np.asarray(g, dtype=float)
        if shape == ():
            return g.sum()
        if g.ndim > len(shape):
            g = g.sum(axis=0)
        for i, s in enumerate(shape):
            if s == 1:
                g = g.sum(axis=i, keepdims=True)
        return g
    with pytest.raises(AssertionError, match=r"unbroadcast\(g, \((1, )?4,\)\) for g of "
                       r"shape \(2, 3, 4\)"):
        checks.check_unbroadcast(one_axis, seed=1)


def test_ps2_rules_must_take_python_floats(ps2: dict[str, Any]) -> None:
    ub = ps2["unbroadcast"]
    rules = dict(ps2["vjp_rules"], multiply=lambda g, z, x, y: (ub(g * y, x.shape),
                                                                ub(g * x, y.shape)))
    with pytest.raises(AssertionError, match="multiply.*Python floats.*AttributeError"):
        checks.check_vjp_rules(rules, ("multiply",), seed=2)


def test_ps2_wrong_rule_names_rule_and_argument(ps2: dict[str, Any]) -> None:
    rules = dict(ps2["vjp_rules"])
    rules["multiply"] = lambda g, z, x, y: (ps2["unbroadcast"](g * y, np.shape(x)),
                                            ps2["unbroadcast"](g * y, np.shape(y)))
    with pytest.raises(AssertionError, match="argument 1 of the multiply rule") as exc:
        checks.check_vjp_rules(rules, ("multiply",), seed=0)
    assert "unbroadcast" not in str(exc.value)  # the shape is right, the value is not
    # a wrong shape that no broadcasting made: unbroadcasting is not the fix
    for name, wrong in (("sum", lambda g, z, x, **kw: (g,)),
                        ("matmul", lambda g, z, a, b: (b @ g.T, g.T @ a))):
        with pytest.raises(AssertionError, match=rf"argument 0 of the {name} rule.*"
                                                 r"\(it must have the argument's shape, \(") as exc:
            checks.check_vjp_rules(dict(ps2["vjp_rules"], **{name: wrong}), (name,), seed=3)
        assert "unbroadcast" not in str(exc.value)
    with pytest.raises(AssertionError, match="no rule for 'tanh'"):
        checks.check_vjp_rules({}, ("tanh",), seed=0)


def test_ps2_sweep_that_overwrites_adjoints_fails_at_the_node(ps2: dict[str, Any]) -> None:
    def backward(tape: Any, output: Any) -> list:
        adj = [np.zeros_like(n[3], dtype=float) for n in tape.nodes]
        adj[output.index] = np.ones_like(output.value, dtype=float)
        for k in range(output.index, -1, -1):
            op, parents, args, value = tape.nodes[k]
            if op != "input":
                for p, ct in zip(parents, ps2["vjp_rules"][op](adj[k], value, *args)):
                    if p >= 0:
                        adj[p] = ct  # forgets to accumulate: a * a and c are used twice
        return adj
    with pytest.raises(AssertionError, match=r"the adjoint of node \d \((exp|multiply|add)\)"):
        checks.check_tape_adjoints(ps2["trace"], backward, ops2(ps2), seed=0)


def test_ps2_a_var_numpy_does_not_hand_over_to_fails_the_tape_check() -> None:
    # Without __array_ufunc__ = None, `c * x` with an array c is NumPy's own
    # product over the entries: a tape bug, to be charged to the tape's test (it
    # used to surface only in hvp's, whose network has a constant X on the left).
    ns = solutions("ps2_reverse_mode")
    del ns["Var"].__array_ufunc__
    with pytest.raises(AssertionError, match=r"trace on .*arrays on the left of \*, / and @"):
        checks.check_tape_adjoints(ns["trace"], ns["backward"], ops2(ns), seed=0)


@pytest.mark.parametrize("seconds, asked", [
    (0.5, {"seconds": 0.5}),
    pytest.param(5, {}, marks=pytest.mark.slow, id="as the grader calls it, 5 s")])
def test_ps2_backward_along_every_path_fails(ps2: dict[str, Any], seconds: float,
                                             asked: dict[str, float]) -> None:
    # Right adjoints (each path's gradient is added in), but no sweep in reverse
    # order: its cost grows with the number of paths, exponential in depth.
    def backward(tape: Any, output: Any) -> list:
        adj = [np.zeros_like(n[3], dtype=float) for n in tape.nodes]

        def push(k: int, g: Any) -> None:
            adj[k] = adj[k] + g
            op, parents, args, value = tape.nodes[k]
            if op != "input":
                for p, ct in zip(parents, ps2["vjp_rules"][op](g, value, *args)):
                    if p >= 0:
                        push(p, ct)
        push(output.index, np.ones_like(output.value, dtype=float))
        return adj
    # stopped at the limit, not left to run for hours (nbgrader's timeout would
    # then fail the cell with no word of why)
    with pytest.raises(AssertionError, match=rf"2\^40 paths .* did not finish within {seconds:g} s"):
        checks.check_tape_adjoints(ps2["trace"], backward, ops2(ps2), seed=0, **asked)


def test_ps2_wrong_number_of_results_says_how_many(ps2: dict[str, Any]) -> None:
    rules = dict(ps2["vjp_rules"], add=lambda g, z, x, y: (g,))
    with pytest.raises(AssertionError, match=r"expected a tuple of 2 cotangent\(s\), one "
                       r"per argument, got a tuple of 1 item$"):
        checks.check_vjp_rules(rules, ("add",), seed=0)

    def every_adjoint(f: Any) -> Any:  # returns the whole sweep, not the inputs' part
        def g(*args: Any) -> Any:
            tape, out = ps2["trace"](f, *args)
            return ps2["backward"](tape, out)
        return g
    with pytest.raises(AssertionError, match=r"expected a tuple of \d gradients, one per "
                       r"argument, got a list of \d+ items$"):
        checks.check_gradient_network(every_adjoint, ops2(ps2), seed=0)


@pytest.mark.parametrize("missing", ["__rsub__", "__rtruediv__"])
def test_ps2_var_without_reflected_operators_fails(missing: str) -> None:
    ps2 = solutions("ps2_reverse_mode")  # a fresh copy: its Var is changed below
    delattr(ps2["Var"], missing)
    with pytest.raises(AssertionError, match=r"trace on sin\(x\) \(unused\).*TypeError"):
        checks.check_tape_adjoints(ps2["trace"], ps2["backward"], ops2(ps2), seed=4)


def test_ps2_unused_node_needs_a_zero_adjoint(ps2: dict[str, Any]) -> None:
    def backward(tape: Any, output: Any) -> list:  # leaves None where nothing flowed
        adj = ps2["backward"](tape, output)
        used = {p for node in tape.nodes for p in node[1]} | {output.index}
        return [a if k in used else None for k, a in enumerate(adj)]
    with pytest.raises(AssertionError, match=r"the adjoint of node 1 \(sin\).*got None; "
                                             r".*does not depend on has adjoint zero") as exc:
        checks.check_tape_adjoints(ps2["trace"], backward, ops2(ps2), seed=4)
    assert "forget to `return`" not in str(exc.value)  # it did return, a list

    def backward_floats(tape: Any, output: Any) -> list:  # 0.0 for the unused array node
        adj = backward(tape, output)
        return [0.0 if a is None else a for a in adj]
    with pytest.raises(AssertionError, match=r"node 1 \(sin\).*got the number 0(\.0)?, but the "
                                             r"node is an array of shape \(3,\).*zeros_like"):
        checks.check_tape_adjoints(ps2["trace"], backward_floats, ops2(ps2), seed=4)


def test_ps2_reference_library_is_refused(ps2: dict[str, Any]) -> None:
    import autodiff_lite as ad
    with pytest.raises(AssertionError, match="implement reverse mode yourself"):
        checks.check_gradient_seed000(lambda f: ad.grad(lambda x: f(x)), ops2(ps2), seed=0)


def hvp_with_absolute_step(grad: Any, step: float) -> Any:
    """A central difference of gradients along v whose step ignores v's length."""
    def hvp(f, x, v):  # type: ignore[no-untyped-def]
        return (grad(f)(x + step * v) - grad(f)(x - step * v)) / (2 * step)
    return hvp


def test_ps2_hvp_needs_a_step_that_scales_with_v_and_two_gradients(ps2: dict[str, Any]) -> None:
    with pytest.raises(AssertionError, match=r"length 10000.*the step should scale with v"):
        checks.check_hvp(hvp_with_absolute_step(ps2["grad"], 1e-6), ops2(ps2), seed=8)

    def whole_hessian(f, x, v):  # type: ignore[no-untyped-def]
        n = x.size
        H = np.column_stack([ps2["hvp"](f, x, e.reshape(x.shape)).ravel() for e in np.eye(n)])
        return (H @ v.ravel()).reshape(x.shape)
    with pytest.raises(AssertionError, match=r"evaluated f 24 times.*two gradients suffice"):
        checks.check_hvp(whole_hessian, ops2(ps2), seed=8)


def test_ps2_rules_get_copies_of_what_they_may_write_into(ps2: dict[str, Any]) -> None:
    def matmul_zeroing_g(g, z, a, b):  # type: ignore[no-untyped-def]
        g[...] = 0.0  # wrong, and it wrote into the check's g before the check used it
        return g @ b.T, a.T @ g
    with pytest.raises(AssertionError, match="the cotangent of argument 0 of the matmul rule"):
        checks.check_vjp_rules(dict(ps2["vjp_rules"], matmul=matmul_zeroing_g), ("matmul",),
                               seed=3)

    def exp_in_place(g, z, x):  # type: ignore[no-untyped-def]
        g *= z  # right: g·z, computed in g's memory
        return (g,)
    checks.check_vjp_rules(dict(ps2["vjp_rules"], exp=exp_in_place), ("exp",), seed=2)


def test_ps2_sweep_wrong_only_at_the_input_fails(ps2: dict[str, Any]) -> None:
    def backward(tape, output):  # type: ignore[no-untyped-def]
        adjoints = ps2["backward"](tape, output)
        adjoints[0] = 0.0 * adjoints[0]  # the input's adjoint is the gradient itself
        return adjoints
    with pytest.raises(AssertionError, match=r"the adjoint of node 0 "):
        checks.check_tape_adjoints(ps2["trace"], backward, ops2(ps2), seed=4)


def test_ps2_grad_that_traces_once_per_argument_fails(ps2: dict[str, Any]) -> None:
    def grad(f):  # type: ignore[no-untyped-def]
        return lambda *args: tuple(ps2["grad"](f)(*args)[k] for k in range(len(args)))
    with pytest.raises(AssertionError, match="the number of times grad evaluated f"):
        checks.check_gradient_network(grad, ops2(ps2), seed=6)


def test_ps2_unbroadcast_that_scales_g_in_place_fails(ps2: dict[str, Any]) -> None:
    def doubled_when_nothing_to_sum(g, shape):  # type: ignore[no-untyped-def]
        if np.shape(g) == tuple(shape):
            g *= 2.0  # wrong, in the memory of the g it was given
            return g
        return ps2["unbroadcast"](g, shape)
    with pytest.raises(AssertionError, match=r"unbroadcast\(g, \(2, 3\)\)"):
        checks.check_unbroadcast(doubled_when_nothing_to_sum, seed=1)


def test_ps3_solution_passes(ps3: dict[str, Any]) -> None:
    checks.check_assemble(ps3["assemble"], seed=7)
    checks.check_back_substitute(ps3["back_substitute"], seed=7)
    checks.check_lagrange_gradient(ps3["lagrange_gradient"], seed=7)
    checks.check_fixed_point(ps3["fixed_point"], seed=7)
    checks.check_implicit_jacobian(ps3["implicit_jacobian"], seed=7)


def test_ps3_pair_may_be_a_list(ps3: dict[str, Any]) -> None:
    checks.check_assemble(lambda nodes: list(ps3["assemble"](nodes)), seed=0)


def test_ps3_jacobians_may_be_called_with_the_statements_names(ps3: dict[str, Any]) -> None:
    def by_keyword(F_z: Any, F_x: Any, z: Any, x: Any) -> Any:
        return ps3["implicit_jacobian"](lambda z, x: F_z(z=z, x=x),
                                        lambda z, x: F_x(z=z, x=x), z, x)
    checks.check_implicit_jacobian(by_keyword, seed=0)


def test_ps3_transposed_system_fails(ps3: dict[str, Any]) -> None:
    def transposed(nodes: list) -> tuple:
        A, b = ps3["assemble"](nodes)
        return A.T, b
    with pytest.raises(AssertionError, match=r"A for .* at entry \(\d+, \d+\)"):
        checks.check_assemble(transposed, seed=0)


def test_ps3_assemble_with_a_wrong_b_fails(ps3: dict[str, Any]) -> None:
    def wrong_sign(nodes: list) -> tuple:
        A, b = ps3["assemble"](nodes)
        return A, -np.asarray(b)
    with pytest.raises(AssertionError, match=r"^b for "):
        checks.check_assemble(wrong_sign, seed=0)


def test_ps3_lagrange_gradient_may_not_call_a_library_solver(ps3: dict[str, Any]) -> None:
    def with_solve(f, *args):  # type: ignore[no-untyped-def]
        A, b = ps3["assemble"](ps3["wengert_list"](f, *args))
        return np.linalg.solve(A, b)[: len(args)]
    with pytest.raises(AssertionError, match=r"numpy\.linalg"):
        checks.check_lagrange_gradient(with_solve, seed=0)


def test_ps3_library_solver_is_refused() -> None:
    with pytest.raises(AssertionError, match="back-substitution yourself.*numpy.linalg"):
        checks.check_back_substitute(lambda A, b: np.linalg.solve(A, b), seed=0)
    # inv shares its dispatcher with det: the message names the function called
    with pytest.raises(AssertionError, match=r"called numpy\.linalg\.inv\. "):
        checks.check_back_substitute(lambda A, b: np.linalg.inv(A) @ b, seed=0)


@pytest.mark.parametrize("answer, called", [
    ("import scipy.linalg\n"
     "def back_substitute(A, b):\n    return scipy.linalg.lapack.dtrtrs(A, b)[0]",
     "scipy.linalg.dtrtrs"),
    ("from scipy.linalg.blas import dtrsv\n"
     "def back_substitute(A, b):\n    return dtrsv(A, b)",
     "scipy.linalg.dtrsv"),
    ("import numpy as np\n"
     "def back_substitute(A, b):\n    return np.linalg._umath_linalg.solve(A, b[:, None])[:, 0]",
     "numpy.linalg.solve"),
])
def test_ps3_compiled_lapack_and_blas_entry_points_are_refused_too(answer: str,
                                                                    called: str) -> None:
    # A profile hook sees no call of a LAPACK wrapper or a gufunc; these are put
    # out of reach in the packages' modules and in the answer's own globals.
    import scipy.linalg.lapack
    ns: dict[str, Any] = {"__name__": "answer"}
    exec(answer, ns)
    before, dtrtrs = dict(ns), scipy.linalg.lapack.dtrtrs
    with pytest.raises(AssertionError, match=f"called {re.escape(called)}"):
        checks.check_back_substitute(ns["back_substitute"], seed=0)
    assert ns == before and scipy.linalg.lapack.dtrtrs is dtrtrs  # all put back


def test_ps3_numpy_functions_imported_by_name_are_not_solvers() -> None:
    # SciPy's compiled linalg modules hold NumPy's zeros and asarray too: only
    # their own functions are banned
    ns: dict[str, Any] = {"__name__": "answer"}
    exec("from numpy import asarray, dot, zeros\n"
         "def back_substitute(A, b):\n"
         "    A, b = asarray(A), asarray(b)\n"
         "    x = zeros(len(b))\n"
         "    for i in range(len(b) - 1, -1, -1):\n"
         "        x[i] = (b[i] - dot(A[i, i + 1:], x[i + 1:])) / A[i, i]\n"
         "    return x\n", ns)
    checks.check_back_substitute(ns["back_substitute"], seed=0)


def test_ps3_sparse_solver_and_a_back_substitution_that_multiplies_fail() -> None:
    import scipy.sparse
    import scipy.sparse.linalg

    def sparse(A: Any, b: Any) -> Any:
        return scipy.sparse.linalg.spsolve_triangular(scipy.sparse.csr_matrix(A), b,
                                                      lower=False)
    with pytest.raises(AssertionError, match="scipy.sparse.linalg.spsolve_triangular"):
        checks.check_back_substitute(sparse, seed=0)

    def multiplies(A: Any, b: Any) -> Any:  # right only where A[i, i] = ±1
        x = np.zeros(len(b))
        for i in range(len(b) - 1, -1, -1):
            x[i] = (b[i] - A[i, i + 1:] @ x[i + 1:]) * A[i, i]
        return x
    with pytest.raises(AssertionError, match="random 1x1 upper-triangular"):
        checks.check_back_substitute(multiplies, seed=0)


def test_ps3_unconverged_fixed_point_and_wrong_ift(ps3: dict[str, Any]) -> None:
    with pytest.raises(AssertionError, match="fixed point z"):
        checks.check_fixed_point(lambda F, x, z0: F(F(z0, x), x), seed=0)

    def two_hundred_steps(F: Any, x: Any, z0: Any) -> Any:  # enough for a fast contraction
        for _ in range(200):
            z0 = F(z0, x)
        return z0
    with pytest.raises(AssertionError, match=r"z\* of F\(z, x\) = 0.99 z \+ x"):
        checks.check_fixed_point(two_hundred_steps, seed=0)

    def from_zero(F: Any, x: Any, z0: Any) -> Any:  # ignores z0
        return ps3["fixed_point"](F, x, np.zeros_like(z0))
    with pytest.raises(AssertionError, match=r"z\* of F\(z, x\) = 2 tanh\(z\) \+ x"):
        checks.check_fixed_point(from_zero, seed=0)

    def five_thousand_steps(F: Any, x: Any, z0: Any) -> Any:  # no stopping test
        for _ in range(5000):
            z0 = F(z0, x)
        return z0
    with pytest.raises(AssertionError, match=r"z \+ 1, which has no fixed point, returned"):
        checks.check_fixed_point(five_thousand_steps, seed=0)

    def forever(F: Any, x: Any, z0: Any) -> Any:  # no limit on the iterations
        while True:
            z = F(z0, x)
            if np.max(np.abs(z - z0)) <= 1e-12 * max(1.0, np.max(np.abs(z0))):
                return z
            z0 = z
    with pytest.raises(AssertionError, match="still calling F after 40 000 calls"):
        checks.check_fixed_point(forever, seed=0)

    def with_iterations(F: Any, x: Any, z0: Any) -> Any:  # as lesson 8's CG did
        return ps3["fixed_point"](F, x, z0), 17
    with pytest.raises(AssertionError, match=r"returned a tuple of 2; return z\* alone"):
        checks.check_fixed_point(with_iterations, seed=0)

    def sentinel(value: Any) -> Any:  # gives up by returning something, not by raising
        def fixed_point(F: Any, x: Any, z0: Any) -> Any:
            z = ps3["fixed_point"](F, x, z0) if F(z0, x)[0] != z0[0] + 1.0 else None
            return value if z is None else z
        return fixed_point
    for value, shown in ((None, "returned None"), ("did not converge", "returned a str"),
                         ((np.zeros(4), False), "returned a tuple")):
        with pytest.raises(AssertionError, match=rf"z \+ 1, which has no fixed point, "
                                                 rf"{shown}: it must give up with an error"):
            checks.check_fixed_point(sentinel(value), seed=0)
    with pytest.raises(AssertionError, match=r"dz\*/dx"):
        checks.check_implicit_jacobian(lambda F_z, F_x, z, x: F_x(z, x), seed=0)
    with pytest.raises(AssertionError, match="implicit_jacobian.*raised ValueError"):
        checks.check_implicit_jacobian(lambda F_z, F_x, z, x: np.linalg.solve(
            np.eye(len(x)) - F_z(z, x), F_x(z, x)), seed=0)  # the identity of x's size


def test_ps3_fixed_point_that_calls_f_twice_per_iteration_passes() -> None:
    # F for the stopping test, then again for the step: 20 001 calls in the
    # 10 000 iterations before it gives up on z + 1
    def twice(F: Any, x: Any, z0: Any) -> Any:
        z, iterations = z0, 0
        while np.max(np.abs(F(z, x) - z)) > 1e-12 * max(1.0, np.max(np.abs(z))):
            if iterations >= 10_000:
                raise RuntimeError("no fixed point after 10 000 iterations")
            z, iterations = F(z, x), iterations + 1
        return z
    checks.check_fixed_point(twice, seed=0)


def test_ps4_solution_passes(ps4: dict[str, Any]) -> None:
    checks.check_product_gradient(ps4["product_grad_dp"], "dp", seed=7)
    checks.check_product_gradient(ps4["product_grad_division"], "division", seed=7)
    checks.check_conjugate_gradient(ps4["conjugate_gradient"], seed=7)
    checks.check_ridge_hypergradient(ps4["ridge_hypergradient"], seed=7)
    checks.check_cost_ratio(ps4["cost_ratio"], seed=7)


def test_ps4_naive_division_fails_on_zeros() -> None:
    with pytest.raises(AssertionError, match="1 zero entry"):
        checks.check_product_gradient(lambda x: np.prod(x) / x, "division", seed=0)


def test_ps4_division_does_not_pass_as_dynamic_programming(ps4: dict[str, Any]) -> None:
    # Exact at zeros, so only the overflowing product tells it from prefix/suffix.
    with pytest.raises(AssertionError, match="the whole product overflows"):
        checks.check_product_gradient(ps4["product_grad_division"], "dp", seed=0)


def test_ps4_conjugate_gradient_that_builds_h_fails() -> None:
    def build_then_solve(matvec: Any, b: Any, tol: float = 1e-10) -> Any:
        H = np.column_stack([matvec(e) for e in np.eye(len(b))])  # n products
        A = np.column_stack([H, b])
        for i in range(len(b)):  # Gauss-Jordan, by hand
            A[i] /= A[i, i]
            for j in range(len(b)):
                if j != i:
                    A[j] -= A[j, i] * A[i]
        return A[:, -1]
    with pytest.raises(AssertionError, match=r"used 60 products H·v on the 60x60 system "
                       r"I \+ U Uᵀ .*4 suffice"):
        checks.check_conjugate_gradient(build_then_solve, seed=3)


def test_ps4_conjugate_gradient_returning_its_count_is_told_to_return_v(
        ps4: dict[str, Any]) -> None:
    with pytest.raises(AssertionError, match="returned a pair; return v alone"):
        checks.check_conjugate_gradient(
            lambda mv, b: (ps4["conjugate_gradient"](mv, b), 3), seed=3)


def test_ps4_cost_ratio_counts_a_repeated_parent_twice() -> None:
    def distinct(nodes: list) -> float:
        ops = sum(1 for node in nodes if node["op"] != "input")
        return (ops + sum(len(set(node["parents"])) for node in nodes)) / ops
    with pytest.raises(AssertionError, match="Vieira's f"):
        checks.check_cost_ratio(distinct, seed=5)


def test_ps4_solver_and_reference_are_refused(ps4: dict[str, Any]) -> None:
    with pytest.raises(AssertionError, match="numpy.linalg"):
        checks.check_conjugate_gradient(lambda mv, b: np.linalg.solve(
            np.column_stack([mv(e) for e in np.eye(len(b))]), b), seed=0)

    def with_norm(matvec: Any, b: Any, tol: float = 1e-10) -> Any:  # the statement forbids it
        np.linalg.norm(b)
        return ps4["conjugate_gradient"](matvec, b, tol)
    with pytest.raises(AssertionError, match=r"called numpy\.linalg\.norm\. "):  # public name
        checks.check_conjugate_gradient(with_norm, seed=0)
    from autodiff_lite import hyper

    def cheat(X: Any, y: Any, Xv: Any, yv: Any, lam: float) -> float:
        return hyper.hypergradient(hyper.RidgeProblem(X, y, Xv, yv), lam).gradient
    with pytest.raises(AssertionError, match="yourself.*autodiff_lite"):
        checks.check_ridge_hypergradient(cheat, seed=0)


_OTHER_METHODS = '''
def finite_differences(X, y, Xv, yv, lam):  # two solves for w*, none for v
    def V(l):
        w = conjugate_gradient(lambda v: X.T @ (X @ v) + l * v, X.T @ y, tol=1e-14)
        return (Xv @ w - yv) @ (Xv @ w - yv) / len(yv)
    h = 1e-4 * max(1.0, lam)
    return (V(lam + h) - V(lam - h)) / (2 * h)

def unrolled(X, y, Xv, yv, lam):  # gradient descent carrying dw/dλ: no solve at all
    w, dw = np.zeros(X.shape[1]), np.zeros(X.shape[1])
    step = 1.0 / (2 * np.sum(X * X) + 2 * lam)
    for _ in range(20000):
        w, dw = (w - step * (2 * X.T @ (X @ w - y) + 2 * lam * w),
                 dw - step * (2 * X.T @ (X @ dw) + 2 * lam * dw + 2 * w))
    return float(2 * (Xv @ w - yv) @ (Xv @ dw) / len(yv))
'''


def test_ps4_hypergradient_by_other_methods_fails(ps4: dict[str, Any]) -> None:
    ns = {"np": np, "conjugate_gradient": ps4["conjugate_gradient"]}
    exec(_OTHER_METHODS, ns)
    for name in ("finite_differences", "unrolled"):
        with pytest.raises(AssertionError, match=r"the value is right, but it (made \d call\(s\) "
                                                 r"to the conjugate_gradient it uses, none|never "
                                                 r"calls conjugate_gradient) .* for v"):
            checks.check_ridge_hypergradient(ns[name], seed=4)


_THROUGH_AN_ALIAS = '''
import functools
cg = functools.partial(conjugate_gradient, tol=1e-12)
solve = conjugate_gradient

def by_partial(X, y, Xv, yv, lam):
    hvp = lambda v: 2.0 * X.T @ (X @ v) + 2.0 * lam * v
    w = cg(hvp, 2.0 * X.T @ y)
    return -float(cg(hvp, 2.0 * Xv.T @ (Xv @ w - yv) / len(yv)) @ (2.0 * w))

def logged(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)
    return wrapper

decorated = logged(conjugate_gradient)
tighter = functools.partial(decorated, tol=1e-12)

def by_decorated(X, y, Xv, yv, lam):
    hvp = lambda v: 2.0 * X.T @ (X @ v) + 2.0 * lam * v
    w = tighter(hvp, 2.0 * X.T @ y)
    return -float(decorated(hvp, 2.0 * Xv.T @ (Xv @ w - yv) / len(yv)) @ (2.0 * w))

def by_alias(X, y, Xv, yv, lam):
    hvp = lambda v: 2.0 * X.T @ (X @ v) + 2.0 * lam * v
    w = solve(hvp, 2.0 * X.T @ y)
    return -float(solve(hvp, b=2.0 * Xv.T @ (Xv @ w - yv) / len(yv)) @ (2.0 * w))
'''


def test_ps4_hypergradient_that_forms_h_fails(ps4: dict[str, Any]) -> None:
    # the right method and value, but H formed (a d x d matrix) before CG
    ns = {"np": np, "conjugate_gradient": ps4["conjugate_gradient"]}
    exec('''
def formed(X, y, Xv, yv, lam):
    H = 2.0 * X.T @ X + 2.0 * lam * np.eye(X.shape[1])
    w = conjugate_gradient(lambda v: H @ v, 2.0 * X.T @ y)
    return -float(conjugate_gradient(lambda v: H @ v, 2.0 * Xv.T @ (Xv @ w - yv) / len(yv))
                  @ (2.0 * w))
''', ns)
    with pytest.raises(AssertionError, match=r"2000 features.*as much as H itself \(2000 x 2000"):
        checks.check_ridge_hypergradient(ns["formed"], seed=4)
    # H applied matrix-free, but X_valᵀX_val formed in ∇_w V: the message names it
    exec('''
def left_to_right(X, y, Xv, yv, lam):
    hvp = lambda v: 2.0 * X.T @ (X @ v) + 2.0 * lam * v
    w = conjugate_gradient(hvp, 2.0 * X.T @ y)
    grad_v = 2.0 / len(yv) * Xv.T @ Xv @ w - 2.0 / len(yv) * Xv.T @ yv
    return -float(conjugate_gradient(hvp, grad_v) @ (2.0 * w))
''', ns)
    with pytest.raises(AssertionError, match=r"X_valᵀX_val in ∇_w V.*Xᵀ\(X w\)"):
        checks.check_ridge_hypergradient(ns["left_to_right"], seed=4)


def test_ps4_hypergradient_through_an_alias_of_cg_passes(ps4: dict[str, Any]) -> None:
    # the second solve is seen however conjugate_gradient is reached
    ns = {"np": np, "conjugate_gradient": ps4["conjugate_gradient"]}
    exec(_THROUGH_AN_ALIAS, ns)
    for name in ("by_partial", "by_alias", "by_decorated"):
        if name == "by_decorated":  # the notebook's own name bound to the decorated one
            ns["conjugate_gradient"] = ns["decorated"]
        checks.check_ridge_hypergradient(ns[name], seed=4)


def test_ps4_wrong_cost_count(ps4: dict[str, Any]) -> None:
    with pytest.raises(AssertionError, match="cost ratio for Liu's f"):
        checks.check_cost_ratio(lambda nodes: 2.0, seed=0)


def test_selfcheck_prints_a_verdict(ps4: dict[str, Any], capsys: pytest.CaptureFixture) -> None:
    assert selfcheck(checks.check_cost_ratio, ps4["cost_ratio"]) is True
    assert capsys.readouterr().out.startswith("✓ check_cost_ratio:")
    assert selfcheck(checks.check_cost_ratio, lambda nodes: 2.0) is False
    assert "✗ check_cost_ratio: not yet." in capsys.readouterr().out


# Mistakes that only one part of a check catches (found by mutation testing: with
# that part weakened or removed, each of them passed).

ELEMENTWISE = ("add", "subtract", "multiply", "true_divide", "exp", "sin", "tanh")


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "true_divide"])
@pytest.mark.parametrize("seed", PS2_ELEMENTWISE_SEEDS)  # ps2's visible and hidden tests' seeds
def test_ps2_rule_that_unbroadcasts_only_its_second_argument_fails(
        ps2: dict[str, Any], name: str, seed: int) -> None:
    # only the argument on the right is unbroadcast: x broadcast against y (x of
    # shape (4,) or (3, 1) with y of shape (3, 4) or (1, 4)) gets a cotangent too big
    rules = ps2["vjp_rules"]
    full = {"add": lambda g, y: g, "subtract": lambda g, y: g, "multiply": lambda g, y: g * y,
            "true_divide": lambda g, y: g / y}[name]

    def only_y(g: Any, z: Any, x: Any, y: Any) -> tuple:
        return full(g, y), rules[name](g, z, x, y)[1]
    with pytest.raises(AssertionError, match=rf"argument 0 of the {name} rule.*unbroadcast it"):
        checks.check_vjp_rules(dict(rules, **{name: only_y}), ELEMENTWISE, seed=seed)


def test_ps2_sweep_with_an_adjoint_too_many_fails(ps2: dict[str, Any]) -> None:
    def backward(tape: Any, output: Any) -> list:  # the output's seed appended as a node
        return [*ps2["backward"](tape, output), 1.0]
    with pytest.raises(AssertionError, match=r"the number of adjoints backward returned .*"
                                             r"expected \d+, got \d+"):
        checks.check_tape_adjoints(ps2["trace"], backward, ops2(ps2), seed=0)


def test_ps2_sweep_returning_a_dict_of_adjoints_fails(ps2: dict[str, Any]) -> None:
    def backward(tape: Any, output: Any) -> dict:  # {node index: adjoint}, not the list asked
        return dict(enumerate(ps2["backward"](tape, output)))
    with pytest.raises(AssertionError, match=r"expected a list with one adjoint per node, "
                                             r"got dict"):
        checks.check_tape_adjoints(ps2["trace"], backward, ops2(ps2), seed=0)


def test_ps2_grad_with_a_sign_slip_that_only_the_targets_see_fails() -> None:
    # subtract's rule gives y the cotangent +g: in the network's loss only Y is
    # subtracted, so every parameter's gradient is right and Y's is not
    ns = solutions("ps2_reverse_mode")  # a fresh copy: its rules are changed below
    ns["vjp_rules"]["subtract"] = lambda g, z, x, y: (ns["unbroadcast"](g, np.shape(x)),
                                                      ns["unbroadcast"](g, np.shape(y)))
    with pytest.raises(AssertionError, match=r"the gradient with respect to Y of"):
        checks.check_gradient_network(ns["grad"], ops2(ns), seed=0)


def test_ps2_hvp_from_three_gradients_fails(ps2: dict[str, Any]) -> None:
    grad = ps2["grad"]

    def one_sided(f, x, v):  # type: ignore[no-untyped-def]
        # a second-order one-sided difference: right, but three gradients where
        # the central difference needs two
        eps = 1e-4 / max(1.0, float(np.linalg.norm(v)))
        g0, g1, g2 = grad(f)(x), grad(f)(x + eps * v), grad(f)(x + 2 * eps * v)
        return (-3 * g0 + 4 * g1 - g2) / (2 * eps)
    with pytest.raises(AssertionError, match=r"evaluated f 3 times.*two gradients suffice"):
        checks.check_hvp(one_sided, ops2(ps2), seed=8)


def test_ps2_hvp_with_a_tiny_absolute_step_fails_on_a_short_v(ps2: dict[str, Any]) -> None:
    # fine for v of length 1 and 10⁴; for v of length 10⁻⁴, x moves by 10⁻¹³
    with pytest.raises(AssertionError, match=r"length 0.0001.*the step should scale with v"):
        checks.check_hvp(hvp_with_absolute_step(ps2["grad"], 1e-9), ops2(ps2), seed=8)


def test_ps3_assemble_that_overwrites_a_repeated_parent_fails(ps3: dict[str, Any]) -> None:
    def overwrites(nodes: list) -> tuple:
        n = len(nodes)
        A = -np.eye(n)
        for k, node in enumerate(nodes):
            for i, partial in zip(node["parents"], node["partials"]):
                A[i, k] = partial  # `=` for `+=`: b = a * a gets ∂b/∂a = a, not 2a
        b = np.zeros(n)
        b[-1] = -1.0
        return A, b
    with pytest.raises(AssertionError, match=r"A for Vieira's f"):
        checks.check_assemble(overwrites, seed=0)


def test_ps4_conjugate_gradient_without_a_stopping_test_fails(ps4: dict[str, Any]) -> None:
    def every_direction(matvec: Any, b: Any) -> Any:
        b = np.asarray(b, dtype=float)
        v, r = np.zeros_like(b), b.copy()
        p, rr = r.copy(), r @ r
        for _ in range(len(b)):  # as many steps as unknowns, however small r already is
            if rr == 0.0:
                break
            Hp = matvec(p)
            step = rr / (p @ Hp)
            v, r = v + step * p, r - step * Hp
            p, rr = r + (r @ r / rr) * p, r @ r
        return v
    with pytest.raises(AssertionError, match=r"used \d+ products H·v on the 60x60 .*4 suffice"):
        checks.check_conjugate_gradient(every_direction, seed=3)


def test_ps4_conjugate_gradient_with_scipys_tolerance_fails(ps4: dict[str, Any]) -> None:
    # stops at a relative residual of 1e-5 (SciPy's default): some digits short
    with pytest.raises(AssertionError, match=r"the solution of"):
        checks.check_conjugate_gradient(
            lambda mv, b: ps4["conjugate_gradient"](mv, b, tol=1e-5), seed=3)


def test_ps4_hypergradient_that_solves_for_w_with_numpy_fails(ps4: dict[str, Any]) -> None:
    # CG for v, as asked, but np.linalg.solve for w*
    ns = {"np": np, "conjugate_gradient": ps4["conjugate_gradient"]}
    exec('''
def solved_w(X, y, Xv, yv, lam):
    w = np.linalg.solve(2.0 * X.T @ X + 2.0 * lam * np.eye(X.shape[1]), 2.0 * X.T @ y)
    hvp = lambda v: 2.0 * X.T @ (X @ v) + 2.0 * lam * v
    return -float(conjugate_gradient(hvp, 2.0 * Xv.T @ (Xv @ w - yv) / len(yv)) @ (2.0 * w))
''', ns)
    with pytest.raises(AssertionError, match=r"numpy\.linalg"):
        checks.check_ridge_hypergradient(ns["solved_w"], seed=4)


@pytest.mark.parametrize("forgotten", [0, 1])
def test_ps2_a_rule_that_unbroadcasts_one_argument_fails_on_every_seed(
        ps2: dict[str, Any], forgotten: int) -> None:
    # Each binary rule gets one call where its first argument is broadcast and one
    # where its second is: drawn from all pairs, forgetting to unbroadcast x
    # passed at seeds 6, 7 and 11 (neither array call broadcast x there).
    rules, ub = ps2["vjp_rules"], ps2["unbroadcast"]

    def one_side(g: Any, z: Any, x: Any, y: Any) -> tuple:  # add's rule, half unbroadcast
        return (g, ub(g, np.shape(y))) if forgotten == 0 else (ub(g, np.shape(x)), g)
    for seed in range(12):
        with pytest.raises(AssertionError, match=rf"argument {forgotten} of the add rule.*"
                                                 r"unbroadcast it"):
            checks.check_vjp_rules(dict(rules, add=one_side), ("add",), seed=seed)


def test_ps3_fixed_point_with_a_loose_stopping_test_fails(ps3: dict[str, Any]) -> None:
    # stops when a step moves z by 1e-8 (relative): where F = 0.99 z + x contracts
    # slowly, z is then still 100 times that from z*, an error of 1e-6
    with pytest.raises(AssertionError, match=r"the fixed point z\* of F\(z, x\) = 0.99 z \+ x"):
        checks.check_fixed_point(lambda F, x, z0: ps3["fixed_point"](F, x, z0, tol=1e-8),
                                 seed=0)


def test_ps3_implicit_jacobian_from_a_truncated_series_fails() -> None:
    def neumann(F_z: Any, F_x: Any, z: Any, x: Any) -> Any:
        # (I - F_z)⁻¹ ≈ I + F_z + ... + F_z¹⁹: where |F_z| is 0.6 (seed 1), an error
        # of about 2e-5 relative
        Jz, Jx = np.asarray(F_z(z, x)), np.asarray(F_x(z, x))
        term, total = Jx, Jx.copy()
        for _ in range(19):
            term = Jz @ term
            total = total + term
        return total
    with pytest.raises(AssertionError, match=r"dz\*/dx"):
        checks.check_implicit_jacobian(neumann, seed=1)
    # where tanh saturates (|∂F/∂z| of 0.01 to 0.04 at these seeds) the series is
    # exact to rounding; the linear case's 0.95 still refuses it
    for seed in (0, 3, 1000):
        with pytest.raises(AssertionError, match=r"dz\*/dx for F\(z, x\) = A z \+ B x"):
            checks.check_implicit_jacobian(neumann, seed=seed)


def test_ps4_product_through_logarithms_loses_the_sign() -> None:
    def by_logs(x: Any) -> Any:
        # prod(x) as exp(Σ log|x_i|) (no overflow, zeros set aside): its sign is lost
        x = np.asarray(x, dtype=float)
        zeros = np.flatnonzero(x == 0.0)
        if len(zeros) == 0:
            return np.exp(np.sum(np.log(np.abs(x)))) / x
        g = np.zeros_like(x)
        if len(zeros) == 1:
            g[zeros[0]] = np.exp(np.sum(np.log(np.abs(np.delete(x, zeros[0])))))
        return g
    with pytest.raises(AssertionError, match=r"∇ prod\(x\) by division"):
        checks.check_product_gradient(by_logs, "division", seed=0, seconds=60.0)


def test_ps4_hypergradient_with_cg_at_scipys_tolerance_fails(ps4: dict[str, Any]) -> None:
    # the right method, but both solves stop at a relative residual of 1e-5
    def loose_cg(matvec: Any, b: Any) -> Any:
        return ps4["conjugate_gradient"](matvec, b, tol=1e-5)
    ns = {"np": np, "conjugate_gradient": loose_cg}
    exec('''
def loose(X, y, Xv, yv, lam):
    hvp = lambda v: 2.0 * X.T @ (X @ v) + 2.0 * lam * v
    w = conjugate_gradient(hvp, 2.0 * X.T @ y)
    return -float(conjugate_gradient(hvp, 2.0 * Xv.T @ (Xv @ w - yv) / len(yv)) @ (2.0 * w))
''', ns)
    with pytest.raises(AssertionError, match=r"dV/dλ for a ridge problem"):
        checks.check_ridge_hypergradient(ns["loose"], seed=4)
