"""Pictures for the lessons: computation graphs, trace tables and matrices.

Everything here *reads* a `Tape` (the Wengert list of `ad.trace`) and the rule
table; nothing here knows a derivative. The local partial derivative on an edge
j -> k is the VJP rule of node k for that argument applied to a unit cotangent,
tangents are pushed along the tape with the JVP rules, adjoints come from
`tape.backward()`.

Nodes are named as in Haotian Liu's slides on automatic differentiation
(Tsinghua University, 2020) and in Griewank & Walther's *Evaluating
Derivatives* (2008): with n inputs, the inputs are v_{1-n}, ..., v_0 and the
k-th operation is v_k. Output is deterministic (stable node ids, fixed float
formatting) so that notebooks showing it can be checked by nbval.
"""

from __future__ import annotations

import html
import unicodedata
from typing import Any, Sequence

import graphviz
import numpy as np

from .core import shape, zeros_like
from .reverse import Tape
from .rules import broadcast_to

__all__ = ["TapeGraph", "TraceTable", "adjoint_trace", "draw", "fmt", "forward_tangents",
           "local_partials", "node_name", "plot_matrix", "primal_trace", "tangent_trace"]

_SUBSCRIPT = str.maketrans("-0123456789", "₋₀₁₂₃₄₅₆₇₈₉")
_DOT, _BAR = "\u0307", "\u0304"  # combining dot (tangent v̇) and bar (adjoint v̄)
_INFIX = {"add": "+", "subtract": "−", "multiply": "×", "true_divide": "/", "power": "^"}
_FUNCTION = {"log": "ln", "absolute": "abs"}

INPUT_STYLE = {"shape": "ellipse", "style": "filled", "fillcolor": "#cfe2ff"}
OUTPUT_STYLE = {"shape": "box", "style": "rounded,filled", "fillcolor": "#ffd8b1",
                "peripheries": "2"}
INNER_STYLE = {"shape": "box", "style": "rounded"}
ELIDED_STYLE = {"shape": "box", "style": "dashed", "fontcolor": "#555555"}


# ------------------------------------------------------------------ formatting

def fmt(x: Any, digits: int = 3) -> str:
    """A value as fixed-format text: 3 decimals by default, shapes for big arrays."""
    if isinstance(x, np.ndarray) and x.ndim > 0:
        if x.size > 4:
            return f"array{x.shape}"
        return "[" + ", ".join(fmt(v, digits) for v in x) + "]"  # nested, as NumPy prints
    x = float(x)
    if not np.isfinite(x):
        return str(x)
    if x != 0 and not 10.0 ** -digits <= abs(x) < 1e6:
        return f"{x:.{digits}e}"
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _constant(c: Any) -> str:
    """A constant argument, written as short as it reads: 4, 0.5, (-2), const(3,)."""
    if np.ndim(c) == 0:
        text = f"{float(c):.6g}"
        return f"({text})" if text.startswith("-") else text
    return f"const{np.shape(c)}"


def _index(index: Any) -> str:
    """An index as written between brackets: 0, 1:, 0, 0, ..., const(3,)."""
    if isinstance(index, tuple):
        return ", ".join(_index(i) for i in index)
    if isinstance(index, slice):
        step = "" if index.step is None else f":{index.step}"
        return "".join("" if v is None else str(v) for v in (index.start, ":", index.stop)) + step
    if index is Ellipsis:
        return "..."
    return str(index) if np.ndim(index) == 0 else f"const{np.shape(index)}"


_SHOWN_PARAMETERS = ("axis", "keepdims", "axes", "shape")


def node_name(k: int, n_inputs: int, mark: str = "") -> str:
    """Name of node k: v_{k-n+1}, so inputs are v_{1-n}..v_0; `mark` is ̇ or ̄."""
    return "v" + mark + str(k - n_inputs + 1).translate(_SUBSCRIPT)


def _input_name(i: int, names: Sequence[str] | None, n_inputs: int,
                mark: str = "") -> str:
    """x₁, x₂, ... (or x alone, or the caller's names); `mark` as in node_name."""
    if names is not None and len(names) != n_inputs:
        raise ValueError(f"input_names has {len(names)} names for {n_inputs} inputs")
    if names is not None:  # the mark goes on the letter: w̄₁, not w₁̄
        return names[i][:1] + mark + names[i][1:]
    return "x" + mark + (str(i + 1).translate(_SUBSCRIPT) if n_inputs > 1 else "")


