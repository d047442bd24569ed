"""Backprop as a linear solve: the adjoints are Lagrange multipliers.

A tape is a list of constraints z_k = f_k(z_a(k)), one per node. Minimising the
output z_n subject to them, with the Lagrangian

    L(z, λ) = z_n - Σ_k λ_k (z_k - f_k(z_a(k))),

gives two sets of stationarity conditions. ∇_λ L = 0 says every constraint holds
(that is the forward pass). ∇_z L = 0 says, for every variable i,

    λ_i = δ_in + Σ_{k uses z_i} λ_k ∂f_k/∂z_i,

a linear system A λ = b. Following the "Differentiable Computations" post (seed
001) there is one row per variable i and one column per constraint k:

    A[i, i] = -1,   A[i, k] = ∂f_k/∂z_i  (k uses z_i),   b = -e_n.

A constraint only uses earlier nodes (k > i), so A is upper triangular and
back-substitution from the last row solves it: that sweep *is* backprop. (That
post says the diagonal holds 1's; with its own definition it holds -1. Its
back-substitution lines also mix up indices: λ5 = λ6 ∂f6/∂z5, not ∂f6/∂z6.)

Inputs. An input x_i is a variable too, tied by the constraint z_i = x_i whose
right-hand side is the data. Its row reads λ_i = Σ_k λ_k ∂f_k/∂z_i like any other,
and a multiplier is the sensitivity of the optimum to its constraint's
right-hand side, so λ_i = ∂z_n/∂x_i: the gradient (Tim Vieira, "Backprop is not
just the chain rule", 2017, calls these the dummy input constraints). The input's
column holds only its -1, because z_i = x_i uses no other variable.

Arrays. A node holding an array contributes one variable per entry (row-major),
so n is the total number of scalar entries. The local partials ∂f_k/∂z_i come
from the rule table alone: the VJP rule of node k applied to each basis
cotangent gives one column of the block (this module knows no derivative).

The general solver (`method="general"`) does not need the triangle: the same
stationarity conditions for constraints with cycles, g(z) = 0, form the system
-(∂g/∂z)ᵀ λ = -e_n (`cyclic_adjoints`), and that is the implicit function theorem.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .api import as_input, jacfwd, trace, vjp
from .core import primal, shape
from .reverse import Tape, unbroadcast

#: Above this many scalar variables `system` returns a sparse matrix by default.
DENSE_LIMIT = 1000
#: A dense matrix larger than this (in bytes) is refused: use a sparse one.
DENSE_BYTES_LIMIT = 2 * 1024 ** 3


# ------------------------------------------------------------------ the layout

def offsets(tape: Tape) -> np.ndarray:
    """Start of each node's entries in the variable vector (plus the total at the end).

    Node k owns variables offsets[k] ... offsets[k + 1] - 1, in row-major order.
    """
    sizes = [int(np.prod(shape(v))) for v in tape.values]
    return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)


def _basis(m: int, k: int, like: tuple[int, ...]) -> Any:
    if not like:
        return 1.0
    e = np.zeros(m)
    e[k] = 1.0
    return e.reshape(like)


def _local_block(prim: Any, pos: int, args: tuple, z: Any,
                 params: dict) -> np.ndarray:
    """∂f_k/∂z_i for argument `pos` of node k, as a (size of arg) x (size of z) block.

    Column m is the VJP rule applied to the m-th basis cotangent: the sensitivity
    of every entry of the argument to entry m of the output.
    """
    rule = prim.vjp[pos]
    a = args[pos]
    zs, as_ = shape(z), shape(a)
    m = int(np.prod(zs))
    block = np.empty((int(np.prod(as_)), m))
    for col in range(m):
        ct = rule(_basis(m, col, zs), z, *args, **params)
        if shape(ct) != as_:
            ct = unbroadcast(ct, as_, prim, pos)  # the argument was broadcast
        block[:, col] = np.ravel(primal(ct))
    return block


def _triplets(tape: Tape) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Row, column and value of every entry of A (duplicates to be summed), and n."""
    off = offsets(tape)
    n = int(off[-1])
    rows: list[Any] = [np.arange(n)]
    cols: list[Any] = [np.arange(n)]
    vals: list[Any] = [np.full(n, -1.0)]
    columns = zip(tape.ops, tape.args, tape.parents, tape.values, tape.params)
    for k, (prim, args, parents, z, params) in enumerate(columns):
        if prim is None:
            continue  # an input: z_k = x_k uses no variable
        scalar_out = not shape(z)
        for pos, j in enumerate(parents):
            if j < 0 or prim.vjp[pos] is None:
                continue  # a constant, or an argument without derivative
            if scalar_out and not shape(args[pos]):  # the common scalar case, fast
                ct = prim.vjp[pos](1.0, z, *args, **params)
                rows.append([off[j]])
                cols.append([off[k]])
                vals.append([float(primal(ct))])
                continue
            block = _local_block(prim, pos, args, z, params)
            r, c = np.nonzero(block)
            rows.append(off[j] + r)
            cols.append(off[k] + c)
            vals.append(block[r, c])
    return (np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64),
            np.concatenate(vals).astype(float), n)


