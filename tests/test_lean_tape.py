"""The lean tape of `grad` and `vjp`: it keeps only what the backward sweep reads."""

from __future__ import annotations

import dis
from functools import partial
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from autodiff_lite import Primitive
from autodiff_lite.cost import peak_memory
from autodiff_lite.reverse import Tape, _unread

pytestmark = pytest.mark.library

N = 5000


def loop(v: Any, rounds: int = 20) -> Any:
    for _ in range(rounds):
        v = anp.tanh(v) * 0.9 + v * 0.1
    return anp.sum(v)


def record(f: Any, x: Any, lean: bool) -> Tape:
    tape = Tape(lean=lean)
    tape.set_output(f(tape.new_input(x)))
    return tape


def arrays_kept(tape: Tape) -> int:
    """Distinct arrays the tape holds on to (values and arguments)."""
    held = {id(v) for v in tape.values if isinstance(v, np.ndarray)}
    held |= {id(a) for args in tape.args for a in args if isinstance(a, np.ndarray)}
    return len(held)


def test_a_lean_tape_keeps_one_array_per_round_of_the_loop() -> None:
    x = np.linspace(-2.0, 2.0, N)
    full, lean = record(loop, x, lean=False), record(loop, x, lean=True)
    assert len(full) == len(lean) == 1 + 20 * 4 + 1
    # full: every input and output of the 4 operations per round
    assert arrays_kept(full) >= 20 * 4
    # lean: tanh's output in each round (its VJP is g·(1 - z²)), the input, and
    # the last v, whose shape sum's VJP reads
    assert arrays_kept(lean) == 20 + 2
    for a, b in zip(full.input_adjoints(), lean.input_adjoints()):
        np.testing.assert_array_equal(a, b)


def test_grad_keeps_less_memory_than_the_full_tape() -> None:
    x = np.linspace(-2.0, 2.0, N)
    _, lean_peak = peak_memory(lambda: ad.grad(loop)(x))
    full_peak = peak_memory(lambda: record(loop, x, lean=False).input_adjoints())[1]
    one_array = 8 * N
    assert lean_peak < 30 * one_array  # 20 rounds: one array each, plus a few
    assert full_peak > 60 * one_array


def test_what_a_rule_reads_is_read_off_its_code() -> None:
    mul = ad.RULES["multiply"]
    assert _unread(mul, (True, False)) == (True, (0,))    # d/dx of x·y reads y only
    assert _unread(mul, (True, True)) == (True, ())        # both: x and y
    assert _unread(ad.RULES["tanh"], (True,)) == (False, (0,))  # g·(1 - z²)
    assert _unread(ad.RULES["exp"], (True,)) == (False, (0,))  # g·z: the output
    assert _unread(ad.RULES["add"], (True, True)) == (True, (0, 1))


def test_a_load_fused_with_a_store_counts_as_a_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # Python 3.13 compiles `t = g * 2.0; return y * t` with STORE_FAST_LOAD_FAST
    # (store t, load y); as 3.11 does not, the instructions are played here.
    def rule(g: Any, z: Any, x: Any, y: Any) -> Any:
        t = g * 2.0
        return y * t

    fused = [SimpleNamespace(opname="LOAD_FAST", argval="g"),
             SimpleNamespace(opname="STORE_FAST_LOAD_FAST", argval=("t", "y")),
             SimpleNamespace(opname="LOAD_FAST", argval="t")]
    monkeypatch.setattr(dis, "get_instructions", lambda code: iter(fused))
    prim = Primitive("test_fused", lambda x, y: x * y, (None, None), (rule, None))
    assert _unread(prim, (True, False)) == (True, (0,))  # y is read, x is not


def test_rules_that_hide_what_they_read_keep_everything() -> None:
    def nested_reader(g: Any, z: Any, x: Any) -> Any:
        return (lambda: g * x)()  # x is read by an inner function

    def star(g: Any, z: Any, *args: Any) -> Any:
        return g * args[0]

    identity = lambda t, z, x: t  # noqa: E731
    for rule in (nested_reader, star, partial(lambda i, g, z, x: g * x, 0)):
        prim = Primitive("test_reads", lambda x: x, (identity,), (rule,))
        drop_out, drop_args = _unread(prim, (True,))
        assert drop_args == ()
    x = np.linspace(0.5, 1.5, 7)
    prim = Primitive("test_nested", lambda x: x * x, (identity,), (nested_reader,))
    tape = record(lambda v: ad.core.bind(prim, v), x, lean=True)
    assert tape.args[1][0] is x