def _record(tape: Tape, k: int) -> tuple:
    """Node k as (primitive, argument values, parent indices, value, params)."""
    return tape.ops[k], tape.args[k], tape.parents[k], tape.values[k], tape.params[k]


def _expression(tape: Tape, k: int) -> str:
    """Right-hand side of node k: 'ln v₋₁', 'v₋₁ × v₀', '4 × v₃', 'sum(v₀)'."""
    prim, args, parents, _, params = _record(tape, k)
    n = len(tape.inputs)
    terms = [node_name(p, n) if p >= 0 else _constant(a) for a, p in zip(args, parents)]
    if prim.name in _INFIX and len(terms) == 2:
        return f"{terms[0]} {_INFIX[prim.name]} {terms[1]}"
    if prim.name == "negative":
        return f"−{terms[0]}"
    if prim.name == "getitem":
        return f"{terms[0]}[{_index(params['index'])}]"
    name = _FUNCTION.get(prim.name, prim.name)
    # The parameters that say which entries a node combines, unless at their
    # defaults (axis=None, keepdims=False); not functions or arrays (fixed_point's F).
    said = [f"{key}={value!r}" for key, value in params.items()
            if key in _SHOWN_PARAMETERS and value is not None and value is not False]
    if len(terms) == 1 and not said:
        return f"{name} {terms[0]}" if not params else f"{name}({terms[0]})"
    return f"{name}({', '.join(terms + said)})"


# ------------------------------------------------------------------ derivatives read off the tape

def local_partials(tape: Tape, k: int) -> list[tuple[int, float | None]]:
    """(parent node, ∂v_k/∂v_parent) for each traced argument of node k.

    The partial is node k's VJP rule for that argument applied to a unit
    cotangent; it is a number only when node k and the argument are scalars
    (None otherwise: a Jacobian, which the pictures show as a shape).
    """
    prim, args, parents, z, params = _record(tape, k)
    if prim is None:
        return []
    out = []
    for pos, j in enumerate(parents):
        if j < 0 or prim.vjp[pos] is None:
            continue
        if shape(z) == () and shape(args[pos]) == ():
            out.append((j, float(prim.vjp[pos](1.0, z, *args, **params))))
        else:
            out.append((j, None))
    return out


def _default_direction(tape: Tape) -> list[Any]:
    """ẋ = e_1: the first input's first entry moves, everything else stays."""
    direction = []
    for i, j in enumerate(tape.inputs):
        t = np.zeros(shape(tape.values[j]))
        if i == 0:
            t.reshape(-1)[:1] = 1.0
        direction.append(float(t) if t.ndim == 0 else t)
    return direction


def forward_tangents(tape: Tape, direction: Sequence[Any] | None = None) -> list[Any]:
    """Tangent v̇ of every node for input tangents `direction` (default e_1).

    One sweep in tape order with the JVP rules: the forward mode of seed 004,
    v̇_k = Σ_j ∂v_k/∂v_j · v̇_j, on the recorded values.
    """
    direction = _default_direction(tape) if direction is None else list(direction)
    if len(direction) != len(tape.inputs):
        raise ValueError(f"direction has {len(direction)} entries but the tape has "
                         f"{len(tape.inputs)} inputs; give one tangent per input")
    tangents: list[Any] = [None] * len(tape)
    for j, t in zip(tape.inputs, direction):
        if shape(t) != shape(tape.values[j]):
            raise ValueError(f"the tangent of input node {j} has shape {shape(t)} but "
                             f"the input has shape {shape(tape.values[j])}")
        tangents[j] = float(t) if np.ndim(t) == 0 else np.asarray(t, dtype=float)
    for k, (prim, args, parents, z, params) in enumerate(tape.records):
        if prim is None:
            continue
        total = None
        for pos, j in enumerate(parents):
            if j < 0 or prim.jvp[pos] is None:
                continue
            c = prim.jvp[pos](tangents[j], z, *args, **params)
            total = c if total is None else total + c
        if total is None:
            total = np.zeros(shape(z)) if shape(z) else 0.0
        elif shape(total) != shape(z):
            total = broadcast_to(total, shape(z))
        tangents[k] = total
    return tangents


# ------------------------------------------------------------------ the graph

class TapeGraph(graphviz.Digraph):
    """A `graphviz.Digraph` whose text form is stable (no memory address).

    Notebooks store the text form next to the picture; a fixed text keeps a
    re-executed lesson byte for byte the same.
    """

    def __repr__(self) -> str:
        nodes = sum(1 for line in self.body if "[label=" in line and "->" not in line)
        return f"<computation graph: {nodes} boxes>"


