"""Every experiment of models/experiments runs its --smoke path and draws its plot."""
import importlib

import pytest

pytest.importorskip("matplotlib")


@pytest.mark.parametrize("name", ["vanishing", "long_term", "exploding", "family", "dropout"])
def test_smoke(name, tmp_path):
    module = importlib.import_module(f"models.experiments.{name}")
    result = module.main(["--smoke", "--out", str(tmp_path)])
    assert result
    assert (tmp_path / f"{name}.png").stat().st_size > 1000
    assert (tmp_path / f"{name}.json").exists()


def test_exploding_smoke_finds_the_nan_and_names_the_op(tmp_path):
    from models.experiments import exploding
    result = exploding.main(["--smoke", "--out", str(tmp_path)])
    assert result["no clipping"][-1][0] != result["no clipping"][-1][0]  # NaN
    assert all(loss == loss for loss, _ in result["clip_grad_norm_ 1.0"])
    assert result["anomaly"] and "forward of op" in result["anomaly"]


def test_adding_problem():
    import numpy as np
    from models.experiments.common import adding_batch
    x, y = adding_batch(np.random.default_rng(0), 4096, 20)
    assert x.shape == (20, 4096, 2) and y.shape == (4096, 1)
    assert (x[:, :, 1].sum(0) == 2).all() and (x[:10, :, 1].sum(0) == 1).all()
    assert abs(((y - 1) ** 2).mean() - 1 / 6) < 0.01  # the trivial predictor's MSE
