"""The Models II through their command lines, on small synthetic data put in place of the loaders
(nothing is fetched): the row classifier, the sentiment classifier, the forecaster and the row
generator train in seconds with --smoke and their loss falls; the baselines and metrics equal
hand-computed values; bad input ends with an error that names what was wrong."""
import json
import os

import numpy as np
import pytest

import tinygrad_seq as tg
from models import classify_rows, forecast, generate_rows, sentiment
from tinygrad_seq import train as trainer
from models.data import Splits

pytest.importorskip("tqdm", reason="the train extra (tqdm, matplotlib) is not installed")
pytest.importorskip("matplotlib", reason="the train extra (tqdm, matplotlib) is not installed")


# ---------------------------------------------------------------- synthetic data in place of the loaders

def fake_digits(side, n=300, seed=0):
    """Digit k is a bright column (k * side // 10) on faint noise: every row shows the class."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = (rng.random((n, side, side)) * 0.2).astype(np.float32)
    images[np.arange(n), :, labels * side // 10] = 1.0
    cut = [int(n * 0.8), int(n * 0.9)]
    parts = np.split(np.arange(n), cut)
    return lambda: Splits(*((images[p], labels[p].astype(np.int64)) for p in parts))


def fake_reviews():
    rng = np.random.default_rng(0)
    good, bad, filler = ["great", "moving", "superb", "fine"], ["dull", "awful", "boring", "tired"], \
        ["the", "film", "a", "plot", "is", "and", "it", "."]
    texts, labels = [], []
    for i in range(400):
        label = i % 2
        words = list(rng.choice(filler, rng.integers(1, 12))) + list(rng.choice(good if label else bad, 2))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    texts, labels = np.array(texts), np.array(labels, dtype=np.int64)
    return Splits((texts[:320], labels[:320]), (texts[320:360], labels[320:360]),
                  (texts[360:], labels[360:]))


def sine(n=200):
    return (10 + 5 * np.sin(np.arange(n) * 0.3)).astype(np.float32)


@pytest.fixture(autouse=True)
def synthetic_data(monkeypatch, tmp_path):
    monkeypatch.delenv(trainer.MINUTES_ENV, raising=False)
    monkeypatch.chdir(tmp_path)  # any runs/ lands here
    monkeypatch.setattr(classify_rows, "SOURCES", {"mnist": (fake_digits(28), 28),
                                                   "digits": (fake_digits(8), 8)})
    monkeypatch.setattr(sentiment, "load_reviews", fake_reviews)
    monkeypatch.setattr(forecast, "SOURCES", {"sunspots": lambda: sine()[:, None],
                                              "stocks": lambda: np.stack([sine(), 2 * sine()], 1)})


def losses(out):
    with open(os.path.join(out, "metrics.jsonl")) as file:
        return [r["loss"] for r in map(json.loads, file) if r["kind"] == "train"]


def falls(out):
    values = losses(out)
    first, last = np.mean(values[:5]), np.mean(values[-5:])
    assert last < 0.8 * first, (first, last)


def fails(capsys, main, argv, *fragments):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    error = capsys.readouterr().err
    assert stop.value.code == 2, error
    for fragment in fragments:
        assert fragment in error, error
    return error


# ---------------------------------------------------------------- smoke runs: seconds, the loss falls

@pytest.mark.parametrize("data", ["mnist", "digits"])
def test_classifier_smoke(tmp_path, data, capsys):
    out = str(tmp_path / data)
    result = classify_rows.main(["train", "--smoke", "--data", data, "--out", out])
    falls(out)
    assert result["step"] == 30 and 0 <= result["val_acc"] <= 1
    for name in ("checkpoint.safetensors", "curves.png", "confusion.png", "errors.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    assert "confusion matrix" in capsys.readouterr().out
    report = classify_rows.main(["eval", "--checkpoint", os.path.join(out, "checkpoint.safetensors")])
    assert report["confusion"].sum() == 60 and report["accuracy"] == pytest.approx(result["val_acc"])


@pytest.mark.parametrize("flags", [[], ["--cell", "gru", "--pool", "mean", "--unidirectional"]])
def test_sentiment_smoke(tmp_path, flags, capsys):
    out = str(tmp_path / "run")
    result = sentiment.main(["train", "--smoke", *flags, "--out", out])
    falls(out)
    assert result["majority_acc"] == 0.5
    checkpoint = os.path.join(out, "checkpoint.safetensors")
    assert sentiment.main(["eval", "--checkpoint", checkpoint])["val_acc"] == result["val_acc"]
    assert len(sentiment.main(["predict", "--checkpoint", checkpoint, "superb film", "dull ."])) == 2


@pytest.mark.parametrize("cell", ["rnn-relu", "lstm"])
def test_forecaster_smoke_and_its_forecast_plot(tmp_path, cell):
    out = str(tmp_path / "run")
    result = forecast.main(["train", "--smoke", "--cell", cell, "--out", out])
    falls(out)
    assert {"val_rmse", "ar_rmse", "persistence_rmse"} <= set(result)
    drawn = forecast.main(["forecast", "--checkpoint", os.path.join(out, "checkpoint.safetensors"),
                           "--horizon", "7"])
    assert [len(v) for v in drawn[0].values()] == [7, 7, 7]
    assert os.path.getsize(os.path.join(out, "forecast.png")) > 0


@pytest.mark.parametrize("form", generate_rows.FORMS)
def test_generator_smoke_and_its_grid(tmp_path, form):
    out = str(tmp_path / form)
    result = generate_rows.main(["train", "--smoke", "--form", form, "--out", out])
    falls(out)
    assert result["val_loss"] > 0 and os.path.getsize(os.path.join(out, "samples.png")) > 0
    checkpoint = os.path.join(out, "checkpoint.safetensors")
    assert generate_rows.main(["eval", "--checkpoint", checkpoint])["val_loss"] == pytest.approx(result["val_loss"])


def test_classifier_resumes_exactly(tmp_path):
    whole, cut = str(tmp_path / "whole"), str(tmp_path / "cut")
    tiny = ["--data", "digits", "--hidden-size", "8", "--batch-size", "50", "--minutes", "0"]
    classify_rows.main(["train", *tiny, "--steps", "12", "--out", whole])
    classify_rows.main(["train", *tiny, "--steps", "5", "--out", cut])
    classify_rows.main(["train", *tiny, "--steps", "12", "--out", cut, "--resume"])
    assert losses(cut) == losses(whole)  # 12 steps cross the epoch of 5 batches


def test_the_generator_forms_differ_only_in_where_the_class_goes():
    first = generate_rows.RowGenerator(side=4, hidden_size=3, form="first")
    every = generate_rows.RowGenerator(side=4, hidden_size=3, form="every")
    previous = tg.zeros(4, 2, 4)
    a, b = first.inputs(previous, [1, 2]).numpy()[..., 4:], every.inputs(previous, [1, 2]).numpy()[..., 4:]
    assert a[0].argmax(-1).tolist() == [1, 2] and not a[1:].any()
    assert (b.argmax(-1) == [1, 2]).all() and b.sum() == 8
    assert not first.inputs(previous[:1], [1, 2], start=3).numpy()[..., 4:].any()


# ---------------------------------------------------------------- metrics and baselines by hand

def test_accuracy_and_confusion_matrix_on_a_hand_made_case():
    targets, predictions = [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2]
    assert trainer.metrics.accuracy(targets, predictions) == pytest.approx(4 / 6)
    assert trainer.metrics.confusion_matrix(targets, predictions, 3).tolist() == \
        [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_persistence_on_a_tiny_series():
    values = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    assert forecast.persistence(values, [3, 4]).tolist() == [4.0, 7.0]


def test_ar_recovers_an_exact_recurrence_and_predicts_by_hand():
    values = [1.0, 2.0]
    for _ in range(10):
        values.append(0.5 * values[-1] + 0.25 * values[-2] + 1.0)
    coefficients = forecast.fit_ar(values, 2)  # (w_{t-2}, w_{t-1}, b)
    assert coefficients == pytest.approx([0.25, 0.5, 1.0])
    assert forecast.ar_predict([4.0, 8.0, 0.0], [2], np.array([0.25, 0.5, 1.0])).tolist() == [6.0]


def test_ar_fit_equals_numpy_lstsq():
    series = np.random.default_rng(1).normal(size=60).cumsum()
    order = 5
    design = np.array([np.append(series[t - order:t], 1.0) for t in range(order, len(series))])
    expected = np.linalg.lstsq(design, series[order:], rcond=None)[0]
    np.testing.assert_allclose(forecast.fit_ar(series, order), expected, rtol=1e-10, atol=1e-12)


def test_rollout_feeds_its_own_output_back():
    assert forecast.rollout(lambda h: h[-1] + h[-2], [1.0, 1.0], 4).tolist() == [2.0, 3.0, 5.0, 8.0]


def test_help_of_every_command(capsys):
    for main, commands in ((classify_rows.main, ["train", "eval"]),
                           (sentiment.main, ["train", "eval", "predict"]),
                           (forecast.main, ["train", "eval", "forecast"]),
                           (generate_rows.main, ["train", "eval", "sample"])):
        for command in commands:
            with pytest.raises(SystemExit) as stop:
                main([command, "--help"])
            assert stop.value.code == 0
    assert "--smoke" in capsys.readouterr().out


# ---------------------------------------------------------------- bad input

@pytest.fixture
def classifier(tmp_path):
    out = str(tmp_path / "classifier")
    classify_rows.main(["train", "--smoke", "--steps", "2", "--out", out])
    return os.path.join(out, "checkpoint.safetensors")


def test_images_of_the_wrong_shape_or_none(classifier, tmp_path, capsys):
    wrong, empty = str(tmp_path / "wrong.npy"), str(tmp_path / "empty.npy")
    np.save(wrong, np.zeros((3, 28, 27), np.float32))
    np.save(empty, np.zeros((0, 28, 28), np.float32))
    fails(capsys, classify_rows.main, ["eval", "--checkpoint", classifier, "--images", wrong],
          "(3, 28, 27)", "(N, 28, 28)")
    fails(capsys, classify_rows.main, ["eval", "--checkpoint", classifier, "--images", empty],
          "empty batch")


def test_a_checkpoint_of_another_model(classifier, capsys):
    for main, argv in ((generate_rows.main, ["sample"]), (forecast.main, ["eval"]),
                       (sentiment.main, ["eval"])):
        fails(capsys, main, [*argv, "--checkpoint", classifier], "of model 'classify_rows'")


def test_reviews_that_tokenise_to_nothing_and_empty_or_all_padding_batches(tmp_path, capsys):
    out = str(tmp_path / "run")
    sentiment.main(["train", "--smoke", "--steps", "2", "--out", out])
    checkpoint = os.path.join(out, "checkpoint.safetensors")
    fails(capsys, sentiment.main, ["predict", "--checkpoint", checkpoint, "fine", "  \t "],
          "tokenises to nothing")
    fails(capsys, sentiment.main, ["predict", "--checkpoint", checkpoint], "empty batch")
    model = sentiment.SentimentClassifier(10, 4, 3)
    with pytest.raises(ValueError, match="all padding"):
        model(tg.tensor([[0, 0], [0, 0]]), [0, 0])
    with pytest.raises(ValueError, match="empty batch"):
        model(tg.tensor(np.zeros((3, 0), np.int64)), [])


def test_a_checkpoint_of_another_vocabulary(tmp_path, capsys):
    out = str(tmp_path / "run")
    sentiment.main(["train", "--smoke", "--steps", "2", "--out", out])
    checkpoint = os.path.join(out, "checkpoint.safetensors")
    saved = tg.load(checkpoint)
    itos = saved["identity"]["vocab"].split("\n")
    itos[4], itos[5] = itos[5], itos[4]  # same words, other ids
    tg.save(dict(saved, identity=dict(saved["identity"], vocab="\n".join(itos))), checkpoint)
    fails(capsys, sentiment.main, ["eval", "--checkpoint", checkpoint], checkpoint, "vocab")
    fails(capsys, sentiment.main, ["train", "--smoke", "--out", out, "--resume"], "other data", "vocab")


def test_forecast_horizon_series_too_short_and_series_of_the_wrong_shape(tmp_path, capsys):
    out = str(tmp_path / "run")
    forecast.main(["train", "--smoke", "--steps", "2", "--out", out])
    checkpoint = os.path.join(out, "checkpoint.safetensors")
    for horizon in ("0", "-3"):
        fails(capsys, forecast.main, ["forecast", "--checkpoint", checkpoint, "--horizon", horizon],
              "--horizon", "must be an integer >= 1")
    short, cube = str(tmp_path / "short.txt"), str(tmp_path / "cube.npy")
    np.savetxt(short, sine(20))
    np.save(cube, np.zeros((30, 2, 2)))
    fails(capsys, forecast.main, ["train", "--smoke", "--data", short], "short.txt",
          "more than one window of 20")
    fails(capsys, forecast.main, ["eval", "--checkpoint", checkpoint, "--data", cube],
          "(30, 2, 2)", "(T,) or (T, series)")
    with pytest.raises(ValueError, match="horizon"):
        forecast.rollout(lambda h: h[-1], [1.0], 0)
    assert not (tmp_path / "runs").exists()


def test_generator_class_out_of_range(tmp_path, capsys):
    out = str(tmp_path / "run")
    generate_rows.main(["train", "--smoke", "--steps", "2", "--out", out])
    checkpoint = os.path.join(out, "checkpoint.safetensors")
    for digit in ("10", "-1"):
        fails(capsys, generate_rows.main, ["sample", "--checkpoint", checkpoint, "--digit", digit],
              f"class index {digit} is out of range", "0-9")
    model = generate_rows.RowGenerator(side=4, hidden_size=3)
    with pytest.raises(ValueError, match="out of range"):
        generate_rows.generate(model, [3, 12])
