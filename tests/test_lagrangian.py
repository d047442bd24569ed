"""Backprop as a linear solve: the system A λ = b of a tape, its solvers, its residuals.

Expected values come from closed forms, from finite differences of the primitives'
value functions (never their rules) and from the tape's dependency lists.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from autodiff_lite import lagrangian as L
from autodiff_lite.reverse import Tape
from grading import problems

pytestmark = pytest.mark.lagrangian


def _sig(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t))


# --------------------------------------------------- seed 001's small network

def network001(x, y, w1, w2):
    """Seed 001's network with scalar stand-ins, one primitive per constraint.

    z5 = z1 z3, z6 = σ(z5), z7 = z6 z4 as in the post; softmax of one logit is the
    constant 1, so z8 = σ(z7) stands in for it (the first probability of a
    two-class softmax of (z7, 0)), and the loss is the single primitive z9 = z8 z2,
    which uses the same two variables as loss(z8, z2).
    """
    z5 = x * w1
    z6 = anp.sigmoid(z5)
    z7 = z6 * w2
    z8 = anp.sigmoid(z7)
    return z8 * y


ARGS001 = (0.7, -1.3, 0.4, 2.1)  # x, y, w1, w2 = z1, z2, z3, z4


def test_seed001_matrix_is_the_posts_9x9_system() -> None:
    x, y, w1, w2 = ARGS001
    z5 = x * w1
    z6 = _sig(z5)
    z7 = z6 * w2
    z8 = _sig(z7)
    expected = -np.eye(9)
    # (row i = variable z_{i+1}, column k = constraint f_{k+1}), as in the post
    expected[0, 4] = w1              # ∂f5/∂z1
    expected[2, 4] = x               # ∂f5/∂z3
    expected[4, 5] = z6 * (1 - z6)   # ∂f6/∂z5 (the post's back-substitution says ∂z6)
    expected[5, 6] = w2              # ∂f7/∂z6
    expected[3, 6] = z6              # ∂f7/∂z4
    expected[6, 7] = z8 * (1 - z8)   # ∂f8/∂z7
    expected[7, 8] = y               # ∂f9/∂z8
    expected[1, 8] = z8              # ∂f9/∂z2
    A, b = L.system(ad.trace(network001, *ARGS001))
    assert isinstance(A, np.ndarray)
    np.testing.assert_allclose(A, expected, rtol=1e-14, atol=0)
    np.testing.assert_array_equal(b, -np.eye(9)[8])


def test_seed001_multipliers_are_the_chain_rule_products() -> None:
    x, y, w1, w2 = ARGS001
    z6 = _sig(x * w1)
    z8 = _sig(z6 * w2)
    lam9 = 1.0
    lam8 = lam9 * y
    lam7 = lam8 * z8 * (1 - z8)
    lam6 = lam7 * w2
    lam5 = lam6 * z6 * (1 - z6)
    expected = [lam5 * w1, lam9 * z8, lam5 * x, lam7 * z6, lam5, lam6, lam7, lam8, lam9]
    result = L.adjoints(network001, *ARGS001)
    np.testing.assert_allclose(result.flat, expected, rtol=1e-13)
    assert result.gradients[2] == pytest.approx(lam5 * x)   # λ3: gradient of w1
    assert result.gradients[3] == pytest.approx(lam7 * z6)  # λ4: gradient of w2
    assert all(type(g) is float for g in result.gradients)


# ------------------------------------------------------- programs to check on

def chain(x):
    z = x
    for _ in range(6):
        z = anp.sin(z) * 1.5 + z
    return z


def shared(x, y):
    a = x * x          # a repeated argument: both partials land in one entry
    b = a * y
    return anp.log(a + b) - anp.tanh(b) / y


def network001_arrays(x, w1, w2, y):
    """Seed 001's network with arrays: a hidden layer, a softmax, a cross-entropy."""
    h = anp.sigmoid(anp.matmul(x, w1))
    p = anp.softmax(anp.matmul(h, w2))
    return -anp.sum(y * anp.log(p))


