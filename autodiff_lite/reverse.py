"""Reverse mode: a tape (Wengert list) and a backward sweep with the VJP column.

`Tape` records every primitive applied to its `Box`es, in execution order, inputs
first. `Tape.backward` walks the records from the output back to the inputs,
handing each node's adjoint to its parents through the VJP rules. It is a plain
loop (no recursion limit on deep graphs) and it computes fresh adjoints on every
call (calling it twice gives the same answer, never the sum).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .core import Primitive, Trace, bind, shape, zeros_like
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
    """The record of one reverse-mode trace.

    Each record is `(prim, args, parents, value, params)`: the primitive (None for
    an input), the unwrapped argument values (constants included, since the VJP
    rules need them), the node index of each argument (-1 for a constant, which is
    never a node), the output value and the primitive's keyword parameters.
    """

    __slots__ = ("records", "inputs", "output", "output_value")

    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple] = []
        self.inputs: list[int] = []
        self.output: int | None = None
        self.output_value: Any = None

    # ---------------------------------------------------------------- recording
    def new_input(self, value: Any) -> Box:
        """Add an input node (a variable to differentiate with respect to)."""
        index = len(self.records)
        self.records.append((None, (), (), value, {}))
        self.inputs.append(index)
        return Box(value, self, index)

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
        vals = []
        parents = []
        for a in args:
            if type(a) is Box and a._trace is self:
                vals.append(a.primal)
                parents.append(a.index)
            else:
                vals.append(a)
                parents.append(-1)
        out = bind(prim, *vals, **params)
        if prim.nondiff:
            return out  # e.g. sign(x): a constant, not a node
        index = len(self.records)
        self.records.append((prim, tuple(vals), tuple(parents), out, params))
        return Box(out, self, index)

    def set_output(self, out: Any) -> None:
        """Mark `out` (a value computed from this tape's inputs) as the output."""
        if type(out) is Box and out._trace is self:
            self.output, self.output_value = out.index, out.primal
        else:  # does not depend on the inputs at all
            self.output, self.output_value = None, out

    # ------------------------------------------------------------------ reading
    @property
    def nodes(self) -> list[Node]:
        """The Wengert list: one `Node(index, op, parents, value)` per entry."""
        return [Node(k, "input" if prim is None else prim.name,
                     tuple(p for p in parents if p >= 0), value)
                for k, (prim, _, parents, value, _) in enumerate(self.records)]

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return (f"<Tape: {len(self.inputs)} inputs, {len(self.records)} nodes, "
                f"output node {self.output}>")

    # ----------------------------------------------------------------- backward
    def backward(self, seed: Any = 1.0) -> list[Any]:
        """Adjoints of every node for the output cotangent `seed` (a fresh sweep)."""
        adj = self._sweep(seed, keep_all=True)
        return [zeros_like(r[3]) if a is None else a for a, r in zip(adj, self.records)]

    def input_adjoints(self, seed: Any = 1.0) -> list[Any]:
        """Adjoints of the input nodes only (frees the others as it goes)."""
        adj = self._sweep(seed, keep_all=False)
        return [zeros_like(self.records[i][3]) if adj[i] is None else adj[i]
                for i in self.inputs]

    def _sweep(self, seed: Any, keep_all: bool) -> list[Any]:
        records = self.records
        adj: list[Any] = [None] * len(records)
        out = self.output
        if out is None:
            return adj
        if shape(seed) != shape(self.output_value):
            raise ValueError(f"the seed (output cotangent) has shape {shape(seed)} "
                             f"but the output has shape {shape(self.output_value)}")
        adj[out] = seed
        stop = self.inputs[0] if self.inputs else 0
        for k in range(out, stop - 1, -1):
            g = adj[k]
            if g is None:
                continue
            prim, args, parents, z, params = records[k]
            if prim is None:
                continue
            if not keep_all:
                adj[k] = None
            vjp = prim.vjp
            for pos, j in enumerate(parents):
                if j < 0:
                    continue
                rule = vjp[pos]
                if rule is None:
                    continue
                ct = rule(g, z, *args, **params)
                a = args[pos]
                if not (type(ct) is float and type(a) is float) and shape(ct) != shape(a):
                    ct = sum_to(ct, shape(a))  # undo broadcasting
                cur = adj[j]
                adj[j] = ct if cur is None else cur + ct
        return adj