def draw(tape: Tape, show: str = "value", direction: Sequence[Any] | None = None,
         seed: Any = 1.0, input_names: Sequence[str] | None = None,
         max_nodes: int = 50, digits: int = 3, rankdir: str = "LR") -> TapeGraph:
    """The computation graph of `tape` as a `graphviz.Digraph`.

    One node per tape entry, labelled with its name, its operation and its value;
    `show="tangent"` adds v̇ for input tangents `direction` (default e_1),
    `show="adjoint"` adds v̄ from `tape.backward(seed)`. Each edge carries the
    local partial derivative ∂v_k/∂v_j (scalar nodes) or the shape of the value
    flowing along it (arrays). Inputs are blue ellipses, the output an orange
    double box. A tape longer than `max_nodes` keeps its inputs, its first and
    last operations and collapses the middle into one "… k nodes …" box.
    """
    if show not in ("value", "tangent", "adjoint"):
        raise ValueError(f"show must be 'value', 'tangent' or 'adjoint', got {show!r}")
    if max_nodes < len(tape.inputs) + 3:
        raise ValueError(f"max_nodes={max_nodes} is too small: it must leave room for "
                         f"the {len(tape.inputs)} inputs and three other nodes")
    n_in = len(tape.inputs)
    extra: list[Any] | None = None
    if show == "tangent":
        extra = forward_tangents(tape, direction)
    elif show == "adjoint":
        tape.check_one_output("draw(show='adjoint')")  # a tuple or None: not one output
        extra = tape.backward(seed)
    mark = _DOT if show == "tangent" else _BAR

    hidden = _hidden(tape, max_nodes)
    dot = TapeGraph("tape", graph_attr={"rankdir": rankdir},
                    node_attr={"fontsize": "11"}, edge_attr={"fontsize": "10"})
    group = "elided"
    for k, (prim, value) in enumerate(zip(tape.ops, tape.values)):
        if k in hidden:
            continue
        name = node_name(k, n_in)
        if prim is None:
            i = tape.inputs.index(k)
            # a backslash in a name must stay one: Graphviz reads \n, \l in labels
            label = _input_name(i, input_names, n_in).replace("\\", "\\\\")
            lines = [f"{name} = {label}"]
            style = INPUT_STYLE
        else:
            lines = [f"{name} = {_expression(tape, k)}"]
            style = OUTPUT_STYLE if k == tape.output else INNER_STYLE
        lines.append(fmt(value, digits))
        if extra is not None:
            lines.append(f"{node_name(k, n_in, mark)} = {fmt(extra[k], digits)}")
        dot.node(f"n{k}", label="\\n".join(lines), **style)
    if hidden:
        dot.node(group, label=f"… {len(hidden)} nodes …", **ELIDED_STYLE)
    if _constant_output(tape):  # drawn, unconnected: no input reaches it
        lines = ["y = constant", fmt(tape.output_value, digits)]
        if extra is not None:
            lines.append(f"ẏ = {fmt(zeros_like(tape.output_value), digits)}" if show == "tangent"
                         else f"ȳ = {fmt(np.asarray(seed, dtype=float), digits)}")
        dot.node("y", label="\\n".join(lines), **OUTPUT_STYLE)

    seen: set[tuple[str, str]] = set()
    for k in range(len(tape)):
        if k in hidden:  # its edges are drawn dashed, without numbers
            pairs = [(j, None) for j in tape.parents[k] if j >= 0]
        else:
            pairs = local_partials(tape, k)
        for j, partial in pairs:
            head = group if k in hidden else f"n{k}"
            tail = group if j in hidden else f"n{j}"
            if group in (head, tail):
                if head == tail or (tail, head) in seen:
                    continue
                seen.add((tail, head))
                dot.edge(tail, head, style="dashed")
                continue
            value = tape.values[j]
            label = fmt(partial, digits) if partial is not None else str(shape(value))
            dot.edge(tail, head, label=label)
    return dot


def _hidden(tape: Tape, max_nodes: int) -> set[int]:
    """Indices collapsed into the "… k nodes …" box (none when the tape fits); the
    output is always drawn, wherever it is on the tape."""
    total = len(tape)
    if total <= max_nodes:
        return set()
    start = max(tape.inputs, default=-1) + 1
    keep = max_nodes - start - 1  # one slot for the elided box
    head = keep // 2
    tail = keep - head
    return set(range(start + head, total - tail)) - {tape.output}