def _seed_vector(tape: Tape, seed: Any, n: int) -> np.ndarray:
    off = offsets(tape)
    b = np.zeros(n)
    if tape.output is None:
        tape.check_one_output("the Lagrangian system")
        return b  # the output does not depend on the inputs: every λ is 0
    out_shape = shape(tape.output_value)
    if seed is None:
        if out_shape:
            raise ValueError(
                f"the output has shape {out_shape}, so b = -e_n is not defined: pass "
                "seed= (the output cotangent, same shape as the output) or reduce "
                "the output to a scalar")
        seed = 1.0
    if shape(seed) != out_shape:
        raise ValueError(f"seed has shape {shape(seed)} but the output has shape "
                         f"{out_shape}; they must match")
    k = tape.output
    b[off[k]:off[k + 1]] = -np.ravel(np.asarray(seed, dtype=float))
    return b


def system(tape: Tape, sparse: bool | None = None,
           seed: Any = None) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray]:
    """The Lagrange conditions ∇_z L = 0 of `tape` as A λ = b (seed 001's convention).

    Row i is variable i, column k is constraint k (variables numbered as the tape
    numbers its nodes, array entries row-major); A[i, i] = -1, A[i, k] = ∂f_k/∂z_i
    and b = -seed at the output's entries (b = -e_n for a scalar output). Only
    partials that are nonzero at the recorded values are stored.

    `sparse=None` gives a dense ndarray up to `DENSE_LIMIT` variables and a
    `scipy.sparse.csr_matrix` above it; True or False forces one or the other.
    """
    if not isinstance(tape, Tape):
        raise TypeError(f"system() takes a Tape (from autodiff_lite.trace(f, *args)), "
                        f"got {type(tape).__name__}")
    rows, cols, vals, n = _triplets(tape)
    b = _seed_vector(tape, seed, n)
    if sparse is None:
        sparse = n > DENSE_LIMIT
    A = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))  # sums repeated entries
    A.eliminate_zeros()
    if sparse:
        return A, b
    if 8 * n * n > DENSE_BYTES_LIMIT:
        raise ValueError(f"a dense {n}x{n} system needs {8 * n * n / 1e9:.1f} GB; "
                         "use system(tape, sparse=True)")
    return A.toarray(), b


# ----------------------------------------------------------------- the solvers

def _check_system(A: Any, b: Any) -> tuple[Any, np.ndarray]:
    if not (isinstance(A, np.ndarray) or sp.issparse(A)):
        raise TypeError(f"A must be a NumPy array or a scipy.sparse matrix, "
                        f"got {type(A).__name__}")
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be a square matrix, got shape {A.shape}")
    b = np.asarray(b, dtype=float)
    if b.shape != (A.shape[0],):
        raise ValueError(f"b has shape {b.shape} but A is {A.shape[0]}x{A.shape[1]}: "
                         f"b must be a vector of length {A.shape[0]}")
    return A, b