def broadcasting(x, s):
    u = anp.exp(x * s)                      # s is broadcast against x
    v = anp.concatenate([u[:2], x[1:] ** 2])
    return anp.sum(v.reshape(2, 2).T @ np.array([1.0, -2.0])) + anp.prod(x)


def dense_block(x):
    """DenseNet-like: every layer reads every earlier layer."""
    layers = [x]
    for _ in range(4):
        layers.append(anp.tanh(anp.sum(anp.stack(layers)) * 0.3))
    return layers[-1]


def zoo(x, m):
    """Most of the rule table at once: masks, kinks, reductions, indexing, layout."""
    a = anp.where(x > 0.0, anp.sqrt(anp.abs(x)), anp.log1p(x * x))
    b = anp.maximum(a, 0.5) + anp.minimum(x, -0.1) + anp.tan(x * 0.3) ** 3.0
    c = anp.logsumexp(anp.transpose(m) * 2.0, axis=0) - anp.prod(m, axis=1)
    d = b[np.array([0, 2, 2])] * c[1] + anp.stack([c[0], c[2], anp.sum(x)])
    return anp.sum(anp.exp(-d * d) / (1.0 + m[1, 1] ** 2))


RNG = np.random.default_rng(1)
PROGRAMS = {
    "seed001": (network001, ARGS001),
    "chain": (chain, (0.3,)),
    "shared": (shared, (1.2, 0.8)),
    "seed001_arrays": (network001_arrays,
                       (RNG.standard_normal(3), RNG.standard_normal((3, 4)),
                        RNG.standard_normal((4, 2)), np.array([0.0, 1.0]))),
    "broadcasting": (broadcasting, (np.array([0.5, -0.4, 0.9]), 0.7)),
    "dense_block": (dense_block, (0.4,)),
    "zoo": (zoo, (np.array([0.8, -0.6, 0.35]), RNG.standard_normal((3, 3)))),
}


def _fd_block(prim, args, params, pos, h=1e-6) -> np.ndarray:
    """(∂ value / ∂ args[pos])ᵀ by central differences of the primitive's impl."""
    a = np.asarray(args[pos], dtype=float)
    out_size = np.size(prim.impl(*args, **params))
    block = np.zeros((a.size, out_size))
    for e in range(a.size):
        cols = []
        for sign in (1.0, -1.0):
            ae = a.copy().reshape(-1)
            ae[e] += sign * h
            ae = ae.reshape(a.shape) if a.shape else float(ae[0])
            new = args[:pos] + (ae,) + args[pos + 1:]
            cols.append(np.ravel(prim.impl(*new, **params)))
        block[e] = (cols[0] - cols[1]) / (2 * h)
    return block


def dense_system(name: str) -> tuple[Tape, np.ndarray, np.ndarray]:
    """The tape of program `name`, its system matrix (dense) and its block offsets."""
    f, args = PROGRAMS[name]
    tape = ad.trace(f, *args)
    return tape, L.system(tape, sparse=False)[0], L.offsets(tape)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_nonzero_pattern_is_the_dependency_structure(name: str) -> None:
    tape, A, off = dense_system(name)
    for k, node in enumerate(tape.nodes):
        for j in range(len(tape.nodes)):
            block = A[off[j]:off[j + 1], off[k]:off[k + 1]]
            if j == k:
                np.testing.assert_array_equal(block, -np.eye(off[k + 1] - off[k]))
            elif j in node.parents:
                assert np.any(block != 0), f"{name}: node {k} uses node {j}, no entry"
            else:
                assert not np.any(block), f"{name}: node {k} does not use node {j}"
    assert L.is_upper_triangular(A)
    assert not np.any(np.tril(A, -1))


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_blocks_are_the_finite_difference_partials(name: str) -> None:
    tape, A, off = dense_system(name)
    for k, (prim, targs, parents, _, params) in enumerate(
            zip(tape.ops, tape.args, tape.parents, tape.values, tape.params)):
        if prim is None:
            continue
        expected: dict[int, np.ndarray] = {}
        for pos, j in enumerate(parents):
            if j >= 0:
                expected[j] = expected.get(j, 0) + _fd_block(prim, targs, params, pos)
        for j, block in expected.items():
            got = A[off[j]:off[j + 1], off[k]:off[k + 1]]
            np.testing.assert_allclose(got, block, rtol=1e-6, atol=1e-7,
                                       err_msg=f"{name}: ∂f{k}/∂z{j}")


