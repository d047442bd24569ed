"""Reverse mode: a tape (Wengert list) and a backward sweep with the VJP column.

`Tape` records every primitive applied to its `Box`es, in execution order, inputs
first. `Tape.backward` walks the records from the output back to the inputs,
handing each node's adjoint to its parents through the VJP rules. It is a plain
loop (no recursion limit on deep graphs) and it computes fresh adjoints on every
call (calling it twice gives the same answer, never the sum).

Scalar code on Python floats spends its time in this module's bookkeeping, not
in arithmetic, so floats take short cuts: Box's arithmetic operators record a
node of floats themselves, `process` records a plain primitive on floats with
no further checks, and the sweep calls a float node's rules directly. Each does
what the general path does (tests/test_float_paths.py runs the same programs on
floats and on one-element arrays and compares the tapes).
"""

from __future__ import annotations

import dis
import inspect
from collections.abc import Sequence
from typing import Any, Callable, NamedTuple

import numpy as np

from .core import NO_PARAMS, Primitive, Trace, TracerBase, bind, escaped, shape, zeros_like
from .rules import sum_to, unchanged
from .tracer import Tracer, set_arithmetic, traced_operator


class Node(NamedTuple):
    """One line of the Wengert list: z[index] = op(z[p] for p in parents)."""

    index: int
    op: str
    parents: tuple[int, ...]
    value: Any


class Box(Tracer):
    """A value recorded on a tape: `primal` is its value, `index` its node number."""

    __slots__ = ("primal", "index")

    def __init__(self, primal: Any, tape: Tape, index: int) -> None:
        self.primal = primal
        self._trace = tape
        self.index = index

    def __repr__(self) -> str:
        return f"Box(node {self.index}, value={self.primal!r})"