def is_upper_triangular(A: Any) -> bool:
    """True when every nonzero of A is on or above the diagonal."""
    if sp.issparse(A):
        C = A.tocoo()
        stored = C.data != 0
        return bool(np.all(C.row[stored] <= C.col[stored]))
    return bool(not np.any(np.tril(A, -1)))


def back_substitution(A: Any, b: np.ndarray) -> np.ndarray:
    """Solve an upper triangular A λ = b from the last row up, in O(n + nnz).

    Row i reads A[i, i] λ_i + Σ_{k > i} A[i, k] λ_k = b_i, and every λ_k with
    k > i is already known when row i is reached: the backward sweep of reverse
    mode. A dense A is first scanned for its nonzeros (O(n²) once).
    """
    R = sp.csr_matrix(A)
    indptr, indices, data = R.indptr.tolist(), R.indices.tolist(), R.data.tolist()
    lam = [0.0] * R.shape[0]
    for i in range(R.shape[0] - 1, -1, -1):
        s = b[i]
        diag = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            k = indices[p]
            if k == i:
                diag += data[p]
            elif lam[k] != 0.0:  # a node with no influence passes nothing on, as in
                s -= data[p] * lam[k]  # reverse mode (0 times an infinite partial is nan)
        if diag == 0.0:
            raise np.linalg.LinAlgError(
                f"A[{i}, {i}] = 0: a triangular system with a zero on its diagonal is "
                "singular; a tape's system always has -1 there, so A was not built "
                "by system()")
        lam[i] = s / diag
    return np.asarray(lam)


def solve(A: Any, b: Any, method: str = "backsub") -> np.ndarray:
    """Solve A λ = b for the multipliers.

    - "backsub": back-substitution, cost proportional to the nonzeros; A must be
      upper triangular (every tape's system is);
    - "dense": `np.linalg.solve` on the full matrix, O(n³), for comparison;
    - "general": any nonsingular A, triangular or not (cyclic constraints):
      `scipy.sparse.linalg.spsolve` for a sparse A, `np.linalg.solve` otherwise.
    """
    A, b = _check_system(A, b)
    n = A.shape[0]
    if method == "backsub":
        if not is_upper_triangular(A):
            raise ValueError(
                "A is not upper triangular, so back-substitution does not apply: its "
                "constraints have a cycle or are not in tape order. Use "
                "solve(A, b, method='general')")
        return back_substitution(A, b)
    if method == "dense":
        if 8 * n * n > DENSE_BYTES_LIMIT:
            raise ValueError(f"a dense {n}x{n} solve needs {8 * n * n / 1e9:.1f} GB; "
                             "use method='backsub' or 'general'")
        return _dense_solve(A.toarray() if sp.issparse(A) else A, b, check=False)
    if method == "general":
        if not sp.issparse(A):
            # a triangle with no zero on its diagonal (a tape's system) is nonsingular,
            # however large its condition number: no check, no false alarm
            triangle = is_upper_triangular(A) and bool(np.all(np.diag(A) != 0))
            return _dense_solve(A, b, check=not triangle)
        with warnings.catch_warnings():
            warnings.simplefilter("error", spla.MatrixRankWarning)
            try:
                lam = spla.spsolve(sp.csc_matrix(A), b)
            except spla.MatrixRankWarning:
                lam = np.full(n, np.nan)
        if not np.all(np.isfinite(lam)):
            raise np.linalg.LinAlgError(_SINGULAR)
        return np.atleast_1d(lam)
    raise ValueError(f"method must be 'backsub', 'dense' or 'general', got {method!r}")


_SINGULAR = ("A is singular: the multipliers are not determined. For cyclic "
             "constraints g(z) = 0 this means ∂g/∂z is singular at the solution, "
             "so the implicit function theorem does not apply there")


