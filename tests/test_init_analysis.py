"""The initialization analysis of examples/init_variance.py, checked.

The example's own functions are imported (examples/ is put on sys.path), so
the example is what is tested. Statistics come from the kernels
(fastmlp.MLP.layer_stats) on a 15-hidden-layer network of width 128 with a
256-row standard normal batch (the example's default is width 256, batch
512; width 128 keeps this file fast and behaves the same).

Measured ratios across the 15 hidden layers (seed 0 of this configuration,
and the range over seeds 0-3 at width 128/batch 256 and width 256/batch 512):

  activation variance, last / first hidden layer
    tanh  xavier      0.098   (0.087 - 0.098)  slow shrink (tanh curvature)
    tanh  0.5 x xav   4e-9    (3.2e-9 - 4.3e-9) factor ~1/4 per layer
    tanh  2 x xav     0.85    (0.84 - 0.85)     bounded: saturates instead
    relu  he          1.1     (0.70 - 1.13)     constant
    relu  xavier      6.5e-5  (4.2e-5 - 6.9e-5) theory 0.5^14  = 6.1e-5
    relu  0.5 x he    4e-9    (2.6e-9 - 4.2e-9) theory 0.25^14 = 3.7e-9
    relu  2 x he      2.9e8   (1.9e8 - 3.0e8)   theory 4^14    = 2.7e8
  delta (dObj/dz) variance, first / last hidden layer
    tanh  xavier 0.067 (0.048 - 0.067); tanh 2x 51 (51 - 60);
    tanh 0.5x 3.5e-9; relu he 1.6 (0.76 - 1.6); relu 0.5x 5e-9; relu 2x 4e8
  weight-gradient variance, first / last hidden layer
    tanh  xavier 1.1 (1.1 - 1.5); tanh 2x 65 (65 - 95);
    relu: 0.006 - 1.5 for every init (see test_weight_gradients_relu)

Bands are set one to several orders of magnitude around these, so that
they hold for any seed while a wrong init or a wrong statistic (e.g. a
variance of the wrong layer, or of the pre-activations) breaks them.
(14 factors between the first and the 15th hidden layer, hence the ^14.)
"""
import math
import pathlib
import sys

import numpy as np
import pytest


EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))
import init_variance as iv  # noqa: E402

DEPTH, WIDTH, N, SEED = 15, 128, 256, 0


@pytest.fixture(scope="module")
def results():
    return iv.analyze(depth=DEPTH, width=WIDTH, n=N, seed=SEED)


@pytest.fixture(scope="module")
def r(results):
    """ratios[activation][init]"""
    return {act: {init: iv.ratios(p) for init, p in prof.items()}
            for act, prof in results.items()}


def test_profiles_shape_and_values(results):
    assert list(results) == ["tanh", "relu"]
    for act in results:
        assert list(results[act]) == list(iv.INITS)
        for prof in results[act].values():
            for name in iv.QUANTITIES:
                assert prof[name].shape == (DEPTH,)
                assert np.all(np.isfinite(prof[name])) and np.all(prof[name] > 0)


def test_first_layer_matches_theory(results):
    """Hidden layer 1 sees the N(0, 1) inputs: Var(z) = n s^2 = 1 (xavier) or
    2 (he); relu keeps E[a^2] = Var(z)/2 of it, so Var(a) = (1 - 1/pi) Var(z)/2
    = 0.34 Var(z); for tanh, E[tanh(z)^2] with z ~ N(0, 1) is 0.394."""
    relu = results["relu"]
    assert relu["he"]["act_var"][0] == pytest.approx(2 * 0.5 * (1 - 1 / math.pi), rel=0.05)
    assert relu["xavier"]["act_var"][0] == pytest.approx(0.5 * (1 - 1 / math.pi), rel=0.05)
    assert results["tanh"]["xavier"]["act_var"][0] == pytest.approx(0.394, rel=0.05)


# -- forward: activation variance ------------------------------------------

def test_matched_init_keeps_activation_variance(r):
    # relu + he: constant in expectation; measured 0.70 - 1.13.
    assert 0.2 < r["relu"]["he"]["act_var"] < 5
    # tanh + xavier: shrinks slowly (tanh(z)^2 < z^2) but stays far from
    # collapse; measured 0.087 - 0.098 over 15 layers.
    assert 0.02 < r["tanh"]["xavier"]["act_var"] < 0.5


def test_mismatched_init_collapses_or_explodes(r):
    assert r["tanh"]["too small"]["act_var"] < 1e-6    # ~4e-9
    assert r["relu"]["too small"]["act_var"] < 1e-6    # ~4e-9
    assert r["relu"]["xavier"]["act_var"] < 1e-3       # ~6e-5
    assert r["relu"]["too large"]["act_var"] > 1e6     # ~3e8