def _constant_output(tape: Tape) -> bool:
    """Whether the function returned a number or an array that no input reaches
    (so the tape has no output node, yet the reader should see y)."""
    return tape.output is None and isinstance(
        tape.output_value, (int, float, np.number, np.ndarray))


# ------------------------------------------------------------------ trace tables

def _width(text: str) -> int:
    """Columns `text` takes in a terminal: combining marks (v̇, v̄) take none."""
    return sum(not unicodedata.combining(ch) for ch in text)


class TraceTable:
    """A trace as rows of (node, formula, value): HTML in notebooks, text elsewhere."""

    __slots__ = ("title", "columns", "rows")

    def __init__(self, title: str, columns: Sequence[str],
                 rows: Sequence[Sequence[str]]) -> None:
        self.title = title
        self.columns = tuple(columns)
        self.rows = [tuple(r) for r in rows]

    def __str__(self) -> str:
        widths = [max(_width(c), *(_width(r[i]) for r in self.rows)) if self.rows
                  else _width(c) for i, c in enumerate(self.columns)]

        def line(cells: Sequence[str]) -> str:
            return "  ".join(c + " " * (w - _width(c))
                             for c, w in zip(cells, widths)).rstrip()

        out = [self.title, line(self.columns), line(["-" * w for w in widths])]
        out += [line(r) for r in self.rows]
        return "\n".join(out)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th style='text-align:left'>{esc(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{esc(c)}</td>"
                                        for c in r) + "</tr>" for r in self.rows)
        return (f"<table><caption style='text-align:left'><b>{esc(self.title)}</b>"
                f"</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def primal_trace(tape: Tape, input_names: Sequence[str] | None = None,
                 digits: int = 3) -> TraceTable:
    """The forward primal trace: v_{1-n} = x_1, ..., v_k = op(...), y = v_last."""
    n_in = len(tape.inputs)
    rows = []
    for k, (prim, value) in enumerate(zip(tape.ops, tape.values)):
        name = node_name(k, n_in)
        if prim is None:
            formula = _input_name(tape.inputs.index(k), input_names, n_in)
        else:
            formula = _expression(tape, k)
        rows.append((name, formula, fmt(value, digits)))
    if tape.output is not None:
        rows.append(("y", node_name(tape.output, n_in), fmt(tape.output_value, digits)))
    elif _constant_output(tape):
        rows.append(("y", "constant", fmt(tape.output_value, digits)))
    return TraceTable("Forward primal trace", ("node", "definition", "value"), rows)


def _chain_terms(pairs: Sequence[tuple[str, str, str, str]]) -> tuple[str, str]:
    """Join chain-rule terms: symbols 'a·b + c·d' and numbers '1.000×2.000 + ...'."""
    symbols = " + ".join(f"{a}·{b}" for a, b, _, _ in pairs) or "0"
    numbers = " + ".join(f"{_paren(x)}×{_paren(y)}" for _, _, x, y in pairs) or "0"
    return symbols, numbers


def _paren(number: str) -> str:
    return f"({number})" if number.startswith("-") else number


def _partial_name(k: int, j: int, n_in: int) -> str:
    return f"∂{node_name(k, n_in)}/∂{node_name(j, n_in)}"


def tangent_trace(tape: Tape, direction: Sequence[Any] | None = None,
                  input_names: Sequence[str] | None = None, digits: int = 3) -> TraceTable:
    """The forward tangent trace: v̇_k = Σ_j ∂v_k/∂v_j · v̇_j, in tape order."""
    tangents = forward_tangents(tape, direction)
    n_in = len(tape.inputs)
    rows = []
    for k, prim in enumerate(tape.ops):
        name = node_name(k, n_in, _DOT)
        if prim is None:
            x = _input_name(tape.inputs.index(k), input_names, n_in, _DOT)
            rows.append((name, x, "", fmt(tangents[k], digits)))
            continue
        terms = [(_partial_name(k, j, n_in), node_name(j, n_in, _DOT),
                  "?" if p is None else fmt(p, digits), fmt(tangents[j], digits))
                 for j, p in local_partials(tape, k)]
        symbols, numbers = _chain_terms(terms)
        rows.append((name, symbols, numbers, fmt(tangents[k], digits)))
    if tape.output is not None:
        rows.append(("ẏ", node_name(tape.output, n_in, _DOT), "",
                     fmt(tangents[tape.output], digits)))
    elif _constant_output(tape):
        rows.append(("ẏ", "0 (a constant)", "", fmt(zeros_like(tape.output_value), digits)))
    return TraceTable("Forward tangent trace",
                      ("node", "chain rule", "numbers", "value"), rows)