class Tape(Trace):
    """The record of one reverse-mode trace, stored column by column.

    Node k is `ops[k](*args[k], **params[k]) = values[k]`: the primitive (None for
    an input), the unwrapped argument values (constants included, since the VJP
    rules need them), `parents[k]` the node index of each argument (-1 for a
    constant, which is never a node), and the output value. Columns of plain
    tuples rather than one object per node keep the tape cheap for Python's
    garbage collector, which otherwise rescans every surviving node.

    A `lean` tape (what `grad` and `vjp` record) keeps only what the backward
    sweep will read: an array argument or output that no VJP rule of the node
    reads is not stored (an argument keeps just its shape, for unbroadcasting),
    so it is freed as soon as the program drops it; its `values` hold None where
    an output was not kept. Nodes of Python floats keep everything (scalars cost
    less than the check); a reduction to a float is checked (its first argument
    is the array). `trace` records a full tape, every value
    kept, for reading and drawing.
    """

    __slots__ = ("ops", "args", "parents", "values", "params", "inputs", "output",
                 "output_value", "lean")

    def __init__(self, lean: bool = False) -> None:
        super().__init__()
        self.lean = lean
        self.ops: list[Primitive | None] = []
        self.args: list[tuple] = []
        self.parents: list[tuple[int, ...]] = []
        self.values: list[Any] = []
        self.params: list[dict] = []
        self.inputs: list[int] = []
        self.output: int | None = None
        self.output_value: Any = None

    # ---------------------------------------------------------------- recording
    def new_input(self, value: Any) -> Box:
        """Add an input node (a variable to differentiate with respect to)."""
        box = self._record(None, (), (), value, value, NO_PARAMS)
        self.inputs.append(box.index)
        return box

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
        # Unwrap this tape's boxes into their values and node indices (-1 for a
        # constant, which is never a node). Spelled out for one and two
        # arguments, nearly every operation, since this runs once per operation.
        if len(args) == 2:
            x, y = args
            px = py = -1
            if type(x) is Box and x._trace is self:
                px, x = x.index, x.primal
            if type(y) is Box and y._trace is self:
                py, y = y.index, y.primal
            vals, parents = (x, y), (px, py)
            floats = type(x) is float and type(y) is float
        elif len(args) == 1:
            (x,) = args
            px = -1
            if type(x) is Box and x._trace is self:
                px, x = x.index, x.primal
            vals, parents = (x,), (px,)
            floats = type(x) is float
        else:
            own = [type(a) is Box and a._trace is self for a in args]
            vals = tuple(a.primal if o else a for a, o in zip(args, own))
            parents = tuple(a.index if o else -1 for a, o in zip(args, own))
            floats = False
        if floats and prim.plain and not params:
            # Python floats (the hot path of scalar code): nothing nested, no
            # residual to save, and a float costs less to keep than to check.
            out = out_kept = prim.impl(*vals)
        else:
            if any(map(_is_traced, vals)):
                # A value traced by an outer transformation: let it see the call.
                out = bind(prim, *vals, **params)
            elif prim.saving is not None and self.lean:  # keep what the VJP would redo
                impl_saving, prim = prim.saving
                out, residual = impl_saving(*vals, **params)
                vals, parents = (residual, *vals), (-1, *parents)
            else:
                out = prim.impl(*vals, **params)
            if prim.nondiff:
                return out  # e.g. sign(x): a constant, not a node
            if self.lean and (type(out) is not float or type(vals[0]) is not float):
                vals, out_kept = _needed(prim, vals, parents, out)
            else:
                out_kept = out
        return self._record(prim, vals, parents, out, out_kept, params or NO_PARAMS)

    def _record(self, prim: Primitive | None, vals: tuple, parents: tuple[int, ...],
               out: Any, out_kept: Any, params: dict) -> Box:
        """Append node `prim(*vals, **params) = out` (keeping `out_kept`, which is
        None where a lean tape drops the output) and return its box. Every node
        comes here, the float short cuts' too, so here a finished tape refuses."""
        if self.done:
            raise escaped()
        index = len(self.values)
        self.ops.append(prim)
        self.args.append(vals)
        self.parents.append(parents)
        self.values.append(out_kept)
        self.params.append(params)
        return Box(out, self, index)

    def set_output(self, out: Any) -> None:
        """Mark `out` (a value computed from this tape's inputs) as the output; the
        recording is over."""
        self.done = True
        if type(out) is Box and out._trace is not self and out._trace.done:
            raise escaped()
        if type(out) is Box and out._trace is self:
            self.output, self.output_value = out.index, out.primal
        else:  # does not depend on the inputs at all
            self.output, self.output_value = None, out

    # ------------------------------------------------------------------ reading
    @property
    def records(self) -> Records:
        """A read-only view: one `(prim, args, parents, value, params)` per node."""
        return Records(self)

    @property
    def nodes(self) -> list[Node]:
        """The Wengert list: one `Node(index, op, parents, value)` per entry."""
        return [Node(k, "input" if prim is None else prim.name,
                     tuple(p for p in parents if p >= 0), value)
                for k, (prim, parents, value)
                in enumerate(zip(self.ops, self.parents, self.values))]

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return (f"<Tape: {len(self.inputs)} inputs, {len(self.values)} nodes, "
                f"output node {self.output}>")

    # ----------------------------------------------------------------- backward
    def check_one_output(self, who: str) -> None:
        """Refuse a tape whose function returned no value to differentiate (None, a
        tuple): it may be recorded, for counting, but not swept backwards. A value
        traced by an enclosing transformation is a constant here (every adjoint 0)."""
        if self.output is None and not isinstance(
                self.output_value, (int, float, np.number, np.ndarray, TracerBase)):
            what = type(self.output_value).__name__
            raise TypeError(f"{who}: the traced function returned {what}, not a number or an "
                            "array; a backward sweep needs one output"
                            + (" (did it forget to `return`?)" if what == "NoneType" else ""))

    def backward(self, seed: Any = 1.0) -> list[Any]:
        """Adjoints of every node for the output cotangent `seed` (a fresh sweep)."""
        adj = self._sweep(seed, keep_all=True)
        return [zeros_like(v) if a is None else a for a, v in zip(adj, self.values)]

    def input_adjoints(self, seed: Any = 1.0) -> list[Any]:
        """Adjoints of the input nodes only (frees the others as it goes).

        Each is an array of its own: add's rule hands one cotangent to both of
        its arguments, and a rule may pass the seed on as it is, so an adjoint
        that shares memory with another or with the seed is copied (an in-place
        update of one gradient, `gx *= 0.5`, must not change another).
        """
        adj = self._sweep(seed, keep_all=False)
        out: list[Any] = []
        for i in self.inputs:
            a = adj[i]
            if a is None:
                a = zeros_like(self.values[i])
            elif type(a) is np.ndarray and any(
                    type(b) is np.ndarray and np.may_share_memory(a, b) for b in (seed, *out)):
                a = a.copy()
            out.append(a)
        return out

    def _sweep(self, seed: Any, keep_all: bool) -> list[Any]:
        adj: list[Any] = [None] * len(self.values)
        out = self.output
        if out is None:  # a constant: every adjoint is zero
            self.check_one_output("backward")
            return adj
        if isinstance(seed, (list, tuple)):  # numbers written out: an array
            seed = np.asarray(seed, dtype=float)
        if shape(seed) != shape(self.output_value):
            raise ValueError(f"the seed (output cotangent) has shape {shape(seed)} "
                             f"but the output has shape {shape(self.output_value)}")
        adj[out] = seed
        ops, all_args, all_parents, values, all_params = (
            self.ops, self.args, self.parents, self.values, self.params)
        stop = self.inputs[0] if self.inputs else 0
        for k in range(out, stop - 1, -1):
            g = adj[k]
            prim = ops[k]
            if g is None or prim is None:
                continue
            if not keep_all:
                adj[k] = None
            args, z, params, vjp = all_args[k], values[k], all_params[k], prim.vjp
            # A node of floats (nearly every node of scalar code): its rules are
            # called directly, without the general loop's bookkeeping and shapes.
            if type(g) is float and not params:
                if len(args) == 2:
                    x, y = args
                    if type(x) is float and type(y) is float:
                        jx, jy = all_parents[k]
                        if jx >= 0 and (rule := vjp[0]) is not None:
                            ct = g if rule is unchanged else rule(g, z, x, y)
                            cur = adj[jx]
                            adj[jx] = ct if cur is None else cur + ct
                        if jy >= 0 and (rule := vjp[1]) is not None:
                            ct = g if rule is unchanged else rule(g, z, x, y)
                            cur = adj[jy]
                            adj[jy] = ct if cur is None else cur + ct
                        continue
                elif len(args) == 1:
                    x = args[0]
                    if type(x) is float and (rule := vjp[0]) is not None:
                        j = all_parents[k][0]
                        ct = rule(g, z, x)
                        cur = adj[j]
                        adj[j] = ct if cur is None else cur + ct
                        continue
            pos = -1
            for j in all_parents[k]:
                pos += 1
                if j < 0 or vjp[pos] is None:
                    continue
                ct = vjp[pos](g, z, *args, **params) if params else vjp[pos](g, z, *args)
                a = args[pos]
                # .shape of arrays, NumPy scalars, tracers and stand-ins; floats have none
                if type(ct) is not float or type(a) is not float:
                    if getattr(ct, "shape", ()) != getattr(a, "shape", ()):
                        ct = unbroadcast(ct, shape(a), prim, pos)
                cur = adj[j]
                adj[j] = ct if cur is None else cur + ct
        return adj


