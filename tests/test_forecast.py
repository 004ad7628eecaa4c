"""The forecaster's targets: changes and log returns and their inverse, the series cut into
targets without a look at the test part, AR(20) fitted on the same target, the RMSE of the rebuilt
levels in the series' own units, old (level) checkpoints, and bad --target choices; on synthetic
series (nothing is fetched) and the monthly sunspots' parser on a tiny gzipped file."""
import gzip
import os

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from cli_cases import refused
from models import forecast
from models.data import pins, series as series_data
from models.forecast_targets import LAG, TARGETS, check_values, to_level, to_target
from tinygrad_seq import train as trainer
from tinygrad_seq.testing import assert_close

pytest.importorskip("matplotlib", reason="the train extra (tqdm, matplotlib) is not installed")


def cycle(n=160, floor=2.0):
    """A positive series with a cycle, a trend (levels leave their training range) and noise (so
    that no AR(20) fits it exactly)."""
    steps = np.arange(n)
    return floor + 0.05 * steps + 5 * (1 + np.sin(steps * 0.4)) + 0.3 * np.random.default_rng(0).standard_normal(n)


@pytest.fixture(autouse=True)
def synthetic_sources(monkeypatch, tmp_path):
    monkeypatch.delenv(trainer.MINUTES_ENV, raising=False)
    monkeypatch.chdir(tmp_path)  # any runs/ lands here
    monkeypatch.setattr(forecast, "SOURCES", {
        "sunspots": lambda: np.maximum(0.0, 10 * np.sin(np.arange(160) * 0.3))[:, None],  # zeros, as sunspots
        "stocks": lambda: np.stack([cycle(), 3 * cycle()[::-1]], axis=1)})
    monkeypatch.setitem(forecast.COLUMN_NAMES, "stocks", ("UP", "DOWN"))

# ---------------------------------------------------------------- the targets and their inverse


@given(st.lists(st.integers(-2 ** 20, 2 ** 20), min_size=2, max_size=40))
def test_change_and_its_inverse_round_trip_exactly(eighths):
    values = np.array(eighths, dtype=np.float64) / 8    # exact in binary: no rounding anywhere
    changes = to_target(values, "change")
    assert changes.tolist() == [b - a for a, b in zip(values[:-1], values[1:])]
    assert to_level(values[:-1], changes, "change").tolist() == values[1:].tolist()


@given(st.lists(st.floats(1e-3, 1e6), min_size=2, max_size=40), st.sampled_from(["change", "log-return"]))
def test_any_series_round_trips_to_float64_rounding(values, kind):
    values = np.array(values)
    rebuilt = to_level(values[:-1], to_target(values, kind), kind)
    # change: one subtraction and one addition of values up to max|x|; log return: log, exp, product
    assert_close(rebuilt, values[1:], terms=2 if kind == "change" else 4,
                 scale=float(np.abs(values).max()) if kind == "change" else None)


def test_levels_are_their_own_target_and_persistence_is_the_zero_change():
    values = np.array([3.0, 5.0, 4.0])
    assert to_target(values, "level").tolist() == [3.0, 5.0, 4.0]
    assert to_level([99.0] * 3, values, "level").tolist() == [3.0, 5.0, 4.0]
    for kind in ("change", "log-return"):
        assert to_level(values[:-1], np.zeros(2), kind).tolist() == forecast.persistence(values, [1, 2]).tolist()
    assert [LAG[kind] for kind in TARGETS] == [1, 1, 0]


def test_targets_that_cannot_be_made_are_refused_by_name():
    with pytest.raises(ValueError, match="log returns need positive values; step 2 is 0"):
        check_values([4.0, 1.0, 0.0, 2.0], "log-return")
    with pytest.raises(ValueError, match="unknown target kind 'diff'"):
        to_target([1.0, 2.0], "diff")
    with pytest.raises(ValueError, match="one previous level a prediction"):
        to_level([1.0], [1.0, 2.0], "change")

# ---------------------------------------------------------------- the series, cut into targets


@pytest.mark.parametrize("target", TARGETS)
def test_the_series_targets_windows_and_scaling_come_from_the_training_part_only(target):
    series = forecast.Series("stocks", window=20, target=target)
    table = forecast.read_series("stocks")
    cut, lag = series.cut, LAG[target]
    assert cut == 128 and series.labels == ["UP", "DOWN"] and series.identity["target"] == target
    for i, column in enumerate(table.T):
        truth = to_target(column, target)
        assert series.targets[i].tolist() == truth.tolist()
        assert series.scales[i] == (truth[:cut - lag].mean(), truth[:cut - lag].std())
        assert series.points[i].tolist() == list(range(cut, 160))
        inputs = series.inputs_before(i, [cut, 150])[:, :, 0]
        assert_close(inputs[:, 1], series.scaled(i)[150 - lag - 20:150 - lag].astype(np.float32))
    # every training window ends before the test part: its rows are targets of steps < cut
    inputs, targets = series.random_windows(400, np.random.default_rng(0))
    trained = np.concatenate([series.scaled(i)[:cut - lag] for i in range(2)]).astype(np.float32)
    assert np.isin(targets, trained).all() and np.isin(inputs, trained).all()