@pytest.mark.parametrize("f", [
    lambda x: anp.sum(anp.exp(x) * x),
    lambda x: anp.sum(anp.sin(x) / (1.0 + x * x)),
    lambda x: anp.sum(anp.sqrt(x) ** 3 + anp.log(x)),
    lambda x: anp.logsumexp(x * 2.0) + anp.prod(x[:3]),
    lambda x: anp.sum(anp.reshape(anp.maximum(x, 1.0) * x, (2, 3)).T @ np.ones(2)),
])
def test_lean_and_full_tapes_give_the_same_gradients(f: Any) -> None:
    x = np.linspace(0.5, 1.5, 6)
    full, lean = record(f, x, lean=False), record(f, x, lean=True)
    # equal up to rounding: a lean tape's logsumexp computes its softmax from saved
    # exponentials, a full tape's from exp(x - z)
    np.testing.assert_allclose(full.input_adjoints()[0], lean.input_adjoints()[0],
                               rtol=1e-14, atol=1e-15)
    ad.check_grads(f, (x,), order=2, modes=("rev",))  # lean tapes, nested


def test_grad_does_not_copy_its_input_and_a_pullback_does() -> None:
    """grad uses its tape up before returning, so a float64 input is not copied
    (a copy of a large input costs as much as a few operations on it); a pullback
    and a trace outlive the call, so they keep their own copy of the input."""
    x = np.linspace(0.1, 1.0, N)
    seen = []

    def f(v: Any) -> Any:
        seen.append(ad.primal(v))
        return anp.sum(v * v)

    ad.grad(f)(x)
    ad.vjp(f, x)
    assert seen[0] is x and seen[1] is not x
    y = x.copy()
    out, pullback = ad.vjp(lambda v: anp.sin(v) * v, y)
    tape = ad.trace(lambda v: anp.sum(anp.sin(v)), y)
    expected = pullback(np.ones(N))
    y[:] = 7.0  # the caller changes its array afterwards
    np.testing.assert_array_equal(pullback(np.ones(N)), expected)
    np.testing.assert_array_equal(tape.values[0], x)
    np.testing.assert_allclose(ad.grad(lambda v: anp.sum(v * v))(x), 2 * x)


@pytest.mark.parametrize("axis, keepdims", [(None, False), (None, True), (0, False),
                                            (1, True), ((0, 1), False), (-1, False)])
def test_logsumexp_on_a_lean_tape_saves_its_exponentials_not_x(axis: Any,
                                                               keepdims: bool) -> None:
    """Its VJP (the softmax) then needs no second exp; gradients as on a full tape."""
    x = np.random.default_rng(2).standard_normal((3, 4)) * 3.0

    def f(v: Any) -> Any:
        return anp.sum(anp.sin(anp.logsumexp(v * 1.5, axis, keepdims)))

    full, lean = record(f, x, lean=False), record(f, x, lean=True)
    (k,) = [k for k, node in enumerate(lean.nodes) if node.op == "logsumexp"]
    exps, sums = lean.args[k][0]  # the residual: a constant, first argument
    assert lean.parents[k][0] == -1 and lean.nodes[k].parents == (k - 1,)
    np.testing.assert_allclose(exps / sums, np.exp(1.5 * x - ad.primal(
        anp.logsumexp(1.5 * x, axis, True))), rtol=1e-14)
    assert not isinstance(lean.args[k][1], np.ndarray)  # x: its shape only
    np.testing.assert_allclose(lean.input_adjoints()[0], full.input_adjoints()[0],
                               rtol=1e-13, atol=1e-15)
    ad.check_grads(f, (x,), order=2, modes=("fwd", "rev"))  # nested: no residual
    # the saved row's rules against the plain row's, on x itself
    plain = ad.RULES["logsumexp"]
    impl_saving, saved = plain.saving
    z, r = impl_saving(x, axis, keepdims)
    rng = np.random.default_rng(3)
    t, g = rng.standard_normal(x.shape), rng.standard_normal(np.shape(z))
    np.testing.assert_allclose(saved.jvp[1](t, z, r, x, axis, keepdims),
                               plain.jvp[0](t, z, x, axis, keepdims), rtol=1e-12)
    np.testing.assert_allclose(saved.vjp[1](g, z, r, x, axis, keepdims),
                               plain.vjp[0](g, z, x, axis, keepdims), rtol=1e-12)
    assert saved.impl(r, x, axis, keepdims) == pytest.approx(z, rel=1e-15)


def test_shape_reads_stand_ins_and_numpy_scalars_without_numpy() -> None:
    """The backward sweep asks for the shape of every dropped argument."""
    from autodiff_lite.core import shape
    from autodiff_lite.reverse import _shape_of

    assert shape(_shape_of(np.zeros((3, 4)))) == (3, 4)
    assert shape(np.float64(2.0)) == () and shape(2) == () and shape([[1, 2]]) == (1, 2)