def unbroadcast(ct: Any, shape_: tuple[int, ...], prim: Primitive, pos: int) -> Any:
    """The cotangent `ct` that `prim`'s VJP rule returned for argument `pos`,
    summed down to the argument's shape `shape_` (the argument was broadcast).

    A cotangent of a shape the argument does not broadcast to is a wrong rule
    (a transpose, a missing broadcast): `sum_to` refuses it, and here, where the
    rule is known, the message names it.
    """
    try:
        return sum_to(ct, shape_)
    except ValueError as err:
        raise ValueError(
            f"the VJP rule of {prim.name} returned a cotangent of shape {shape(ct)} for "
            f"its argument {pos}, of shape {shape_}: a VJP rule must return the "
            "argument's shape (or a shape the argument was broadcast to)") from err


class _Shape:
    """Stands for an argument the backward sweep needs only the shape of."""

    __slots__ = ("shape",)

    def __init__(self, shape_: tuple[int, ...]) -> None:
        self.shape = shape_

    def __repr__(self) -> str:
        return f"<not kept: shape {self.shape}>"


def _needed(prim: Primitive, vals: tuple, parents: tuple[int, ...],
            out: Any) -> tuple[tuple, Any]:
    """`vals` and `out` without the arrays that no VJP rule of this node reads."""
    # Flat keys hash quickly; a unary node's argument is always a node.
    n = len(parents)
    key = (prim if n == 1 else (prim, parents[0] >= 0, parents[1] >= 0) if n == 2
           else (prim, *map(_IS_NODE, parents)))
    unread = _UNREAD.get(key)
    if unread is None:
        unread = _UNREAD[key] = _unread(prim, tuple(map(_IS_NODE, parents)))
    drop_out, drop_args = unread
    if drop_args:
        kept = list(vals)
        for i in drop_args:
            v = kept[i]
            if type(v) is not float:  # a float costs less than its stand-in
                kept[i] = _shape_of(v) if parents[i] >= 0 else None
        vals = tuple(kept)
    return vals, (None if drop_out else out)