def _dense_solve(A: np.ndarray, b: np.ndarray, check: bool) -> np.ndarray:
    """LU solve; with `check`, also refuse a numerically singular A (costs an SVD)."""
    try:
        lam = np.linalg.solve(A, b)
    except np.linalg.LinAlgError:
        raise np.linalg.LinAlgError(_SINGULAR) from None
    if check:
        cond = np.linalg.cond(A)
        if not cond < 1.0 / np.finfo(float).eps:
            raise np.linalg.LinAlgError(f"{_SINGULAR} (condition number {cond:.3g})")
    return lam


# ------------------------------------------------------ adjoints and residuals

@dataclass(frozen=True)
class Residuals:
    """How far a (z, λ) pair is from stationarity of the Lagrangian, per variable.

    `constraints[i]` is z_i - f_i(z_a(i)) (∇_λ L; 0 for inputs, whose constraint
    z_i = x_i holds by construction), `stationarity` is A λ - b (∇_z L).
    """

    constraints: np.ndarray
    stationarity: np.ndarray

    def max(self) -> float:
        """The largest absolute residual of either kind."""
        return float(max(np.max(np.abs(self.constraints), initial=0.0),
                         np.max(np.abs(self.stationarity), initial=0.0)))


@dataclass(frozen=True)
class Adjoints:
    """Everything `adjoints` computed: the system, its solution and the gradients."""

    tape: Tape
    A: Any                  # ndarray or scipy.sparse.csr_matrix, n x n
    b: np.ndarray           # length n
    flat: np.ndarray        # λ as one vector of length n (variable order)
    multipliers: list[Any]  # λ per tape node, shaped like the node's value
    gradients: tuple        # λ of the input nodes: ∂z_n/∂x, one per argument
    residuals: Residuals


def multipliers_by_node(tape: Tape, lam: np.ndarray) -> list[Any]:
    """Split the vector λ into one value per node, shaped like the node (float if scalar)."""
    off = offsets(tape)
    out = []
    for k, v in enumerate(tape.values):
        piece = lam[off[k]:off[k + 1]]
        s = shape(v)
        out.append(piece.reshape(s) if s else float(piece[0]))
    return out


def constraint_residuals(tape: Tape) -> np.ndarray:
    """z_k - f_k(z_a(k)) for every variable, recomputing f_k with the primitive's impl.

    The arguments come from the parents' recorded values (constants as recorded),
    so a tape whose values were tampered with shows a nonzero residual.
    """
    parts = []
    values = tape.values
    for prim, args, parents, z, params in zip(tape.ops, tape.args, tape.parents,
                                              values, tape.params):
        if prim is None:
            parts.append(np.zeros(int(np.prod(shape(z)))))
            continue
        vals = [values[j] if j >= 0 else a for a, j in zip(args, parents)]
        z, f = np.asarray(z, dtype=float), np.asarray(prim.impl(*vals, **params), dtype=float)
        # a value recomputed exactly, infinities and nans included, satisfies its constraint
        same = (z == f) | (np.isnan(z) & np.isnan(f))
        with np.errstate(invalid="ignore"):
            parts.append(np.ravel(np.where(same, 0.0, z - f)))
    return np.concatenate(parts) if parts else np.zeros(0)


def residuals(tape: Tape, lam: Any, assembled: tuple[Any, np.ndarray] | None = None,
              seed: Any = None) -> Residuals:
    """Residuals of ∇_λ L = 0 and ∇_z L = 0 at the tape's values and multipliers `lam`.

    Both vanish (to round-off) at the solution of `system`; pass `assembled=(A, b)`
    to reuse an assembled system, and any other `lam` to see them not vanish.
    """
    A, b = system(tape, seed=seed) if assembled is None else assembled
    lam = np.asarray(lam, dtype=float)
    if lam.shape != b.shape:
        raise ValueError(f"lam has shape {lam.shape} but the tape has {b.shape[0]} "
                         "scalar variables; pass the flat vector from solve()")
    if not np.all(np.isfinite(A.data if sp.issparse(A) else A)):
        # an infinite partial of a node with no influence: its zero multiplier adds
        # nothing, as in back-substitution (0·∞ would make the row nan)
        used = np.flatnonzero(lam)
        A, lam = A[:, used], lam[used]
    return Residuals(constraint_residuals(tape), A @ lam - b)