@pytest.mark.parametrize("method", ["backsub", "dense", "general"])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_every_solver_gives_backprops_gradient(name: str, method: str) -> None:
    f, args = PROGRAMS[name]
    result = L.adjoints(f, *args, method=method)
    expected = ad.grad(f, argnums=tuple(range(len(args))))(*args)
    for got, want in zip(result.gradients, expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
        assert type(got) is type(want)
    # and every node's multiplier is its adjoint from the backward sweep
    for lam, adj in zip(result.multipliers, result.tape.backward()):
        np.testing.assert_allclose(lam, adj, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_residuals_vanish_at_the_solution(name: str) -> None:
    f, args = PROGRAMS[name]
    result = L.adjoints(f, *args)
    assert result.residuals.max() < 1e-12
    assert result.residuals.constraints.shape == result.flat.shape
    # and they do not vanish away from it
    wrong = result.flat.copy()
    wrong[0] += 1e-3
    assert L.residuals(result.tape, wrong).stationarity[0] == pytest.approx(-1e-3)


def test_a_tampered_value_breaks_its_constraint() -> None:
    tape = ad.trace(chain, 0.3)
    tape.values[3] = tape.values[3] + 0.25
    lam = L.solve(*L.system(tape))
    r = L.residuals(tape, lam)
    assert r.constraints[3] == pytest.approx(0.25)
    assert r.max() >= 0.25


# ----------------------------------------------- random programs (hypothesis)

OPS = ["sin", "tanh", "mul", "add", "exp_small", "div"]


@given(st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 100)), min_size=1,
                max_size=25),
       st.floats(-1.5, 1.5), st.floats(0.5, 2.0))
def test_random_programs_backsub_equals_grad(ops, x0: float, x1: float) -> None:
    def program(x, y):
        zs = [x, y]
        for op, pick in ops:
            a, b = zs[-1], zs[pick % len(zs)]
            if op == "sin":
                zs.append(anp.sin(a))
            elif op == "tanh":
                zs.append(anp.tanh(a + b))
            elif op == "mul":
                zs.append(a * b)
            elif op == "add":
                zs.append(a + 0.5 * b)
            elif op == "exp_small":
                zs.append(anp.exp(anp.tanh(a)))
            else:
                zs.append(a / (1.0 + b * b))
        return zs[-1]

    result = L.adjoints(program, x0, x1)
    expected = ad.grad(program, argnums=(0, 1))(x0, x1)
    np.testing.assert_allclose(result.gradients, expected, rtol=1e-10, atol=1e-12)
    assert L.is_upper_triangular(result.A)
    assert result.residuals.max() < 1e-10


# -------------------------------------------------------- the output's place

def test_output_before_the_last_node_and_unused_nodes() -> None:
    def f(x):
        y = anp.sin(x)
        anp.exp(x)  # recorded, never used by the output
        return y * x

    result = L.adjoints(f, 0.9)
    assert result.gradients[0] == pytest.approx(math.cos(0.9) * 0.9 + math.sin(0.9))
    assert result.multipliers[2] == 0.0  # the unused exp has no influence


def test_an_unused_node_with_an_infinite_partial_passes_nothing_on() -> None:
    def f(x):
        1.0 / x  # recorded, never used; its partial at x = 0 is -inf
        return x * 2.0

    with np.errstate(divide="ignore"):
        result = L.adjoints(f, 0.0)
        assert result.gradients == (ad.grad(f)(0.0),) == (2.0,)
    assert not np.any(result.residuals.constraints) and not np.any(result.residuals.stationarity)


