"""A small symbolic differentiator, to show what automatic differentiation is *not*.

Expressions are trees built with Python operators and this module's functions:

    x = var("x")
    e = exp(x) + exp(x) ** 2
    diff(e, x)            # exp(x) + 2 * exp(x) * exp(x)

`diff` applies the calculus textbook's rules (sum, product, quotient, power and
chain rules) and folds 0s, 1s and constants, nothing more (0 * e folds to 0 even
where e would be infinite or nan, as in computer algebra): a formula has no
intermediate variables, so a subexpression used twice is written out twice, and so
is its derivative. `tree_size` counts the nodes of an expression written out
in full, each repetition counted again; `dag_size` counts its distinct
subexpressions. The gap between them, and the growth of `tree_size(diff(...))`
next to the linear length of a tape, is the *expression swell* of Haotian Liu's
slides (2020) and the reason Tim Vieira ("Backprop is not just the chain rule",
2017) prefers differentiating programs to differentiating flat formulas.

The rules below act on expression trees for teaching; the AD engines never use
them (they read `autodiff_lite.rules`).

Nodes are hash-consed: building the same expression twice returns the same
object. This only saves memory and time (a derivative tree with 10^6 nodes
written out has far fewer distinct parts); what is counted and printed is the
tree.
"""

from __future__ import annotations

import collections
import keyword
import weakref
from typing import Any, Callable

import numpy as np

from .rules import power_p, true_divide_p

__all__ = ["Expr", "const", "cos", "dag_size", "diff", "evaluate", "exp", "log",
           "sin", "tanh", "tree_size", "var"]

FUNCTIONS = ("exp", "log", "sin", "cos", "tanh")
_NUMPY: dict[str, Callable[[Any], Any]] = {
    "exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos, "tanh": np.tanh}
# binding strength, for printing with the fewest parentheses
_PRECEDENCE = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4}
_SYMBOL = {"add": " + ", "sub": " - ", "mul": " * ", "div": " / "}


class Expr:
    """One node of an expression: an operation, its argument nodes and, for a
    constant, variable or power, its value (the number, the name, the exponent).

    Build expressions with `var`, `const`, Python operators (+ - * / unary -,
    ** with an integer exponent) and the functions exp, log, sin, cos, tanh.
    """

    __slots__ = ("op", "args", "value", "__weakref__")
    _interned: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    op: str
    args: tuple[Expr, ...]
    value: Any

    def __new__(cls, op: str, args: tuple[Expr, ...] = (), value: Any = None) -> Expr:
        key = (op, value, tuple(id(a) for a in args))  # children are kept alive
        node = cls._interned.get(key)
        if node is None:
            node = super().__new__(cls)
            node.op, node.args, node.value = op, args, value
            cls._interned[key] = node
        return node

    # ---- Python operators build (lightly simplified) expressions
    def __add__(self, other: Any) -> Expr: return _add(self, _wrap(other))
    def __radd__(self, other: Any) -> Expr: return _add(_wrap(other), self)
    def __sub__(self, other: Any) -> Expr: return _sub(self, _wrap(other))
    def __rsub__(self, other: Any) -> Expr: return _sub(_wrap(other), self)
    def __mul__(self, other: Any) -> Expr: return _mul(self, _wrap(other))
    def __rmul__(self, other: Any) -> Expr: return _mul(_wrap(other), self)
    def __truediv__(self, other: Any) -> Expr: return _div(self, _wrap(other))
    def __rtruediv__(self, other: Any) -> Expr: return _div(_wrap(other), self)
    def __neg__(self) -> Expr: return _neg(self)
    def __pos__(self) -> Expr: return self

    def __pow__(self, n: Any) -> Expr:
        if isinstance(n, Expr) and n.op == "const":
            n = n.value
        if isinstance(n, float) and n.is_integer():
            n = int(n)
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
            raise TypeError(f"only integer powers are supported, got ** {n!r}; "
                            "write exp(y * log(x)) for x ** y")
        return _pow(self, int(n))

    def __reduce__(self) -> tuple:
        # copy and pickle through __new__, so that a copy is the interned node again
        return (Expr, (self.op, self.args, self.value))

    def __str__(self) -> str:
        return _to_text(self)

    def __repr__(self) -> str:
        return f"Expr({_to_text(self)})"

    def __bool__(self) -> bool:
        raise TypeError("an expression has no truth value; compare evaluate(...) "
                        "results instead")


# ------------------------------------------------------------------ building