def adjoints(f: Callable[..., Any], *args: Any, method: str = "backsub",
             sparse: bool | None = None, seed: Any = None) -> Adjoints:
    """Trace f at args, assemble A λ = b, solve it: the multipliers and the gradient.

    For every program the tape can record, `gradients` equals
    `grad(f, argnums=(0, 1, ...))(*args)` to round-off (for a scalar output),
    with back-substitution also where a node with no influence on the output has
    an infinite partial (the dense solves then give nan: their 0·∞ is not skipped).
    """
    tape = trace(f, *args)
    A, b = system(tape, sparse=sparse, seed=seed)
    lam = solve(A, b, method)
    by_node = multipliers_by_node(tape, lam)
    grads = tuple(by_node[i] for i in tape.inputs)
    return Adjoints(tape, A, b, lam, by_node, grads,
                    residuals(tape, lam, assembled=(A, b)))


# --------------------------------------------------------- cyclic constraints

@dataclass(frozen=True)
class CyclicAdjoints:
    """Multipliers of cyclic constraints g(z, x) = 0 and the gradient of z[output]."""

    A: np.ndarray       # -(∂g/∂z)ᵀ, in general neither triangular nor sparse
    b: np.ndarray       # -e_output
    multipliers: np.ndarray
    gradient: Any       # ∂z[output]/∂x, shaped like x


def cyclic_adjoints(g: Callable[[Any, Any], Any], z: Any, x: Any,
                    output: int | Sequence[int]) -> CyclicAdjoints:
    """Multipliers for constraints g(z, x) = 0 whose dependencies may form cycles.

    Seed 000's generalisation: with L = z_out - λᵀ g(z, x), stationarity in z is
    (∂g/∂z)ᵀ λ = e_out, i.e. A λ = b with A = -(∂g/∂z)ᵀ and b = -e_out in seed 001's
    convention; for an acyclic program g(z) = z - f(z) this is exactly `system`'s
    triangle. Stationarity in x gives ∂z_out/∂x = -(∂g/∂x)ᵀ λ. The Jacobians come
    from `jacfwd` of g; `solve(..., method="general")` handles the cycles and says
    so when ∂g/∂z is singular (the implicit function theorem does not apply).
    `z` must satisfy g(z, x) = 0 (it is checked); `output` indexes z's entries.
    """
    z, x = as_input(z, "z"), as_input(x, "x")
    r = np.asarray(g(z, x), dtype=float)
    if r.shape != np.shape(z):
        raise ValueError(f"g(z, x) has shape {r.shape} but z has shape {np.shape(z)}: "
                         "there must be one equation per unknown")
    scale = max(1.0, float(np.max(np.abs(z), initial=0.0)))
    if np.max(np.abs(r), initial=0.0) > 1e-8 * scale:
        raise ValueError(f"z does not satisfy g(z, x) = 0 (largest |g| = "
                         f"{np.max(np.abs(r)):.3g}); solve the constraints first")
    m = int(np.prod(np.shape(z)))
    Gz = np.asarray(jacfwd(g, 0)(z, x), dtype=float).reshape(m, m)
    A = -Gz.T
    b = np.zeros(m)
    index = (output,) if isinstance(output, (int, np.integer)) else tuple(output)
    needed = max(1, np.ndim(z))  # a scalar z: output=0
    if len(index) != needed:
        raise ValueError(f"output={output!r} must index one entry of z, whose shape is "
                         f"{np.shape(z)}: give {needed} {'index' if needed == 1 else 'indices'}")
    b[np.ravel_multi_index(index, np.shape(z)) if np.shape(z) else 0] = -1.0
    lam = solve(A, b, method="general")
    lam_shaped = lam.reshape(np.shape(z)) if np.shape(z) else float(lam[0])
    (gx,) = vjp(lambda xx: g(z, xx), x)[1](lam_shaped)
    return CyclicAdjoints(A, b, lam, -np.asarray(gx) if np.shape(x) else -float(gx))
