"""A tape as plain data, for exercises that read a Wengert list but must not compute it.

Problem set 3 asks students to assemble the Lagrangian system from a tape. The
local partial derivatives on each edge are the business of problem set 2, so
here they come ready-made, read from the reference library's rule table (the
VJP rule of a scalar node applied to the cotangent 1). The function is
`trusted`: student code may call it while the reference library is blocked.
"""

from __future__ import annotations

from typing import Any, Callable

import autodiff_lite as ad

from .sandbox import trusted


def _wengert_list(f: Callable[..., Any], *args: float) -> list[dict]:
    """Run f (written with `autodiff_lite.numpy`) on scalars and list its nodes.

    Each node is a dict: `op` (the primitive's name, "input" for an input),
    `parents` (node numbers of its arguments, constants left out), `partials`
    (∂ node / ∂ parent, one per parent, in the same order) and `value`. A node
    that uses the same parent twice (a * a) lists it twice: add both partials.
    """
    tape = ad.trace(f, *[float(a) for a in args])
    nodes = []
    for prim, vals, parents, value, params in tape.records:
        if ad.core.shape(value) != ():
            raise ValueError("wengert_list handles programs of scalars only; this one "
                             f"has a node of shape {ad.core.shape(value)}")
        if prim is None:
            nodes.append({"op": "input", "parents": [], "partials": [],
                          "value": float(value)})
            continue
        ps, ds = [], []
        for pos, j in enumerate(parents):
            if j >= 0 and prim.vjp[pos] is not None:
                ps.append(j)
                ds.append(float(prim.vjp[pos](1.0, value, *vals, **params)))
        nodes.append({"op": prim.name, "parents": ps, "partials": ds,
                      "value": float(value)})
    return nodes


wengert_list = trusted(_wengert_list)
wengert_list.__doc__ = _wengert_list.__doc__