def var(name: str) -> Expr:
    """A variable called `name` (a Python identifier, so evaluate(e, name=...) works)."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"a variable name must be a Python identifier that is not a "
                         f"keyword, got {name!r}")
    return Expr("var", (), name)


def const(c: float) -> Expr:
    """A constant number."""
    c = float(c)
    return Expr("const", (), 0.0 if c == 0 else c)  # one zero, never -0.0


def _wrap(x: Any) -> Expr:
    if isinstance(x, Expr):
        return x
    if isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool):
        return const(x)
    raise TypeError(f"cannot use a {type(x).__name__} in a symbolic expression; "
                    "use numbers, var(...) and this module's functions")


def _is(e: Expr, c: float) -> bool:
    return e.op == "const" and e.value == c


def _add(a: Expr, b: Expr) -> Expr:
    if a.op == "const" and b.op == "const":
        return const(a.value + b.value)
    if _is(a, 0):
        return b
    if _is(b, 0):
        return a
    if b.op == "neg":  # a + (-b) is a - b
        return _sub(a, b.args[0])
    return Expr("add", (a, b))


def _sub(a: Expr, b: Expr) -> Expr:
    if a.op == "const" and b.op == "const":
        return const(a.value - b.value)
    if _is(b, 0):
        return a
    if _is(a, 0):
        return _neg(b)
    if b.op == "neg":  # a - (-b) is a + b
        return _add(a, b.args[0])
    return Expr("sub", (a, b))


def _mul(a: Expr, b: Expr) -> Expr:
    if a.op == "const" and b.op == "const":
        return const(a.value * b.value)
    if _is(a, 0) or _is(b, 0):
        return const(0.0)
    if _is(a, 1):
        return b
    if _is(b, 1):
        return a
    if _is(a, -1):
        return _neg(b)
    if _is(b, -1):
        return _neg(a)
    return Expr("mul", (a, b))


def _div(a: Expr, b: Expr) -> Expr:
    if _is(b, 0):
        raise ZeroDivisionError("symbolic division by the constant 0")
    if a.op == "const" and b.op == "const":
        return const(a.value / b.value)
    if _is(a, 0):
        return const(0.0)
    if _is(b, 1):
        return a
    return Expr("div", (a, b))


def _neg(a: Expr) -> Expr:
    if a.op == "const":
        return const(-a.value)
    if a.op == "neg":
        return a.args[0]
    return Expr("neg", (a,))


def _pow(a: Expr, n: int) -> Expr:
    if n == 0:
        return const(1.0)
    if n == 1:
        return a
    if a.op == "const":
        if a.value == 0 and n < 0:
            raise ZeroDivisionError("symbolic division by the constant 0 (0 ** negative)")
        return const(_power(a.value, n))
    return Expr("pow", (a,), n)


def _function(name: str) -> Callable[[Any], Any]:
    np_fn = _NUMPY[name]

    def fn(x: Any) -> Any:
        if isinstance(x, Expr):
            if x.op == "const":
                return const(np_fn(x.value))
            return Expr(name, (x,))
        return np_fn(x)  # numbers pass straight through

    fn.__name__ = name
    fn.__doc__ = f"{name} of an expression (or of a number)."
    return fn


exp = _function("exp")
log = _function("log")
sin = _function("sin")
cos = _function("cos")
tanh = _function("tanh")


# ------------------------------------------------------------------ differentiation

def diff(expr: Expr, x: Expr | str) -> Expr:
    """d expr / d x by the textbook rules, with 0/1 and constant folding only."""
    expr = _wrap(expr)
    name = x if isinstance(x, str) else x.value if isinstance(x, Expr) and x.op == "var" \
        else None
    if name is None:
        raise TypeError(f"differentiate with respect to a variable, got {x!r}")
    # Children before parents, each distinct subexpression once (nodes are
    # hash-consed), in a loop: a chain thousands deep does not recurse.
    done: dict[Expr, Expr] = {}
    for e in _postorder(expr):
        op, args = e.op, e.args
        if op == "const":
            out = const(0.0)
        elif op == "var":
            out = const(1.0 if e.value == name else 0.0)
        elif op == "add":
            out = done[args[0]] + done[args[1]]
        elif op == "sub":
            out = done[args[0]] - done[args[1]]
        elif op == "neg":
            out = -done[args[0]]
        elif op == "mul":  # product rule
            a, b = args
            out = done[a] * b + a * done[b]
        elif op == "div":  # quotient rule
            a, b = args
            out = (done[a] * b - a * done[b]) / b ** 2
        elif op == "pow":  # power rule with the chain rule
            (a,) = args
            out = e.value * a ** (e.value - 1) * done[a]
        else:  # a function of one argument: outer derivative times inner
            (a,) = args
            out = _outer_derivative(op, a) * done[a]
        done[e] = out
    return done[expr]


def _outer_derivative(op: str, a: Expr) -> Expr:
    if op == "exp":
        return exp(a)
    if op == "log":
        return 1 / a
    if op == "sin":
        return cos(a)
    if op == "cos":
        return -sin(a)
    if op == "tanh":
        return 1 - tanh(a) ** 2
    raise ValueError(f"no derivative rule for {op!r}")


# ------------------------------------------------------------------ reading

def evaluate(expr: Expr | float, /, **values: Any) -> Any:
    """The value of `expr` with each variable given as a keyword (floats or arrays).

    Python floats follow NumPy at the edges, as the rest of the library does:
    1/0 is inf and 10.0**400 overflows to inf, with NumPy's warning, not an error.
    Arrays are points to evaluate at, so the value has one entry per point even
    where `expr` leaves a variable out: the derivative of 3·x is 3 at every x.
    """
    expr = _wrap(expr)
    memo: dict[Expr, Any] = {}
    for node in _postorder(expr):
        op = node.op
        if op == "const":
            v = node.value
        elif op == "var":
            if node.value not in values:
                raise KeyError(f"no value given for the variable {node.value!r}; "
                               f"call evaluate(expr, {node.value}=...)")
            v = values[node.value]
        else:
            a = [memo[c] for c in node.args]
            if op == "add":
                v = a[0] + a[1]
            elif op == "sub":
                v = a[0] - a[1]
            elif op == "mul":
                v = a[0] * a[1]
            elif op == "div":
                v = _divide(a[0], a[1])
            elif op == "neg":
                v = -a[0]
            elif op == "pow":
                v = _power(a[0], node.value)
            else:
                v = _NUMPY[op](a[0])
        memo[node] = v
    value = memo[expr]
    try:
        points = np.broadcast_shapes(*map(np.shape, values.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in values.items())
        raise ValueError(f"evaluate: the values' shapes do not broadcast together "
                         f"({shapes}), so they are not one set of points") from None
    if np.shape(value) != points:
        value = np.broadcast_to(value, points).copy()
    return value


# Python's arithmetic, and NumPy's where Python's raises on floats (x / 0,
# overflow in x ** n): the rule table's own values, as the engines compute them
_divide = true_divide_p.impl
_power = power_p.impl


def tree_size(expr: Expr) -> int:
    """Nodes of the expression written out in full: a repeated part counts each time."""
    sizes: dict[Expr, int] = {}
    for node in _postorder(_wrap(expr)):
        sizes[node] = 1 + sum(sizes[c] for c in node.args)
    return sizes[_wrap(expr)]


def dag_size(expr: Expr) -> int:
    """Distinct subexpressions: the size if every repeated part were computed once."""
    return len(_postorder(_wrap(expr)))


def _postorder(expr: Expr) -> list[Expr]:
    """Distinct nodes, children before parents (a loop: deep trees do not recurse)."""
    order: list[Expr] = []
    seen: set[int] = set()
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in reversed(node.args) if id(c) not in seen)
    return order


def _to_text(expr: Expr) -> str:
    """Python-syntax text with the fewest parentheses the precedences allow.

    A node's text is dropped once every node that uses it has been written, so
    a chain n deep holds O(n) characters at a time, not the O(n²) of every prefix.
    """
    text: dict[Expr, tuple[str, int]] = {}  # node -> (text, precedence)
    order = _postorder(expr)
    uses = collections.Counter(child for node in order for child in node.args)
    for node in order:
        op = node.op
        if op == "const":
            s = f"{node.value:g}"  # short where that is exact: 2, 0.5, 1e+06
            if not np.isfinite(node.value):  # folded past the floats: inf is no Python name
                s = f"float('{node.value:g}')"
            elif float(s) != node.value:
                s = repr(float(node.value))  # else every digit: the text is Python
            text[node] = (s, 3 if s.startswith("-") else 5)
        elif op == "var":
            text[node] = (node.value, 5)
        elif op in _SYMBOL:
            p = _PRECEDENCE[op]
            (ls, lp), (rs, rp) = text[node.args[0]], text[node.args[1]]
            left = f"({ls})" if lp < p else ls
            right_op = node.args[1].op
            associative = op in ("add", "mul") and right_op == op
            right = f"({rs})" if rp < p or (rp == p and not associative) else rs
            text[node] = (f"{left}{_SYMBOL[op]}{right}", p)
        elif op == "neg":
            s, p = text[node.args[0]]
            text[node] = (f"-({s})" if p < 4 else f"-{s}", 3)
        elif op == "pow":
            s, p = text[node.args[0]]
            base = f"({s})" if p <= 4 else s
            exponent = f"{node.value}" if node.value >= 0 else f"({node.value})"
            text[node] = (f"{base}**{exponent}", 4)
        else:
            text[node] = (f"{op}({text[node.args[0]][0]})", 5)
        for child in node.args:
            uses[child] -= 1
            if not uses[child]:
                del text[child]
    return text[expr][0]
