"""Reverse mode: a tape (Wengert list) and a backward sweep with the VJP column.

`Tape` records every primitive applied to its `Box`es, in execution order, inputs
first. `Tape.backward` walks the records from the output back to the inputs,
handing each node's adjoint to its parents through the VJP rules. It is a plain
loop (no recursion limit on deep graphs) and it computes fresh adjoints on every
call (calling it twice gives the same answer, never the sum).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from .core import Primitive, Trace, TracerBase, bind, shape, zeros_like
from .rules import sum_to
from .tracer import Tracer


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
    """

    __slots__ = ("ops", "args", "parents", "values", "params", "inputs", "output",
                 "output_value")

    def __init__(self) -> None:
        super().__init__()
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
        index = len(self.values)
        self.ops.append(None)
        self.args.append(())
        self.parents.append(())
        self.values.append(value)
        self.params.append(_NO_PARAMS)
        self.inputs.append(index)
        return Box(value, self, index)

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
        vals = []
        parents = []
        nested = False  # an unwrapped value is itself traced by an outer transformation
        for a in args:
            if type(a) is Box and a._trace is self:
                v = a.primal
                parents.append(a.index)
            else:
                v = a
                parents.append(-1)
            if isinstance(v, TracerBase):
                nested = True
            vals.append(v)
        out = bind(prim, *vals, **params) if nested else prim.impl(*vals, **params)
        if prim.nondiff:
            return out  # e.g. sign(x): a constant, not a node
        index = len(self.values)
        self.ops.append(prim)
        self.args.append(tuple(vals))
        self.parents.append(tuple(parents))
        self.values.append(out)
        self.params.append(params or _NO_PARAMS)
        return Box(out, self, index)

    def set_output(self, out: Any) -> None:
        """Mark `out` (a value computed from this tape's inputs) as the output."""
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
    def backward(self, seed: Any = 1.0) -> list[Any]:
        """Adjoints of every node for the output cotangent `seed` (a fresh sweep)."""
        adj = self._sweep(seed, keep_all=True)
        return [zeros_like(v) if a is None else a for a, v in zip(adj, self.values)]

    def input_adjoints(self, seed: Any = 1.0) -> list[Any]:
        """Adjoints of the input nodes only (frees the others as it goes)."""
        adj = self._sweep(seed, keep_all=False)
        return [zeros_like(self.values[i]) if adj[i] is None else adj[i]
                for i in self.inputs]

    def _sweep(self, seed: Any, keep_all: bool) -> list[Any]:
        adj: list[Any] = [None] * len(self.values)
        out = self.output
        if out is None:
            return adj
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
            for pos, j in enumerate(all_parents[k]):
                if j < 0:
                    continue
                rule = vjp[pos]
                if rule is None:
                    continue
                ct = rule(g, z, *args, **params) if params else rule(g, z, *args)
                a = args[pos]
                if not (type(ct) is float and type(a) is float) and shape(ct) != shape(a):
                    ct = sum_to(ct, shape(a))  # undo broadcasting
                cur = adj[j]
                adj[j] = ct if cur is None else cur + ct
        return adj


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


_NO_PARAMS: dict = {}
