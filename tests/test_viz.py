"""Tests of autodiff_lite.viz: graph structure and source, trace tables, matrix plots.

Expected numbers are worked out by hand for seed 004's f = ln x1 + x1 x2 - sin x2
at (2, 5) (Haotian Liu, slides on automatic differentiation, 2020), or come from
closed forms; SVG bytes are never compared.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import autodiff_lite as ad  # noqa: E402
import autodiff_lite.numpy as anp  # noqa: E402
from autodiff_lite import viz  # noqa: E402

pytestmark = pytest.mark.viz


def seed004(x1, x2):
    """f = ln x1 + x1 x2 - sin x2, in the order of the slides' primal trace."""
    v1 = anp.log(x1)
    v2 = x1 * x2
    v3 = anp.sin(x2)
    v4 = v1 + v2
    return v4 - v3


@pytest.fixture
def tape():
    return ad.trace(seed004, 2.0, 5.0)


def node_lines(source: str) -> dict[str, str]:
    """node id -> its attribute text, from DOT source (edges excluded)."""
    return dict(re.findall(r"^\s*(n\d+|elided) \[(.*)\]$", source, flags=re.M))


def edge_lines(source: str) -> list[tuple[str, str, str]]:
    return re.findall(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?$", source, flags=re.M)


# ------------------------------------------------------------------ names and numbers

def test_node_names_follow_the_slides():
    assert [viz.node_name(k, 2) for k in range(4)] == ["v₋₁", "v₀", "v₁", "v₂"]
    assert viz.node_name(12, 1) == "v₁₂"


@pytest.mark.parametrize("value, text", [
    (11.6521, "11.652"), (-0.9589, "-0.959"), (0.0, "0.000"), (-1e-9, "-1.000e-09"),
    (2.5e7, "2.500e+07"), (np.array([1.0, -2.0]), "[1.000, -2.000]"),
    (np.zeros((3, 4)), "array(3, 4)"), (-0.0001, "-1.000e-04"),
])
def test_fmt_is_fixed(value, text):
    assert viz.fmt(value) == text


def test_fmt_never_prints_negative_zero():
    assert viz.fmt(-0.0) == "0.000"
    assert viz.fmt(-0.0004, digits=2) == "-4.00e-04"


def test_fmt_switches_format_exactly_at_its_bounds():
    # fixed notation for 10^-digits <= |x| < 10^6, both ends as written
    assert viz.fmt(0.001) == "0.001" and viz.fmt(-0.01, digits=2) == "-0.01"
    assert viz.fmt(999999.0) == "999999.000"
    assert viz.fmt(1e6) == "1.000e+06" and viz.fmt(-3e6) == "-3.000e+06"
    assert [viz.fmt(v) for v in (math.inf, -math.inf, math.nan)] == ["inf", "-inf", "nan"]


def test_fmt_writes_out_arrays_of_up_to_four_numbers():
    assert viz.fmt(np.arange(4.0)) == "[0.000, 1.000, 2.000, 3.000]"
    assert viz.fmt(np.arange(5.0)) == "array(5,)"


# ------------------------------------------------------------------ derivatives read off the tape

def test_local_partials_are_the_hand_derivatives(tape):
    x1, x2 = 2.0, 5.0
    expected = {2: [(0, 1 / x1)], 3: [(0, x2), (1, x1)], 4: [(1, math.cos(x2))],
                5: [(2, 1.0), (3, 1.0)], 6: [(5, 1.0), (4, -1.0)]}
    for k, pairs in expected.items():
        got = viz.local_partials(tape, k)
        assert [j for j, _ in got] == [j for j, _ in pairs]
        assert [p for _, p in got] == pytest.approx([p for _, p in pairs])
    assert viz.local_partials(tape, 0) == []


def test_local_partials_of_array_nodes_are_none():
    t = ad.trace(lambda x: anp.sum(x * x), np.ones(3))
    assert viz.local_partials(t, 1) == [(0, None), (0, None)]
    assert viz.local_partials(t, 2) == [(1, None)]


@settings(max_examples=30, deadline=None)
@given(st.floats(0.1, 5.0), st.floats(-5.0, 5.0), st.floats(-2.0, 2.0),
       st.floats(-2.0, 2.0))
def test_forward_tangents_match_jvp_and_closed_form(x1, x2, r1, r2):
    t = ad.trace(seed004, x1, x2)
    tangents = viz.forward_tangents(t, (r1, r2))
    closed = (1 / x1 + x2) * r1 + (x1 - math.cos(x2)) * r2
    assert tangents[-1] == pytest.approx(closed, rel=1e-9, abs=1e-9)
    assert tangents[-1] == pytest.approx(ad.jvp(seed004, (x1, x2), (r1, r2))[1],
                                         rel=1e-12, abs=1e-12)


def test_forward_tangents_default_to_the_first_input_and_broadcast():
    t = ad.trace(lambda x, y: anp.sum(x * y), np.array([1.0, 2.0]), 3.0)
    tangents = viz.forward_tangents(t)
    assert np.allclose(tangents[0], [1.0, 0.0]) and tangents[1] == 0.0
    assert tangents[-1] == pytest.approx(3.0)  # d/dx0 of 3 (x0 + x1)


def test_forward_tangents_reject_wrong_directions(tape):
    with pytest.raises(ValueError, match="one tangent per input"):
        viz.forward_tangents(tape, (1.0,))
    with pytest.raises(ValueError, match="shape"):
        viz.forward_tangents(tape, (np.ones(2), 0.0))


def test_forward_tangents_skip_constant_arguments():
    # f = 3 x - 1.25: v̇1 = 3 v̇0, v̇2 = v̇1; the constants carry no tangent
    t = ad.trace(lambda x: 3.0 * x - 1.25, 2.0)
    assert viz.forward_tangents(t) == [1.0, 3.0, 3.0]
    assert viz.tangent_trace(t).rows[1][1:] == ("∂v₁/∂v₀·v̇₀", "3.000×1.000", "3.000")


def test_a_tangent_takes_the_shape_of_its_node():
    # x + (1, 1, 1) for a scalar x: the sum's tangent is ẋ in every entry
    tangents = viz.forward_tangents(ad.trace(lambda x: x + np.ones(3), 2.0))
    assert tangents[0] == 1.0
    assert isinstance(tangents[1], np.ndarray) and tangents[1].shape == (3,)
    np.testing.assert_array_equal(tangents[1], [1.0, 1.0, 1.0])


# ------------------------------------------------------------------ draw

def test_draw_has_one_node_per_entry_and_one_edge_per_argument(tape):
    dot = viz.draw(tape)
    nodes = node_lines(dot.source)
    assert sorted(nodes) == [f"n{k}" for k in range(7)]
    edges = [(a, b) for a, b, _ in edge_lines(dot.source)]
    assert sorted(edges) == sorted([("n0", "n2"), ("n0", "n3"), ("n1", "n3"), ("n1", "n4"),
                                    ("n2", "n5"), ("n3", "n5"), ("n5", "n6"), ("n4", "n6")])


def test_draw_labels_ops_values_and_partials(tape):
    src = viz.draw(tape).source
    nodes = node_lines(src)
    assert 'label="v₁ = ln v₋₁\\n0.693"' in nodes["n2"]
    assert 'label="v₂ = v₋₁ × v₀\\n10.000"' in nodes["n3"]
    assert 'label="v₅ = v₄ − v₃\\n11.652"' in nodes["n6"]
    labels = {(a, b): attrs for a, b, attrs in edge_lines(src)}
    assert labels[("n1", "n4")] == f"label={math.cos(5.0):.3f}"  # d sin(x2) / d x2
    assert labels[("n0", "n3")] == "label=5.000"
    assert labels[("n4", "n6")] == "label=-1.000"


def test_draw_distinguishes_inputs_and_output(tape):
    nodes = node_lines(viz.draw(tape).source)
    for k in (0, 1):
        assert "shape=ellipse" in nodes[f"n{k}"] and "#cfe2ff" in nodes[f"n{k}"]
    assert "peripheries=2" in nodes["n6"] and "#ffd8b1" in nodes["n6"]
    for k in range(2, 6):
        assert "peripheries" not in nodes[f"n{k}"] and "filled" not in nodes[f"n{k}"]


def test_draw_tangents_and_adjoints(tape):
    tangent = node_lines(viz.draw(tape, show="tangent").source)
    assert "v̇₅ = 5.500" in tangent["n6"] and "v̇₀ = 0.000" in tangent["n1"]
    tangent2 = node_lines(viz.draw(tape, show="tangent", direction=(0.0, 1.0)).source)
    assert f"v̇₅ = {2 - math.cos(5.0):.3f}" in tangent2["n6"]
    adjoint = node_lines(viz.draw(tape, show="adjoint").source)
    assert "v̄₋₁ = 5.500" in adjoint["n0"]
    assert f"v̄₀ = {2 - math.cos(5.0):.3f}" in adjoint["n1"]
    assert "v̄₃ = -1.000" in adjoint["n4"]


def test_draw_is_deterministic(tape):
    again = ad.trace(seed004, 2.0, 5.0)
    assert viz.draw(tape, show="adjoint").source == viz.draw(again, show="adjoint").source


def test_draw_writes_values_and_partials_with_the_digits_asked_and_turns_as_asked(tape):
    src = viz.draw(tape, digits=1, rankdir="TB").source
    nodes = node_lines(src)
    assert "\\n0.7" in nodes["n2"] and "\\n11.7" in nodes["n6"]  # ln 2, f(2, 5)
    seeded = node_lines(viz.draw(tape, show="adjoint", seed=2.0).source)
    assert "v̄₅ = 2.000" in seeded["n6"] and "v̄₋₁ = 11.000" in seeded["n0"]  # 2 (1/2 + 5)
    labels = {(a, b): attrs for a, b, attrs in edge_lines(src)}
    assert labels[("n0", "n2")] == "label=0.5" and labels[("n1", "n4")] == "label=0.3"  # cos 5
    assert "rankdir=TB" in src and "rankdir=LR" not in src


def test_draw_array_edges_show_shapes_and_constants_inline():
    t = ad.trace(lambda x: anp.sum(4.0 * x), np.ones((2, 3)))
    src = viz.draw(t).source
    nodes = node_lines(src)
    assert "v₁ = 4 × v₀" in nodes["n1"] and "v₂ = sum(v₁)" in nodes["n2"]
    assert "array(2, 3)" in nodes["n0"]
    assert [attrs for _, _, attrs in edge_lines(src)] == ['label="(2, 3)"'] * 2


def test_draw_elides_the_middle_of_long_chains():
    def chain(x):
        for _ in range(100):
            x = anp.sin(x)
        return x
    t = ad.trace(chain, 0.5)
    src = viz.draw(t, max_nodes=20).source
    nodes = node_lines(src)
    assert len(nodes) == 20
    assert "… 82 nodes …" in nodes["elided"]
    assert "n0" in nodes and "n100" in nodes and "peripheries=2" in nodes["n100"]
    dashed = [(a, b) for a, b, attrs in edge_lines(src) if "dashed" in (attrs or "")]
    assert dashed == [("n9", "elided"), ("elided", "n92")]
    assert len(node_lines(viz.draw(t).source)) == 50  # the default keeps 50 boxes


def test_draw_elides_only_what_does_not_fit_and_draws_each_dashed_edge_once():
    def powers(x):
        y = x
        for _ in range(100):
            y = y * x  # x feeds every node, the hidden ones too
        return y
    t = ad.trace(powers, 1.0)
    assert len(t) == 101
    src = viz.draw(t, max_nodes=101).source  # fits exactly: nothing elided
    assert len(node_lines(src)) == 101 and "elided" not in src
    src = viz.draw(t, max_nodes=20).source
    dashed = [(a, b) for a, b, attrs in edge_lines(src) if "dashed" in (attrs or "")]
    # 1 + 9 + 1 + 9 boxes: the elided box holds nodes 10..91
    assert sorted(dashed) == [("elided", "n92"), ("n0", "elided"), ("n9", "elided")]


def test_max_nodes_leaves_room_for_the_inputs_and_three_boxes(tape):
    with pytest.raises(ValueError, match="max_nodes=4 is too small"):
        viz.draw(tape, max_nodes=4)  # 2 inputs + 3 = 5 at least
    nodes = node_lines(viz.draw(tape, max_nodes=5).source)
    # x₁, x₂, v₁, "… 3 nodes …" (v₂, v₃, v₄) and the output v₅
    assert sorted(nodes) == ["elided", "n0", "n1", "n2", "n6"] and "… 3 nodes …" in nodes["elided"]


def test_draw_keeps_an_output_from_the_middle_of_a_long_tape():
    def early_output(x):
        y = x
        for _ in range(50):
            y = anp.sin(y)
        out = y  # node 50 of 101: inside the elided middle
        for _ in range(50):
            y = anp.cos(y)
        return out
    t = ad.trace(early_output, 0.5)
    assert t.output == 50
    nodes = node_lines(viz.draw(t, max_nodes=20).source)
    assert "n50" in nodes and "peripheries=2" in nodes["n50"]
    assert "… 81 nodes …" in nodes["elided"]
    # y is the returned node, not the last one traced: sin applied 50 times to 0.5
    expected = 0.5
    for _ in range(50):
        expected = math.sin(expected)
    assert viz.primal_trace(t).rows[-1] == ("y", "v₅₀", f"{expected:.3f}")


def test_adjoints_of_a_tape_without_one_output_are_refused_by_name():
    pair = ad.trace(lambda x: (x, x * 2.0), 2.0)
    with pytest.raises(TypeError, match="adjoint_trace: the traced function returned tuple"):
        viz.adjoint_trace(pair)
    with pytest.raises(TypeError, match=r"draw\(show='adjoint'\): .*returned tuple"):
        viz.draw(pair, show="adjoint")  # it drew no adjoints, silently
    assert "v̄₀ = 0.000" in viz.draw(ad.trace(lambda x: 3.0, 2.0), show="adjoint").source


def test_every_table_checks_the_number_of_input_names():
    t = ad.trace(lambda a, b: anp.log(a) + a * b - anp.sin(b), 2.0, 5.0)
    for table, names in ((viz.primal_trace, ["a"]), (viz.tangent_trace, ["a"]),
                         (viz.adjoint_trace, ["a", "b", "c"])):
        with pytest.raises(ValueError, match=f"input_names has {len(names)} names for 2"):
            table(t, input_names=names)


def test_a_seed_may_be_a_list_of_numbers():
    t = ad.trace(lambda x: anp.sin(x) * 2.0, np.ones(3))
    np.testing.assert_allclose(t.backward([1.0, 0.0, 0.0])[0], [2.0 * np.cos(1.0), 0.0, 0.0])
    assert "v̄" in str(viz.adjoint_trace(t, seed=[1.0, 0.0, 0.0]))


def test_a_backslash_in_an_input_name_is_drawn_as_one():
    t = ad.trace(lambda a, b: a * b, 2.0, 3.0)
    svg = viz.draw(t, input_names=["w\\l", "b\\"]).pipe(format="svg").decode()
    assert "w\\l</text>" in svg and "b\\</text>" in svg  # not Graphviz's \l, nor a lost line


def test_draw_rejects_bad_options(tape):
    with pytest.raises(ValueError, match="show must be"):
        viz.draw(tape, show="gradient")
    with pytest.raises(ValueError, match="max_nodes"):
        viz.draw(tape, max_nodes=3)
    with pytest.raises(ValueError, match="input_names"):
        viz.draw(tape, input_names=["a"])


def test_draw_renders_with_dot(tape):
    svg = viz.draw(tape, show="adjoint").pipe(format="svg").decode()
    assert svg.count('class="node"') == 7 and svg.count('class="edge"') == 8


# ------------------------------------------------------------------ trace tables

def test_primal_trace_matches_the_slides(tape):
    table = viz.primal_trace(tape)
    values = {name: value for name, _, value in table.rows}
    assert values == {"v₋₁": "2.000", "v₀": "5.000", "v₁": "0.693", "v₂": "10.000",
                      "v₃": "-0.959", "v₄": "10.693", "v₅": "11.652", "y": "11.652"}
    assert table.rows[2][1] == "ln v₋₁" and table.rows[0][1] == "x₁"


def test_tangent_trace_by_hand(tape):
    table = viz.tangent_trace(tape)
    values = [row[-1] for row in table.rows]
    # x = (2, 5), ẋ = (1, 0): v̇1 = 1/2, v̇2 = 5, v̇3 = 0, v̇4 = v̇5 = 5.5
    assert values == ["1.000", "0.000", "0.500", "5.000", "0.000", "5.500", "5.500",
                      "5.500"]
    assert table.rows[3][1] == "∂v₂/∂v₋₁·v̇₋₁ + ∂v₂/∂v₀·v̇₀"
    assert table.rows[3][2] == "5.000×1.000 + 2.000×0.000"
    # v5 = v4 - v3: a negative number in the sum is put in parentheses
    assert table.rows[6][2] == "1.000×5.500 + (-1.000)×0.000"



def test_every_trace_writes_the_digits_asked(tape):
    primal = viz.primal_trace(tape, digits=1).rows
    assert primal[2] == ("v₁", "ln v₋₁", "0.7") and primal[-1] == ("y", "v₅", "11.7")
    assert viz.tangent_trace(tape, digits=1).rows[2][2:] == ("0.5×1.0", "0.5")  # v̇1 = ẋ1 / 2
    adjoint = viz.adjoint_trace(tape, digits=1).rows
    assert adjoint[2] == ("v̄₃", "v̄₅·∂v₅/∂v₃", "1.0×(-1.0)", "-1.0")


def test_adjoint_trace_by_hand(tape):
    table = viz.adjoint_trace(tape)
    got = {row[0]: row[-1] for row in table.rows}
    # v̄5 = 1; v̄4 = 1; v̄3 = -1; v̄2 = v̄1 = 1; v̄0 = x1 - cos 5; v̄-1 = 1/2 + 5
    assert got == {"v̄₅": "1.000", "v̄₄": "1.000", "v̄₃": "-1.000", "v̄₂": "1.000",
                   "v̄₁": "1.000", "v̄₀": f"{2 - math.cos(5.0):.3f}", "v̄₋₁": "5.500",
                   "x̄₁": "5.500", "x̄₂": f"{2 - math.cos(5.0):.3f}"}
    assert [row[0] for row in table.rows][:3] == ["v̄₅", "v̄₄", "v̄₃"]
    assert table.rows[-3][2] == "1.000×0.500 + 1.000×5.000"



def test_adjoint_trace_of_a_node_the_output_does_not_use():
    def unused_branch(x):
        anp.sin(x)  # traced, but y does not depend on it
        return x * 2.0
    rows = viz.adjoint_trace(ad.trace(unused_branch, 1.0)).rows
    assert rows[1] == ("v̄₁", "0", "0", "0.000")
    assert rows[2][3] == "2.000"  # v̄0 = 0 · cos 1 + 1 · 2


def test_trace_table_text_and_html(tape):
    table = viz.primal_trace(tape, input_names=["w₁", "w₂"])
    text = str(table)
    lines = text.splitlines()
    assert lines[0] == "Forward primal trace"
    assert lines[1].split() == ["node", "definition", "value"]
    assert "v₋₁   w₁" in text or "v₋₁  w₁" in text
    html = table._repr_html_()
    assert html.count("<tr>") == 1 + 8 and "<th" in html and "11.652" in html
    assert "&lt;" not in html  # nothing needed escaping here
    assert all(line == line.rstrip() for line in lines)  # no trailing blanks


def test_trace_table_columns_line_up_with_combining_marks():
    # v̇₁ is three code points but two columns: the dot takes none
    table = viz.TraceTable("t", ("a", "b"), [("v\u0307₁", "x"), ("y", "zz")])
    assert str(table).splitlines() == ["t", "a   b", "--  --", "v\u0307₁  x", "y   zz"]
    escaped = viz.TraceTable("a<b", ["c"], [["<x>"]])._repr_html_()
    assert "a&lt;b" in escaped and "&lt;x&gt;" in escaped


def test_a_constant_output_is_shown_as_y():
    t = ad.trace(lambda x: 3.0, 2.0)  # y does not depend on x: no output node
    assert t.output is None
    assert str(viz.primal_trace(t)).splitlines()[-1].split() == ["y", "constant", "3.000"]
    assert str(viz.tangent_trace(t)).splitlines()[-1].split()[0] == "ẏ"
    assert str(viz.tangent_trace(t)).splitlines()[-1].split()[-1] == "0.000"
    assert viz.tangent_trace(t).rows[-1] == ("ẏ", "0 (a constant)", "", "0.000")
    value = re.search(r"^\s*y \[label=\"(.*?)\"", viz.draw(t).source, flags=re.M)
    assert value and value.group(1) == "y = constant\\n3.000"
    tangent = viz.draw(t, show="tangent").source
    assert "ẏ = 0.000" in tangent and "-> y" not in tangent  # no edge reaches it
    assert "ȳ = 2.000" in viz.draw(t, show="adjoint", seed=2.0).source
    arrays = ad.trace(lambda x: np.ones(2), 2.0)
    assert str(viz.primal_trace(arrays)).splitlines()[-1].split()[-2:] == ["[1.000,", "1.000]"]
    pair = ad.trace(lambda x: (x, 1.0), 2.0)  # not one output: no y row
    assert not str(viz.primal_trace(pair)).splitlines()[-1].startswith("y")


def test_adjoint_trace_needs_an_output():
    t = ad.trace(lambda x: 3.0, 1.0)
    with pytest.raises(ValueError, match="does not depend"):
        viz.adjoint_trace(t)


# ------------------------------------------------------------------ plot_matrix

def test_plot_matrix_labels_and_values():
    A = np.array([[1.0, -2.0, 0.0], [0.0, 1.0, 3.0], [0.0, 0.0, 1.0]])
    labels = ["z1", "z2", "z3"]
    fig = viz.plot_matrix(A, row_labels=labels, col_labels=["λ1", "λ2", "λ3"],
                          title="A")
    try:
        ax = fig.axes[0]
        assert [t.get_text() for t in ax.get_yticklabels()] == labels
        assert [t.get_text() for t in ax.get_xticklabels()] == ["λ1", "λ2", "λ3"]
        written = sorted(t.get_text() for t in ax.texts)
        assert written == sorted(["1", "-2", "1", "3", "1"])  # nonzeros only
        shown = ax.images[0].get_array()
        assert np.ma.count_masked(shown) == 4  # the zeros are left blank
        assert ax.get_title() == "A"
        # 1.5 inch plus 0.45 a row: 2.85 inches for three
        np.testing.assert_allclose(fig.get_size_inches(), [2.85, 2.85])
    finally:
        plt.close(fig)


def test_plot_matrix_pattern_and_given_axes():
    fig, ax = plt.subplots()
    try:
        out = viz.plot_matrix(np.triu(np.ones((20, 20))), labels=[f"z{i}" for i in range(20)],
                              values=False, ax=ax)
        assert out is fig
        pattern = np.asarray(ax.images[0].get_array())
        assert pattern.sum() == 20 * 21 / 2 and not ax.texts
        big = viz.plot_matrix(np.eye(40), values=False)
        np.testing.assert_allclose(big.get_size_inches(), [10.0, 10.0])  # at most 10 inches
        plt.close(big)
    finally:
        plt.close(fig)


def test_plot_matrix_draws_a_sparse_matrix_as_its_dense_self():
    import scipy.sparse
    A = np.array([[1.0, -2.0, 0.0], [0.0, 1.0, 3.0], [0.0, 0.0, 1.0]])
    dense, sparse = viz.plot_matrix(A), viz.plot_matrix(scipy.sparse.csr_matrix(A))
    try:
        np.testing.assert_array_equal(sparse.axes[0].images[0].get_array(),
                                      dense.axes[0].images[0].get_array())
    finally:
        plt.close(dense)
        plt.close(sparse)


def test_plot_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        viz.plot_matrix(np.ones(3))
    with pytest.raises(ValueError, match="2 row labels for 3 rows"):
        viz.plot_matrix(np.eye(3), row_labels=["a", "b"])


def test_plot_matrix_colours_symmetrically_and_writes_two_digits():
    A = np.array([[-4.0, 1.234], [0.0, 2.0]])
    fig = viz.plot_matrix(A)
    try:
        ax = fig.axes[0]
        norm = ax.images[0].norm  # zero is white; ±max|A| = ±4 are the ends of the scale
        assert (norm.vmin, norm.vcenter, norm.vmax) == (-4.0, 0.0, 4.0)
        assert sorted(t.get_text() for t in ax.texts) == sorted(["-4", "1.2", "2"])
    finally:
        plt.close(fig)
    for n, written in ((12, 12), (13, 0)):  # numbers in cells up to 12 x 12
        fig = viz.plot_matrix(np.eye(n))
        try:
            assert len(fig.axes[0].texts) == written
        finally:
            plt.close(fig)


def test_trace_rows_show_indices_parameters_and_shapes():
    t = ad.trace(lambda x: anp.sum(x[0] * x[1:, ::2], axis=0, keepdims=True), np.ones((2, 2)))
    rows = {name: (expr, value) for name, expr, value in viz.primal_trace(t).rows}
    assert rows["v₀"][1] == "[[1.000, 1.000], [1.000, 1.000]]"  # a 2 x 2 input, not 4 numbers
    assert rows["v₁"][0] == "v₀[0]" and rows["v₂"][0] == "v₀[1:, ::2]"
    assert rows["v₄"] == ("sum(v₃, axis=0, keepdims=True)", "[[1.000, 1.000]]")
    full = ad.trace(lambda x: anp.sum(x), np.ones(2))  # defaults go unsaid
    assert viz.primal_trace(full).rows[1][1] == "sum(v₀)"
    # and functions, arrays and tolerances are not parameters to show
    implicit = ad.trace(lambda x: ad.fixed_point(lambda z, x: 0.5 * z + x, x, 0.0), 1.0)
    assert viz.primal_trace(implicit).rows[1][1] == "fixed_point(v₀)"


def test_negative_constants_are_parenthesised():
    t = ad.trace(lambda x: x + -2.0, 1.0)
    assert viz.primal_trace(t).rows[1][1] == "v₀ + (-2)"



def test_constants_keep_six_significant_digits_and_ellipsis_reads_as_such():
    t = ad.trace(lambda x: 1.2345 * x, 2.0)
    assert viz.primal_trace(t).rows[1][1:] == ("1.2345 × v₀", "2.469")
    t = ad.trace(lambda x: x[..., 0], np.ones((2, 2)))
    assert viz.primal_trace(t).rows[1][1] == "v₀[..., 0]"



def test_powers_and_absolute_values_are_written_as_on_the_slides():
    rows = viz.primal_trace(ad.trace(lambda x: anp.abs(x) ** 3, -2.0)).rows
    assert [r[1:] for r in rows[1:3]] == [("abs v₀", "2.000"), ("v₁ ^ 3", "8.000")]


def test_custom_input_names_carry_the_mark_on_the_letter(tape):
    rows = viz.adjoint_trace(tape, input_names=["w₁", "w₂"]).rows
    assert [r[0] for r in rows[-2:]] == ["w̄₁", "w̄₂"]
    assert viz.tangent_trace(tape, input_names=["w₁", "w₂"]).rows[0][1] == "w\u0307₁"


def test_the_graph_is_a_digraph_with_a_stable_text_form(tape):
    import graphviz

    dot = viz.draw(tape)
    assert isinstance(dot, graphviz.Digraph)
    assert repr(dot) == "<computation graph: 7 boxes>"
    assert "0x" not in repr(dot)


def test_stored_lessons_hold_no_memory_addresses() -> None:
    # An object's text form ("<graphviz.graphs.Digraph at 0x7f...>") beside its
    # picture changes on every run; lessons show pictures without it.
    address = re.compile(r" at 0x[0-9a-fA-F]+")
    for path in sorted(Path(__file__).parent.parent.joinpath("notebooks").glob("*.ipynb")):
        for k, cell in enumerate(json.loads(path.read_text())["cells"]):
            for out in cell.get("outputs", []):
                text = "".join(out.get("data", {}).get("text/plain", "")) + "".join(
                    out.get("text", ""))
                assert not address.search(text), f"{path.name}, cell {k}: {text[:80]}"
