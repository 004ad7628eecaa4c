"""Every experiment of models/experiments runs its --smoke path and returns, logs and plots what
it promises: the quantities it measures, of the right shape and finite where they must be, the
JSON log equal to what it returned, and its plot."""
import importlib
import json
import math

import numpy as np
import pytest

from tinygrad_seq.testing import assert_close

pytest.importorskip("matplotlib")


def finite(*values):
    return all(math.isfinite(v) for v in values)


def check_evaluations(records, budget_seconds, every, label):
    """A timed run's evaluation records: from step 0 every ``every`` steps, finite held-out MSE,
    stopped once the training-time budget was spent."""
    steps = [r["step"] for r in records]
    assert steps[0] == 0 and steps == sorted(set(steps)), label
    assert all(s % every == 0 for s in steps[:-1]), label
    seconds = [r["seconds"] for r in records]
    assert seconds == sorted(seconds) and seconds[-1] >= budget_seconds, label  # budget spent
    assert all(r["val"] > 0 and finite(r["val"]) for r in records), label


def read_lines(path):
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


def check_vanishing(result, out):
    plan = ([f"{k} default" for k in ("tanh", "relu", "lstm", "gru", "lstm_fb1")]
            + [f"{k} orthogonal" for k in ("tanh", "relu", "lstm", "gru")]
            + [f"{k} trained" for k in ("tanh", "lstm", "lstm_fb1", "gru")])
    assert list(result) == plan
    for name, measured in result.items():
        ratio = np.array(measured["ratio"])
        assert ratio.shape == (25,) and np.isfinite(ratio).all() and (ratio >= 0).all(), name
        assert_close(ratio[0], 1.0)  # ‖∂L/∂h_T‖ / itself
        if name.endswith("default"):  # at initialisation the gradient fades going back in time
            assert ratio[20] < ratio[1] < 1, name
            jacobian = np.array(measured["jacobian"])
            assert jacobian.shape == (25,) and np.isfinite(jacobian).all() and (jacobian > 0).all()
        else:
            assert measured["jacobian"] is None, name
        trained = measured["adding_val_after_training"]
        assert (len(trained) == 1 and finite(*trained)) if name.endswith("trained") else not trained
        if name.endswith("trained"):
            log = read_lines(out / f"vanishing_train_{name.split()[0]}_0.jsonl")
            assert log[-1]["val"] == trained[0]  # the MSE reported is the training log's last


def check_long_term(result, out):
    assert [(r["kind"], r["T"]) for r in result] == [("tanh", 10), ("gru", 10)]
    from models.experiments.common import solved_at
    for run in result:
        check_evaluations(run["tg"], 1.0, 25, run["kind"])
        assert run["tg_solved_s"] == solved_at(run["tg"]) and "torch" not in run
        assert read_lines(out / f"long_term_T10_{run['kind']}_tg.jsonl") == run["tg"]


def check_exploding(result, out):
    assert list(result) == ["no clipping", "clip_grad_norm_ 1.0", "anomaly"]
    unclipped, clipped = result["no clipping"], result["clip_grad_norm_ 1.0"]
    assert unclipped[0] == clipped[0]  # the same model and batch: only clipping tells them apart
    assert math.isnan(unclipped[-1][0]) and finite(*unclipped[:-1][-1])  # NaN ends that run
    assert len(clipped) == 30 and all(finite(*step) for step in clipped)  # clipped: all 30 steps
    assert max(norm for _, norm in clipped) > 1.0  # so clipping did engage
    assert "forward of op" in result["anomaly"] and "exploding.py" in result["anomaly"]


def check_family(result, out):
    assert list(result) == ["lstm1997", "lstm", "peephole", "gru", "gru_before"]
    for kind, records in result.items():
        check_evaluations(records, 0.5, 25, kind)
        assert all(r["model"] == kind and r["T"] == 8 for r in records)
        assert read_lines(out / f"family_{kind}.jsonl") == records


def check_dropout(result, out):
    keys = {"step", "seconds", "eval", "train", "mc"}
    assert all(set(r) == keys and finite(r["eval"], r["train"], r["mc"]) for r in result)
    check_evaluations([dict(r, val=r["eval"]) for r in result], 0.5, 5, "dropout")
    # eval mode drops nothing and train mode does: the same held-out set scores differently
    assert all(r["eval"] != r["train"] for r in result)


CHECKS = {"vanishing": check_vanishing, "long_term": check_long_term,
          "exploding": check_exploding, "family": check_family, "dropout": check_dropout}


@pytest.mark.parametrize("name", CHECKS)
def test_smoke_run_returns_logs_and_plots_what_the_experiment_promises(name, tmp_path):
    module = importlib.import_module(f"models.experiments.{name}")
    result = module.main(["--smoke", "--out", str(tmp_path)])
    CHECKS[name](result, tmp_path)
    with open(tmp_path / f"{name}.json", encoding="utf-8") as file:
        np.testing.assert_equal(json.load(file), result)  # NaN equals NaN here
    plot = (tmp_path / f"{name}.png").read_bytes()
    assert plot.startswith(b"\x89PNG\r\n\x1a\n") and len(plot) > 1000


def test_adding_problem():
    from models.experiments.common import adding_batch
    x, y = adding_batch(np.random.default_rng(0), 4096, 20)
    assert x.shape == (20, 4096, 2) and y.shape == (4096, 1)
    assert (x[:, :, 1].sum(0) == 2).all() and (x[:10, :, 1].sum(0) == 1).all()
    assert abs(((y - 1) ** 2).mean() - 1 / 6) < 0.01  # the trivial predictor's MSE