def test_validation_holds_out_the_end_of_the_training_part():
    whole, held = forecast.Series("stocks"), forecast.Series("stocks", validation=True)
    assert held.cut == 128 - round(0.2 * 128) and held.points[0][-1] == whole.cut - 1
    assert held.identity == dict(whole.identity, validation=True)    # same data, same checksum

# ---------------------------------------------------------------- AR(20) and the RMSE, in series units


def hand_evaluation(values, cut, kind, predicted_target):
    """The test RMSE of the levels a prediction of each test target gives, and AR(20)'s fitted on
    the training part of the same target, computed here from the definitions."""
    targets, lag = to_target(values, kind), LAG[kind]
    coefficients = forecast.fit_ar(targets[:cut - lag], 20)
    points = np.arange(cut, len(values))
    ar = np.array([targets[t - lag - 20:t - lag] @ coefficients[:-1] + coefficients[-1] for t in points])
    level = lambda target: to_level(values[points - 1], target, kind)
    return (forecast.rmse(level(predicted_target(points)), values[points]),
            forecast.rmse(level(ar), values[points]))


@pytest.mark.parametrize("target", ["change", "log-return"])
def test_ar_is_fitted_on_the_same_target_and_the_rmse_is_of_levels(target):
    series = forecast.Series("stocks", target=target)
    values, cut = series.columns[0], series.cut
    step = {"change": 0.5, "log-return": 0.01}[target]
    off = lambda model, s, i, points: s.targets[i][np.asarray(points) - 1] + step  # true target + step
    result = forecast.evaluate_on(None, series, predict=off)
    model_rmse, ar_rmse = hand_evaluation(values, cut, target, lambda p: series.targets[0][p - 1] + step)
    assert result["UP_rmse"] == pytest.approx(model_rmse, rel=1e-12)
    assert result["UP_ar_rmse"] == pytest.approx(ar_rmse, rel=1e-12)
    if target == "change":  # a change off by 0.5 is a level off by 0.5, in the series' units
        assert result["UP_rmse"] == pytest.approx(0.5, rel=1e-12)
        # val_loss: the MSE of the scaled targets, each series scaled by its own std
        assert result["val_loss"] == pytest.approx(np.mean([(0.5 / std) ** 2 for _, std in series.scales]))
    level_ar = forecast.Series("stocks", target="level")
    assert result["ar_rmse"] != pytest.approx(forecast.evaluate_on(None, level_ar, predict=off)["ar_rmse"], rel=1e-3)


def test_a_perfect_model_scores_zero_and_a_zero_change_scores_persistence():
    series = forecast.Series("stocks", target="change")
    exact = forecast.evaluate_on(None, series, predict=lambda m, s, i, p: s.targets[i][np.asarray(p) - 1])
    assert exact["val_rmse"] == pytest.approx(0, abs=1e-12) and exact["val_loss"] == pytest.approx(0, abs=1e-24)
    still = forecast.evaluate_on(None, series, predict=lambda m, s, i, p: np.zeros(len(p)))
    assert still["val_rmse"] == still["persistence_rmse"]
    assert [still[f"{label}_rmse"] for label in ("UP", "DOWN")] == \
        [still[f"{label}_persistence_rmse"] for label in ("UP", "DOWN")]
    one = forecast.evaluate_on(None, forecast.Series("sunspots"), predict=lambda m, s, i, p: np.zeros(len(p)))
    assert set(one) == {"val_loss", "val_rmse", "ar_rmse", "persistence_rmse"}   # one series: no labels


def test_the_model_predicts_targets_and_its_forecast_feeds_levels_back():
    series = forecast.Series("stocks", target="change")
    tg.manual_seed(0)
    model = forecast.Forecaster(hidden_size=4)
    points = series.points[1]
    with tg.no_grad():
        outputs = model(tg.tensor(series.inputs_before(1, points))).numpy()[-1, :, 0]
    predicted = forecast.model_predict(model, series, 1, points)
    assert_close(predicted, outputs * series.scales[1][1] + series.scales[1][0], dtype=np.float32)
    drawn = forecast.forecasts(model, series, 0, start=140, horizon=3)
    values, (mean, std) = series.columns[0], series.scales[0]
    history = list(values[:140])
    for step in range(3):  # the model's next change after its own levels, rebuilt by hand
        window = (np.diff(history[-21:]) - mean) / std
        with tg.no_grad():
            change = model(tg.tensor(window.astype(np.float32).reshape(20, 1, 1))).numpy()[-1, 0, 0]
        history.append(history[-1] + change * std + mean)
        assert drawn["model"][step] == pytest.approx(history[-1], rel=1e-6)
    assert drawn["persistence"].tolist() == [values[139]] * 3

# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize("target", ["change", "log-return"])
def test_smoke_run_records_its_target_and_eval_reads_it(tmp_path, target):
    out = str(tmp_path / "run")
    result = forecast.main(["train", "--smoke", "--data", "stocks", "--target", target, "--out", out])
    checkpoint = os.path.join(out, "checkpoint.safetensors")
    assert tg.load(checkpoint)["identity"]["target"] == target
    assert {"val_rmse", "ar_rmse", "persistence_rmse", "UP_rmse", "DOWN_persistence_rmse"} <= set(result)
    again = forecast.main(["eval", "--checkpoint", checkpoint])
    assert again["val_rmse"] == pytest.approx(result["val_rmse"], rel=1e-6)
    drawn = forecast.main(["forecast", "--checkpoint", checkpoint, "--horizon", "4"])
    assert [len(path) for path in drawn[1].values()] == [4, 4, 4]


def test_the_default_target_is_the_change_in_its_own_folder(capsys):
    forecast.main(["train", "--smoke", "--steps", "2", "--out", "runs/x"])
    assert "forecast of the change of sunspots" in capsys.readouterr().out
    assert forecast.run_dir("sunspots", "rnn-relu", "change") == os.path.join("runs", "forecast-sunspots-rnn-relu-change")
    assert forecast.run_dir("sunspots", "rnn-relu", "level") == os.path.join("runs", "forecast-sunspots-rnn-relu")


def test_a_checkpoint_from_before_targets_is_read_as_levels_and_not_resumed(tmp_path, capsys):
    out = str(tmp_path / "old")
    level = forecast.main(["train", "--smoke", "--target", "level", "--out", out])
    checkpoint = os.path.join(out, "checkpoint.safetensors")
    saved = tg.load(checkpoint)
    old = {key: value for key, value in saved["identity"].items() if key not in ("target", "validation")}
    tg.save(dict(saved, identity=old), checkpoint)
    assert forecast.main(["eval", "--checkpoint", checkpoint])["val_rmse"] == pytest.approx(level["val_rmse"], rel=1e-6)
    refused(capsys, forecast.main, ["train", "--smoke", "--target", "level", "--out", out, "--resume"],
            checkpoint, "predates --target", "start a new run")
    tg.save(dict(saved, identity=dict(old, target="levels")), checkpoint)
    refused(capsys, forecast.main, ["eval", "--checkpoint", checkpoint], checkpoint, "'levels'", "change, log-return, level")


def test_bad_target_choices(tmp_path, capsys):
    refused(capsys, forecast.main, ["train", "--smoke", "--target", "returns"], "--target", "'returns'")
    refused(capsys, forecast.main, ["train", "--smoke", "--target", "log-return"],
            "--target log-return", "log returns need positive values", "step 0 is 0")
    negative = str(tmp_path / "negative.txt")
    np.savetxt(negative, np.r_[cycle()[:100], -1.0, cycle()[:20]])
    refused(capsys, forecast.main, ["train", "--smoke", "--data", negative, "--target", "log-return"],
            "negative.txt", "step 100 is -1", "--target change")
    short = str(tmp_path / "short.txt")
    np.savetxt(short, cycle(26))        # 21 to train: a window of 20 levels fits, one of 20 changes not
    forecast.main(["train", "--smoke", "--steps", "1", "--data", short, "--target", "level", "--out", "a"])
    refused(capsys, forecast.main, ["train", "--smoke", "--data", short, "--out", "b"],
            "short.txt", "22 values for a change")
    assert not (tmp_path / "runs").exists()

# ---------------------------------------------------------------- the monthly sunspots' file


def test_monthly_sunspots_parse_twelve_months_a_line(tmp_path, monkeypatch):
    rows = "  58.0  62.6  70.0  55.7  85.0  83.5  94.8  66.3  75.9  75.5 158.6  85.2\n" \
           "  73.3  75.9  89.2  88.3  90.0 100.0  85.4 103.0  91.2  65.7  63.3  75.4"
    data = gzip.compress(rows.encode())
    monkeypatch.setenv("TINYGRAD_SEQ_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(series_data, "read_member", lambda package, member, sha256: data)
    months, activity = series_data.load_sunspots_monthly()
    assert [str(m) for m in months[[0, 11, 23]]] == ["1749-01-01", "1749-12-01", "1750-12-01"]
    assert activity.dtype == np.float32 and activity[[0, 10, 23]].tolist() == pytest.approx([58.0, 158.6, 75.4])
    assert pins.SUNSPOTS_MONTHLY_MEMBER[0] == "pmdarima/datasets/data/sunspots.txt.gz"
    with pytest.raises(ValueError, match="line 2 has 11 months, expected 12"):
        series_data._parse_sunspots_monthly(gzip.compress(rows.rsplit(" ", 1)[0].encode()), "s.gz")
    with pytest.raises(ValueError, match="not gzipped"):
        series_data._parse_sunspots_monthly(rows.encode(), "s.gz")
