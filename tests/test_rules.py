"""Every row of the rule table against central differences, both modes, orders 1 and 2.

`CASES` maps each primitive to functions that exercise it (with broadcasting where
it applies) and the input ranges where it is smooth. A primitive added to the table
without a case here fails `test_every_primitive_has_a_case`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import autodiff_lite as ad
import autodiff_lite.numpy as anp
from autodiff_lite.rules import RULES, register, sum_to, untake

pytestmark = pytest.mark.library

Shape = tuple[int, ...]
# A case: (name, function, shapes of its arguments, (low, high) of the inputs)
Case = tuple[str, Callable[..., Any], tuple[Shape, ...], tuple[float, float]]

SMOOTH = (-2.0, 2.0)
POSITIVE = (0.3, 3.0)

CASES: dict[str, list[Case]] = {
    "add": [("add broadcast", lambda x, y: x + y, ((2, 3), (3,)), SMOOTH),
            ("add scalar", lambda x, y: x + y, ((), (2, 2)), SMOOTH),
            ("scalar + constant array", lambda x: x + np.ones((2, 2)), ((),), SMOOTH)],
    "subtract": [("sub broadcast", lambda x, y: x - y, ((2, 1), (1, 3)), SMOOTH),
                 ("constant array - scalar", lambda x: np.arange(3.0) - x, ((),), SMOOTH),
                 ("scalar - constant array", lambda x: (x - np.arange(3.0))[1], ((),),
                  SMOOTH)],
    "multiply": [("mul broadcast", lambda x, y: x * y, ((2, 3), (2, 1)), SMOOTH),
                 ("mul scalars", lambda x, y: x * y, ((), ()), SMOOTH)],
    "true_divide": [("div", lambda x, y: x / y, ((3,), (2, 3)), POSITIVE)],
    "power": [("power both traced", lambda x, y: x ** y, ((3,), (3,)), POSITIVE),
              ("power constant exponent", lambda x: x ** 3, ((4,),), SMOOTH),
              ("power array exponent", lambda x: x ** np.array([0.5, 2.0, 3.0]),
               ((3,),), POSITIVE),
              ("constant base", lambda y: 2.0 ** y, ((3,),), SMOOTH)],
    "negative": [("neg", lambda x: -x, ((3,),), SMOOTH)],
    "exp": [("exp", anp.exp, ((3,),), SMOOTH)],
    "log": [("log", anp.log, ((3,),), POSITIVE)],
    "log1p": [("log1p", anp.log1p, ((3,),), (-0.5, 2.0))],
    "sin": [("sin", anp.sin, ((3,),), SMOOTH)],
    "cos": [("cos", anp.cos, ((3,),), SMOOTH)],
    "tan": [("tan", anp.tan, ((3,),), (-1.2, 1.2))],
    "tanh": [("tanh", anp.tanh, ((3,),), SMOOTH)],
    "sqrt": [("sqrt", anp.sqrt, ((3,),), POSITIVE)],
    "absolute": [("abs", anp.abs, ((3,),), POSITIVE), ("abs negative", lambda x: anp.abs(-x),
                                                         ((3,),), POSITIVE)],
    "sign": [("x * sign(x)", lambda x: x * anp.sign(x), ((3,),), POSITIVE)],
    "sigmoid": [("sigmoid", anp.sigmoid, ((3,),), (-4.0, 4.0))],
    "maximum": [("maximum", lambda x, y: anp.maximum(x, y + 10.0), ((3,), (3,)), SMOOTH),
                ("maximum broadcast", lambda x, y: anp.maximum(x + 10.0, y), ((2, 3), ()),
                 SMOOTH)],
    "minimum": [("minimum", lambda x, y: anp.minimum(x, y + 10.0), ((3,), (3,)), SMOOTH)],
    "where": [("where", lambda x, y: anp.where(np.array([True, False, True]), x * x, y),
               ((3,), (3,)), SMOOTH),
              ("where broadcast", lambda x, y: anp.where(np.array([[True], [False]]), x, y),
               ((3,), ()), SMOOTH)],
    "sum": [("sum all", lambda x: anp.sum(x * x), ((2, 3),), SMOOTH),
            ("sum axis", lambda x: anp.sum(x * x, axis=1), ((2, 3),), SMOOTH),
            ("sum axes keepdims", lambda x: anp.sum(x * x, axis=(0, 2), keepdims=True),
             ((2, 3, 2),), SMOOTH),
            ("mean", lambda x: anp.mean(anp.sin(x), axis=0), ((3, 2),), SMOOTH),
            # an axis that is a NumPy integer (from np.argmax, a shape, ...)
            ("sum numpy-integer axis", lambda x: anp.sum(x * x, axis=np.int64(1)),
             ((2, 3),), SMOOTH),
            ("mean numpy-integer axes", lambda x: anp.mean(x * x, axis=[np.int64(0)]),
             ((2, 3),), SMOOTH)],
    "prod": [("prod all", anp.prod, ((4,),), SMOOTH),
             ("prod axis", lambda x: anp.prod(x, axis=0), ((3, 2),), SMOOTH),
             ("prod numpy-integer axis", lambda x: anp.prod(x, axis=np.int32(-1)),
              ((3, 2),), SMOOTH),
             ("prod axis keepdims", lambda x: anp.prod(x, axis=1, keepdims=True) * x,
              ((2, 3),), SMOOTH)],
    "logsumexp": [("logsumexp", anp.logsumexp, ((4,),), SMOOTH),
                  ("logsumexp axis", lambda x: anp.logsumexp(x, axis=1), ((2, 3),), SMOOTH),
                  ("softmax", lambda x: anp.softmax(x, axis=0), ((3, 2),), SMOOTH)],
    "matmul": [("matrix @ matrix", lambda a, b: a @ b, ((2, 3), (3, 2)), SMOOTH),
               ("vector @ matrix", lambda a, b: a @ b, ((3,), (3, 2)), SMOOTH),
               ("matrix @ vector", lambda a, b: a @ b, ((2, 3), (3,)), SMOOTH),
               ("vector @ vector", lambda a, b: a @ b, ((3,), (3,)), SMOOTH),
               ("batched @ matrix", lambda a, b: a @ b, ((2, 2, 3), (3, 2)), SMOOTH),
               ("vector @ batched", lambda a, b: a @ b, ((3,), (2, 3, 2)), SMOOTH),
               ("dot", anp.dot, ((2, 3), (3,)), SMOOTH),
               ("list constants", lambda b: [1.0, 2.0] @ (b @ [0.5, -1.0]), ((2, 2),),
                SMOOTH)],
    "transpose": [("T", lambda x: x.T * x.T, ((2, 3),), SMOOTH),
                  ("axes", lambda x: anp.transpose(x, (1, 2, 0)) ** 2, ((2, 3, 2),), SMOOTH),
                  # negative axes (its VJP inverts the permutation)
                  ("negative axes", lambda x: anp.transpose(x, (0, -1, -2)) ** 2,
                   ((2, 3, 4),), SMOOTH),
                  ("method, negative axes", lambda x: x.transpose(-1, 0, 1) ** 2,
                   ((2, 3, 4),), SMOOTH)],
    "reshape": [("reshape", lambda x: anp.reshape(x * x, (3, 2)), ((2, 3),), SMOOTH),
                ("ravel", lambda x: anp.ravel(anp.sin(x)), ((2, 3),), SMOOTH)],
    "broadcast_to": [("broadcast_to", lambda x: anp.broadcast_to(x, (2, 3)) ** 2, ((3,),),
                      SMOOTH)],
    "sum_to": [("sum_to", lambda x: sum_to(x * x, (1, 3)), ((2, 3),), SMOOTH)],
    "getitem": [("int", lambda x: x[1] * x[0], ((3,),), SMOOTH),
                ("slice", lambda x: x[1:, ::2] ** 2, ((3, 4),), SMOOTH),
                ("fancy with repeats", lambda x: x[np.array([0, 2, 0])] * x[1], ((3,),),
                 SMOOTH),
                ("newaxis", lambda x: x[:, None] * x[None, :], ((3,),), SMOOTH)],
    "untake": [("untake", lambda g: untake(g * g, np.array([0, 2, 0]), (4,)), ((3,),),
                SMOOTH)],
    "concatenate": [("concatenate", lambda x, y: anp.concatenate([x, y * y, x], axis=0),
                     ((2, 2), (1, 2)), SMOOTH),
                    ("concatenate axis 1", lambda x, y: anp.concatenate([x, y], axis=1),
                     ((2, 1), (2, 3)), SMOOTH),
                    ("concatenate flattened", lambda x, y: anp.concatenate([x, y * y],
                                                                           axis=None),
                     ((2, 2), (3,)), SMOOTH)],
    "stack": [("stack", lambda x, y: anp.stack([x, y * x]), ((3,), (3,)), SMOOTH),
              ("stack axis -1", lambda x, y: anp.stack([x, y], axis=-1), ((2,), (2,)),
               SMOOTH),
              ("array of traced", lambda x, y: anp.array([[x, y], [y * y, x]]), ((), ()),
               SMOOTH)],
}

ALL_CASES = [case for cases in CASES.values() for case in cases]


# Rows registered by other modules are tested beside them.
TESTED_ELSEWHERE = {"fixed_point": "test_implicit.py", "checkpoint": "test_checkpoint.py"}


def test_every_primitive_has_a_case() -> None:
    assert set(RULES) - set(CASES) - set(TESTED_ELSEWHERE) == set(), \
        "add a case for each new primitive"
    here = Path(__file__).parent
    for name, test_file in TESTED_ELSEWHERE.items():
        assert name in (here / test_file).read_text(), f"{name} is not tested in {test_file}"


@st.composite
def case_inputs(draw: st.DrawFn, case: Case) -> tuple[Any, ...]:
    _, _, shapes, (low, high) = case
    values = []
    for s in shapes:
        elements = st.floats(low, high, allow_nan=False, allow_infinity=False)
        values.append(draw(elements) if s == () else draw(arrays(np.float64, s,
                                                                 elements=elements)))
    return tuple(values)


@pytest.mark.parametrize("case", ALL_CASES, ids=[c[0] for c in ALL_CASES])
@given(data=st.data())
def test_rule_matches_central_differences(case: Case, data: st.DataObject) -> None:
    args = data.draw(case_inputs(case))
    ad.check_grads(case[1], args, order=2, modes=("fwd", "rev"), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("case", ALL_CASES, ids=[c[0] for c in ALL_CASES])
def test_gradient_has_the_shape_and_type_of_its_input(case: Case) -> None:
    rng = np.random.default_rng(0)
    _, f, shapes, (low, high) = case
    args = tuple(float(rng.uniform(low, high)) if s == () else rng.uniform(low, high, s)
                 for s in shapes)
    grads = ad.grad(lambda *xs: anp.sum(f(*xs)), argnums=tuple(range(len(args))))(*args)
    for x, g in zip(args, grads):
        assert type(g) is type(x)
        assert np.shape(g) == np.shape(x)


def test_a_second_row_of_the_same_name_is_refused() -> None:
    # Another module's row must not silently replace one of the table (re-adding
    # the same row keeps the table as it was, whatever the outcome).
    with pytest.raises(ValueError, match="'exp' is already in the rule table"):
        register(RULES["exp"])