def adjoint_trace(tape: Tape, seed: Any = 1.0, input_names: Sequence[str] | None = None,
                  digits: int = 3) -> TraceTable:
    """The reverse adjoint trace: v̄_j = Σ_k v̄_k · ∂v_k/∂v_j, from the output back."""
    if tape.output is None:
        tape.check_one_output("adjoint_trace")  # a tuple or None: not one output
        raise ValueError("the tape's output does not depend on its inputs: "
                         "there is nothing to propagate back")
    adjoints = tape.backward(seed)
    n_in = len(tape.inputs)
    children: dict[int, list[tuple[int, float | None]]] = {}
    for k in range(len(tape)):
        for j, p in local_partials(tape, k):
            children.setdefault(j, []).append((k, p))
    rows = []
    for j in range(tape.output, -1, -1):
        name = node_name(j, n_in, _BAR)
        if j == tape.output:
            rows.append((name, "ȳ", "", fmt(adjoints[j], digits)))
            continue
        terms = [(node_name(k, n_in, _BAR), _partial_name(k, j, n_in),
                  fmt(adjoints[k], digits), "?" if p is None else fmt(p, digits))
                 for k, p in children.get(j, [])]
        symbols, numbers = _chain_terms(terms)
        rows.append((name, symbols, numbers, fmt(adjoints[j], digits)))
    for i, j in enumerate(tape.inputs):
        x = _input_name(i, input_names, n_in, _BAR)
        rows.append((x, node_name(j, n_in, _BAR), "", fmt(adjoints[j], digits)))
    return TraceTable("Reverse adjoint trace",
                      ("node", "chain rule", "numbers", "value"), rows)


# ------------------------------------------------------------------ matrices

def plot_matrix(A: Any, labels: Sequence[str] | None = None,
                row_labels: Sequence[str] | None = None,
                col_labels: Sequence[str] | None = None, values: bool = True,
                title: str | None = None, ax: Any = None) -> Any:
    """A labelled picture of a 2-D array (e.g. the Lagrangian system matrix A).

    Nonzero entries are coloured by value (zeros stay white) or, with
    `values=False`, drawn as black squares (the sparsity pattern). Small matrices
    (up to 12 x 12) get each nonzero written in its cell. `labels` names rows and
    columns alike; `row_labels` / `col_labels` name them separately. Returns the
    matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    if hasattr(A, "toarray"):  # a SciPy sparse matrix, as lagrangian.system returns
        A = A.toarray()
    A = np.asarray(A, dtype=float)
    if A.ndim != 2:
        raise ValueError(f"plot_matrix needs a 2-D array, got shape {A.shape}")
    rows_l = row_labels if row_labels is not None else labels
    cols_l = col_labels if col_labels is not None else labels
    for what, lab, n in (("row", rows_l, A.shape[0]), ("column", cols_l, A.shape[1])):
        if lab is not None and len(lab) != n:
            raise ValueError(f"{len(lab)} {what} labels for {n} {what}s")
    if ax is None:
        size = min(10.0, 1.5 + 0.45 * max(A.shape))
        fig, ax = plt.subplots(figsize=(size, size))
    else:
        fig = ax.figure
    nonzero = A != 0
    if values:
        bound = float(np.max(np.abs(A))) if nonzero.any() else 1.0
        shown = np.ma.masked_where(~nonzero, A)
        image = ax.imshow(shown, cmap="coolwarm",
                          norm=TwoSlopeNorm(0.0, -bound, bound))
        fig.colorbar(image, ax=ax, shrink=0.7)
        if max(A.shape) <= 12:
            for (r, c), v in np.ndenumerate(A):
                if v != 0:
                    ax.text(c, r, f"{v:.2g}", ha="center", va="center", fontsize=8)
    else:
        ax.imshow(nonzero, cmap="Greys", vmin=0, vmax=1)
    ax.set_xticks(range(A.shape[1]))
    ax.set_yticks(range(A.shape[0]))
    if cols_l is not None:
        ax.set_xticklabels(cols_l)
    if rows_l is not None:
        ax.set_yticklabels(rows_l)
    ax.xaxis.tick_top()
    ax.set_xticks(np.arange(-0.5, A.shape[1]), minor=True)
    ax.set_yticks(np.arange(-0.5, A.shape[0]), minor=True)
    ax.grid(which="minor", color="#dddddd", linewidth=0.5)
    ax.tick_params(which="minor", length=0)
    if title is not None:
        ax.set_title(title)
    return fig