def test_output_that_is_an_input_and_a_constant_output() -> None:
    assert L.adjoints(lambda x, y: y, 1.0, 2.0).gradients == (0.0, 1.0)
    const = L.adjoints(lambda x: 3.0, 1.0)
    assert const.gradients == (0.0,)
    assert not np.any(const.b)


def test_array_output_with_a_seed_is_a_vjp() -> None:
    x = np.array([0.3, -0.8, 1.1])
    u = np.array([1.0, -2.0, 0.5])

    def f(v):
        return anp.tanh(v) * v[0]

    result = L.adjoints(f, x, seed=u)
    (expected,) = ad.vjp(f, x)[1](u)
    np.testing.assert_allclose(result.gradients[0], expected, rtol=1e-13)


# ---------------------------------------------------------- sparse and dense

def test_sparse_and_dense_forms_agree_and_the_threshold_chooses() -> None:
    tape = ad.trace(chain, 0.3)
    Ad, bd = L.system(tape)
    As, bs = L.system(tape, sparse=True)
    assert isinstance(Ad, np.ndarray) and sp.issparse(As)
    np.testing.assert_array_equal(As.toarray(), Ad)
    np.testing.assert_array_equal(bs, bd)
    assert As.nnz == np.count_nonzero(Ad)

    def long_chain(x):
        for _ in range(L.DENSE_LIMIT):
            x = anp.sin(x)
        return x

    big = ad.trace(long_chain, 0.5)
    A, b = L.system(big)
    assert sp.issparse(A) and A.shape == (L.DENSE_LIMIT + 1,) * 2
    assert A.nnz == 2 * L.DENSE_LIMIT + 1  # a chain: the diagonal and one partial
    assert isinstance(L.system(big, sparse=False)[0], np.ndarray)
    lam = L.solve(A, b)
    expected = ad.grad(long_chain)(0.5)
    assert lam[0] == pytest.approx(expected, rel=1e-12)


def test_back_substitution_on_a_general_upper_triangle() -> None:
    rng = np.random.default_rng(3)
    A = np.triu(rng.standard_normal((30, 30))) + 5 * np.eye(30)
    b = rng.standard_normal(30)
    expected = np.linalg.solve(A, b)
    np.testing.assert_allclose(L.solve(A, b), expected, rtol=1e-10)
    np.testing.assert_allclose(L.solve(sp.csc_matrix(A), b), expected, rtol=1e-10)
    np.testing.assert_allclose(L.solve(sp.csr_matrix(A), b, "general"), expected,
                               rtol=1e-10)


def test_triangularity_sees_every_entry_below_the_diagonal() -> None:
    for k in (1, 2):  # the first subdiagonal and one further down
        A = -np.eye(4)
        A[k, 0] = 0.5
        for form in (A, sp.csr_matrix(A)):
            assert not L.is_upper_triangular(form)
            with pytest.raises(ValueError, match="not upper triangular"):
                L.solve(form, np.ones(4))
    # an explicitly stored zero below the diagonal is no entry
    stored_zero = sp.csr_matrix((np.array([-1.0, 0.0, -1.0]), (np.array([0, 1, 1]),
                                                               np.array([0, 0, 1]))),
                                shape=(2, 2))
    assert stored_zero.nnz == 3
    assert L.is_upper_triangular(stored_zero)
    np.testing.assert_allclose(L.solve(stored_zero, np.ones(2)), [-1.0, -1.0])


def test_back_substitution_adds_up_duplicate_entries_of_a_sparse_matrix() -> None:
    # A CSR matrix that is not in canonical form may hold one entry in pieces
    # (as scipy's constructors from triplets do before summing): the diagonal too.
    data = np.array([-0.5, -0.5, 2.0, 1.0, -2.0])
    indices = np.array([0, 0, 1, 1, 1])
    indptr = np.array([0, 3, 5])
    A = sp.csr_matrix((data, indices, indptr), shape=(2, 2))
    dense = np.array([[-1.0, 2.0], [0.0, -1.0]])
    np.testing.assert_array_equal(A.toarray(), dense)
    b = np.array([1.0, 3.0])
    np.testing.assert_allclose(L.back_substitution(A, b), np.linalg.solve(dense, b))