@pytest.mark.parametrize("init,factor", [("he", 1.0), ("xavier", 0.5), ("glorot", 0.5),
                                         ("too small", 0.25), ("too large", 4.0)])
def test_relu_variance_factor_per_layer(r, init, factor):
    """relu: Var multiplies by n s^2 / 2 per layer; over 14 layers the
    measured log10 ratio is within 1 of 14 * log10(factor) (measured
    within 0.25)."""
    expected = DEPTH - 1
    assert abs(math.log10(r["relu"][init]["act_var"]) - expected * math.log10(factor)) < 1


def test_tanh_too_large_saturates_instead_of_exploding(r):
    # tanh is bounded: the variance stays O(1) (measured 0.85) ...
    assert 0.3 < r["tanh"]["too large"]["act_var"] < 3
    # ... because the units saturate: |a| > 0.99 for ~18% of the first
    # layer's activations against ~1% with xavier.
    X, y = iv.make_batch(N, WIDTH, seed=SEED)
    sat = {init: iv.build("tanh", init, DEPTH, WIDTH, seed=SEED + 1).layer_stats(X)[0]["inactive"]
           for init in ("xavier", "too large")}
    assert sat["too large"] > 0.1 and sat["xavier"] < 0.03


def test_xavier_equals_glorot_for_equal_widths(results):
    # 2 / (n + n) == 1 / n: the hidden layers get the same weights (same
    # seed), only the 128 -> 10 output layer differs.
    for act in results:
        np.testing.assert_array_equal(results[act]["xavier"]["act_var"],
                                      results[act]["glorot"]["act_var"])


# -- backward: deltas and weight gradients ---------------------------------

def test_deltas_vanish_or_explode_toward_the_input(r):
    assert 0.2 < r["relu"]["he"]["delta_var"] < 5         # 1.6
    assert r["relu"]["too small"]["delta_var"] < 1e-6     # 5e-9
    assert r["relu"]["too large"]["delta_var"] > 1e6      # 4e8
    assert 0.01 < r["tanh"]["xavier"]["delta_var"] < 0.3  # 0.067: slow shrink
    assert r["tanh"]["too small"]["delta_var"] < 1e-6     # 3.5e-9
    assert r["tanh"]["too large"]["delta_var"] > 10       # 51: chaotic regime


def test_weight_gradients_tanh(r):
    # Across depth, tanh + xavier weight gradients are flat (1.1), while
    # 2 x xavier makes them grow toward the input (65).
    assert 0.3 < r["tanh"]["xavier"]["grad_var"] < 3
    assert r["tanh"]["too large"]["grad_var"] > 20


def test_weight_gradients_relu(results, r):
    """dW = delta a^T multiplies a forward and a backward product, so for a
    uniformly mis-scaled relu network the layer-to-layer ratio stays O(1)
    (measured 0.58 - 1.5 for xavier and 0.5 x he) although the activations
    change by 1e-9 (Glorot & Bengio's observation); what the scale changes
    is the level at every layer, by ~factor^14: 0.5 x he / he is <= 3e-9 and
    2 x he / he >= 4e8 at every layer (measured)."""
    for init in ("xavier", "too small"):
        assert 0.1 < r["relu"][init]["grad_var"] < 10
    relu = results["relu"]
    assert np.max(relu["too small"]["grad_var"] / relu["he"]["grad_var"]) < 1e-4
    assert np.min(relu["too large"]["grad_var"] / relu["he"]["grad_var"]) > 1e4
    tanh = results["tanh"]
    assert np.max(tanh["too small"]["grad_var"] / tanh["xavier"]["grad_var"]) < 1e-4  # 7e-8


# -- the script itself ------------------------------------------------------

def test_tables_printed(capsys):
    assert iv.main(["--depth", "4", "--width", "16", "--batch", "32", "--no-plot"]) == 0
    out = capsys.readouterr().out
    for act, label in (("tanh", "0.5 x xavier"), ("relu", "2 x he")):
        assert f"{act} network, activation variance per hidden layer" in out
        assert f"{act} network, weight-gradient variance per hidden layer" in out
        assert label in out
    assert out.count("activation last/first") == 2
    assert "figure" not in out


def test_figure_written(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "iv.png"
    assert iv.main(["--depth", "3", "--width", "16", "--batch", "32", "--out", str(out)]) == 0
    assert f"figure written to {out}" in capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image
    # Three rows (activation, delta, weight-gradient variance) x two networks.
    assert matplotlib.image.imread(out).shape == (1100, 1200, 4)


def test_bad_arguments():
    with pytest.raises(SystemExit):
        iv.main(["--depth", "1"])