def _shape_of(value: Any) -> _Shape:
    """One shared stand-in per shape (programs use few shapes, and many nodes)."""
    s = value.shape if type(value) is np.ndarray else shape(value)
    stand_in = _SHAPES.get(s)
    if stand_in is None:
        stand_in = _SHAPES[s] = _Shape(s)
    return stand_in


def _unread(prim: Primitive, active: tuple[bool, ...]) -> tuple[bool, tuple[int, ...]]:
    """Whether the VJP rules of the `active` (differentiated) arguments never read
    the output z, and which arguments they never read; nothing when unsure.

    Read off each rule's code, the names it loads, so the rule table needs no
    second column saying what to save and cannot disagree with one.
    """
    nargs = len(active)
    read = [False] * (nargs + 1)  # z, then the arguments
    for rule, is_active in zip(prim.vjp, active):
        if not is_active or rule is None:
            continue
        code = getattr(rule, "__code__", None)
        if code is None or code.co_flags & inspect.CO_VARARGS or code.co_argcount < nargs + 2:
            return False, ()  # not a plain function of (g, z, *args): keep everything
        loaded = set(code.co_cellvars)  # read by a function nested in the rule
        for ins in dis.get_instructions(code):
            # Newer Pythons fuse two locals into one instruction (LOAD_FAST_LOAD_FAST,
            # and STORE_FAST_LOAD_FAST since 3.13): count both names as read (a
            # stored one too, which only keeps more than needed).
            if "LOAD_FAST" in ins.opname:
                loaded.update(ins.argval if isinstance(ins.argval, tuple) else (ins.argval,))
        names = code.co_varnames[1:nargs + 2]
        read = [r or name in loaded for r, name in zip(read, names)]
    return not read[0], tuple(i for i in range(nargs) if not read[i + 1])


# What a node of each primitive, with these arguments differentiated, need not keep
# (keyed by the primitive, and for several arguments which of them are nodes).
_UNREAD: dict[Any, tuple[bool, tuple[int, ...]]] = {}
_IS_NODE = (-1).__lt__  # parent index -> is it a node (not a constant)?
_SHAPES: dict[tuple[int, ...], _Shape] = {}


def _arithmetic(prim: Primitive, reflected: bool = False) -> Callable[[Box, Any], Any]:
    """Box's operator for `prim`: on Python floats it records the node itself.

    Scalar code is nearly all `+ - * /` on floats, where `process`'s unwrapping
    and checks cost more than the arithmetic: here a float node is recorded with
    none of them (nothing is nested, arithmetic saves no residual, floats are
    kept whole). Anything else goes the general way.
    """
    impl, general = prim.impl, traced_operator(prim, reflected)

    def method(self: Box, other: Any) -> Any:
        x, tape = self.primal, self._trace
        if type(x) is not float:
            return general(self, other)
        if type(other) is float:
            y, j = other, -1  # a constant
        elif type(other) is Box and other._trace is tape and type(other.primal) is float:
            y, j = other.primal, other.index
        else:
            return general(self, other)
        if reflected:
            vals, parents = (y, x), (j, self.index)
        else:
            vals, parents = (x, y), (self.index, j)
        out = impl(*vals)
        return tape._record(prim, vals, parents, out, out, NO_PARAMS)

    method.__name__ = general.__name__
    return method


set_arithmetic(Box, _arithmetic)


class Records(Sequence):
    """Node k of a tape as one tuple, read from its columns on demand (no copy)."""

    __slots__ = ("_tape",)

    def __init__(self, tape: Tape) -> None:
        self._tape = tape

    def __len__(self) -> int:
        return len(self._tape.values)

    def __getitem__(self, k: Any) -> Any:
        t = self._tape
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        return t.ops[k], t.args[k], t.parents[k], t.values[k], t.params[k]


_is_traced = TracerBase.__instancecheck__  # isinstance(v, TracerBase), for map