def test_general_solve_accepts_an_ill_conditioned_system() -> None:
    # cond(A) ≈ 4e12: far from 1/eps (4.5e15), so a solution worth having
    A = np.array([[1.0, 1.0], [1.0, 1.0 + 1e-12]])
    b = np.array([1.0, 2.0])
    assert 1e12 < np.linalg.cond(A) < 1e13
    np.testing.assert_allclose(L.solve(A, b, "general"), [1.0 - 1e12, 1e12], rtol=1e-3)


def test_sparse_system_stores_no_zero_partials() -> None:
    # ∂(x·y)/∂x = y = 0 here: "only partials that are nonzero are stored"
    tape = ad.trace(lambda x, y: x * y + anp.sin(x), 1.5, 0.0)
    A, _ = L.system(tape, sparse=True)
    assert np.all(A.data != 0.0)
    dense, _ = L.system(tape, sparse=False)
    assert A.nnz == np.count_nonzero(dense)


def test_a_nan_value_recomputed_as_nan_satisfies_its_constraint() -> None:
    # log of a negative entry is nan in the forward pass and again when the
    # constraint is checked: nan == nan is False, but the constraint holds
    def f(x):
        return anp.sum(anp.where(np.array([True, False]), x, anp.log(x - 5.0)))
    with np.errstate(invalid="ignore"):
        tape = ad.trace(f, np.array([1.0, 2.0]))
        constraints = L.constraint_residuals(tape)
    assert np.any(np.isnan(tape.values[2]))
    np.testing.assert_array_equal(constraints, 0.0)


# --------------------------------------------------- cyclic constraints (000)

seed000 = functools.partial(problems.seed000_f, anp)  # b = a·a: a node with a repeated parent


def seed000_constraints(z, x):
    """The same program written as g(z, x) = z - f(z, x) = 0 (z_0 = x: the input)."""
    f = anp.stack([x, anp.exp(z[0]), z[1] * z[1], z[1] + z[2], anp.exp(z[3]),
                   anp.sin(z[3]), z[4] + z[5]])
    return z - f


def test_acyclic_constraints_give_the_tapes_system() -> None:
    x = 0.3
    tape = ad.trace(seed000, x)
    z = np.array(tape.values, dtype=float)
    cyc = L.cyclic_adjoints(seed000_constraints, z, x, output=6)
    A, b = L.system(tape)
    np.testing.assert_allclose(cyc.A, A, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(cyc.b, b)
    np.testing.assert_allclose(cyc.multipliers, L.solve(A, b), rtol=1e-12)
    assert cyc.gradient == pytest.approx(ad.grad(seed000)(x), rel=1e-12)


def _cyclic_problem():
    """z = W z + C x with W full of cycles (not triangular): g(z, x) = z - W z - C x."""
    rng = np.random.default_rng(5)
    W = 0.3 * rng.standard_normal((5, 5))
    C = rng.standard_normal((5, 2))
    x = rng.standard_normal(2)
    z = np.linalg.solve(np.eye(5) - W, C @ x)
    return W, C, x, z


def test_cyclic_linear_system_needs_the_general_solver() -> None:
    W, C, x, z = _cyclic_problem()

    def g(z, x):
        return z - anp.matmul(W, z) - anp.matmul(C, x)

    cyc = L.cyclic_adjoints(g, z, x, output=3)
    assert not L.is_upper_triangular(cyc.A)
    expected = np.linalg.inv(np.eye(5) - W)[3] @ C  # ∂z_3/∂x in closed form
    np.testing.assert_allclose(cyc.gradient, expected, rtol=1e-12)
    with pytest.raises(ValueError, match="not upper triangular.*method='general'"):
        L.solve(cyc.A, cyc.b, "backsub")
    np.testing.assert_allclose(L.solve(sp.csr_matrix(cyc.A), cyc.b, "general"),
                               cyc.multipliers, rtol=1e-12)


def test_cyclic_adjoints_of_one_scalar_unknown() -> None:
    # z = x cos z (Kepler's equation): dz/dx = cos z / (1 + x sin z); output=0
    x = 0.5
    z = ad.fixed_point(lambda z, x: x * anp.cos(z), x, 0.0)
    result = L.cyclic_adjoints(lambda z, x: z - x * anp.cos(z), z, x, output=0)
    assert type(result.gradient) is float
    assert result.gradient == pytest.approx(math.cos(z) / (1.0 + x * math.sin(z)), rel=1e-12)


def test_cyclic_errors() -> None:
    W, C, x, z = _cyclic_problem()

    def g(z, x):
        return z - anp.matmul(W, z) - anp.matmul(C, x)

    with pytest.raises(ValueError, match="does not satisfy g"):
        L.cyclic_adjoints(g, z + 0.1, x, output=0)
    with pytest.raises(ValueError, match="one equation per unknown"):
        L.cyclic_adjoints(lambda z, x: g(z, x)[:4], z, x, output=0)
    z2 = z.reshape(-1, 1)  # a column: output needs two indices

    def g2(z, x):
        return anp.reshape(g(anp.reshape(z, (-1,)), x), (-1, 1))
    with pytest.raises(ValueError, match=r"output=0 must index one entry of z, whose "
                       r"shape is \(\d+, 1\): give 2 indices"):
        L.cyclic_adjoints(g2, z2, x, output=0)
    assert L.cyclic_adjoints(g2, z2, x, output=(3, 0)).gradient == pytest.approx(
        L.cyclic_adjoints(g, z, x, output=3).gradient)

    def degenerate(z, x):  # z0 - z1 = 0 twice: ∂g/∂z is singular
        return anp.stack([z[0] - z[1], z[1] - z[0]]) * (x - x + 1.0)

    with pytest.raises(np.linalg.LinAlgError, match="implicit function theorem"):
        L.cyclic_adjoints(degenerate, np.array([1.0, 1.0]), 2.0, output=0)


# -------------------------------------------------------------------- errors

def test_solve_errors_say_what_is_wrong() -> None:
    A = -np.eye(3)
    with pytest.raises(ValueError, match="square"):
        L.solve(np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match="length 3"):
        L.solve(A, np.ones(4))
    with pytest.raises(TypeError, match="NumPy array or a scipy.sparse"):
        L.solve([[1.0]], [1.0])
    with pytest.raises(ValueError, match="'backsub', 'dense' or 'general'"):
        L.solve(A, np.ones(3), method="magic")
    zero_diag = np.triu(np.ones((3, 3)))
    zero_diag[1, 1] = 0.0
    with pytest.raises(np.linalg.LinAlgError, match=r"A\[1, 1\] = 0"):
        L.solve(zero_diag, np.ones(3))
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    for form in (singular, sp.csr_matrix(singular)):
        with pytest.raises(np.linalg.LinAlgError, match="singular"):
            L.solve(form, np.ones(2), "general")
    # a unit triangle is never singular, even with a condition number beyond 1/eps
    steep = -np.eye(3) + np.triu(np.full((3, 3), 1e9), 1)
    assert np.linalg.cond(steep) > 1.0 / np.finfo(float).eps
    np.testing.assert_allclose(L.solve(steep, np.ones(3), "general"),
                               L.solve(steep, np.ones(3), "backsub"))


def test_system_errors_say_what_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TypeError, match="takes a Tape"):
        L.system(lambda x: x)
    tape = ad.trace(lambda v: anp.tanh(v), np.ones(3))
    with pytest.raises(ValueError, match="pass seed="):
        L.system(tape)
    with pytest.raises(ValueError, match="seed has shape"):
        L.system(tape, seed=np.ones(2))
    with pytest.raises(ValueError, match="scalar variables"):
        L.residuals(tape, np.zeros(2), seed=np.ones(3))
    monkeypatch.setattr(L, "DENSE_BYTES_LIMIT", 100)
    with pytest.raises(ValueError, match="sparse=True"):
        L.system(tape, sparse=False, seed=np.ones(3))
    with pytest.raises(ValueError, match="method='backsub' or 'general'"):
        L.solve(np.eye(6), np.ones(6), "dense")
