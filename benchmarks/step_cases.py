"""One training step of each model in models/, and of its PyTorch twin on the same batches, for
benchmarks/models_bench.py (timing) and benchmarks/step_profile.py (where the time goes).

A case holds both engines' model, loss and a few batches of the model's own data, drawn by the
model file's own functions (the trainer's per-step generator or epoch order). The twin is the
module of benchmarks/charlm_torch.py, models_ii_torch.py or model_loops.py, started from tg's
weights; ``check`` holds the two engines' losses and gradients equal (dropout off) before
anything is timed, so a timing compares the same work. A step is what the trainer runs: zero
the gradients, forward, the loss, backward, clip the gradient norm when the model's defaults
clip, one Adam step at the model's learning rate.

    >>> sorted(CASES)
    ['charlm', 'classify_rows', 'forecast', 'sentiment', 'seq2seq']
"""
import os
import sys
from dataclasses import dataclass, field

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # models/
import tinygrad_seq as tg  # noqa: E402
from tinygrad_seq.train import EpochBatches, step_random  # noqa: E402

GRAD_RTOL = 2e-3  # the largest gap between tg's and torch's gradients, of the largest value


@dataclass
class Case:
    """Both engines' side of one model's training step; ``shape`` describes it for the tables."""
    tg_model: object
    tg_loss: object            # batch -> scalar Tensor
    torch_model: object
    torch_loss: object         # batch -> scalar torch tensor
    batches: list
    lr: float
    clip: float
    shape: dict = field(default_factory=dict)


def copy_weights(tg_model, torch_model, names=None):
    """tg's weights into the twin, by ``state_dict`` name (``names`` maps tg's to torch's)."""
    import torch
    names = names or {}
    torch_model.load_state_dict({names.get(k, k): torch.from_numpy(v.numpy().copy())
                                 for k, v in tg_model.state_dict().items()})


# ---------------------------------------------------------------- the five models

def charlm_case(count):
    import charlm_torch
    from models import charlm
    config = charlm.DEFAULTS
    corpus = charlm.Corpus("shakespeare", config["holdout"])
    tg.manual_seed(0)
    model = charlm.CharLM(len(corpus.vocab), config["embedding_size"], config["hidden_size"],
                          config["num_layers"])
    twin = charlm_torch.TorchCharLM(len(corpus.vocab), config["embedding_size"],
                                    config["hidden_size"], config["num_layers"])
    copy_weights(model, twin)
    batches = [charlm.random_windows(corpus.train, config["bptt"], config["batch_size"],
                                     step_random(0, step)) for step in range(1, count + 1)]
    import torch

    def tg_loss(batch):
        return charlm.loss_of(model, tg.tensor(batch[0]), tg.tensor(batch[1]))[0]

    def torch_loss(batch):
        logits, _ = twin(torch.from_numpy(batch[0]))
        return charlm_torch.cross_entropy(logits, torch.from_numpy(batch[1]))

    return Case(model, tg_loss, twin, torch_loss, batches, config["lr"], config["clip"],
                {"T": config["bptt"], "B": config["batch_size"], "E": config["embedding_size"],
                 "H": config["hidden_size"], "layers": config["num_layers"],
                 "vocab": len(corpus.vocab), "cell": "lstm"})


def seq2seq_case(count):
    import model_loops
    from models.seq2seq_model import loss_of
    batches, corpus, preset = model_loops.dates_batches(count)
    model = model_loops.dates_model(corpus, preset, "auto")
    twin = model_loops.torch_twin()(len(corpus.source_vocab), len(corpus.target_vocab),
                                    preset["embedding_size"], preset["hidden_size"])
    copy_weights(model, twin, model_loops.TWIN_NAMES)
    return Case(model, lambda batch: loss_of(model, batch), twin,
                lambda batch: model_loops.torch_loss(twin, batch), batches, preset["lr"],
                preset["clip"], {"B": preset["batch_size"], "E": preset["embedding_size"],
                                 "H": preset["hidden_size"], "attention": preset["attention"],
                                 "source_steps": [b["source"].shape[0] for b in batches],
                                 "target_steps": [b["inputs"].shape[0] for b in batches]})


def classify_rows_case(count):
    import torch
    import models_ii_torch
    from models import classify_rows
    config = classify_rows.DEFAULTS
    digits = classify_rows.Digits("mnist")
    tg.manual_seed(0)
    model = classify_rows.RowClassifier(digits.side, config["hidden_size"])
    twin = models_ii_torch.RowClassifier(digits.side, config["hidden_size"])
    copy_weights(model, twin)
    order = EpochBatches(0, classify_rows.epoch_of(digits.train[1], config["batch_size"]))
    batches = [(digits.train[0][order(s)], digits.train[1][order(s)]) for s in range(1, count + 1)]
    return Case(model, lambda b: classify_rows.loss_of(model, tg.tensor(b[0]), tg.tensor(b[1])),
                twin, lambda b: torch.nn.functional.cross_entropy(
                    twin(torch.from_numpy(b[0])), torch.from_numpy(b[1])),
                batches, config["lr"], config["clip"],
                {"T": digits.side, "B": config["batch_size"], "I": digits.side,
                 "H": config["hidden_size"], "cell": "lstm", "data": "mnist"})


def sentiment_case(count):
    import torch
    import models_ii_torch
    from models import sentiment
    config = sentiment.DEFAULTS
    reviews = sentiment.Reviews(config["vocab_size"])
    tg.manual_seed(0)
    model = sentiment.SentimentClassifier(len(reviews.vocab), config["embedding_size"],
                                          config["hidden_size"], config["cell"], True,
                                          config["pool"], config["dropout"])
    twin = models_ii_torch.SentimentClassifier(len(reviews.vocab), config["embedding_size"],
                                               config["hidden_size"], config["cell"], True,
                                               config["pool"], config["dropout"])
    copy_weights(model, twin)
    order = EpochBatches(0, sentiment.epoch_of(reviews.train[0], config["batch_size"],
                                               config["bucket_width"]))
    batches = []
    for step in range(1, count + 1):
        index = order(step)
        padded, lengths = sentiment.pad_sequences([reviews.train[0][i] for i in index],
                                                  padding_value=tg.data.Vocab.pad_id)
        batches.append((padded, np.asarray(lengths), reviews.train[1][index]))
    return Case(model, lambda b: sentiment.loss_of(model, tg.tensor(b[0]), b[1], tg.tensor(b[2])),
                twin, lambda b: torch.nn.functional.cross_entropy(
                    twin(torch.from_numpy(b[0]), b[1]), torch.from_numpy(b[2])),
                batches, config["lr"], config["clip"],
                {"T": [int(b[0].shape[0]) for b in batches], "B": config["batch_size"],
                 "E": config["embedding_size"], "H": config["hidden_size"], "cell": config["cell"],
                 "bidirectional": True, "dropout": config["dropout"]})


def forecast_case(count):
    import torch
    import models_ii_torch
    from models import forecast
    config = forecast.DEFAULTS
    series = forecast.Series(config["data"], config["window"])
    tg.manual_seed(0)
    model = forecast.Forecaster(config["hidden_size"], config["cell"])
    twin = models_ii_torch.Forecaster(config["hidden_size"], config["cell"])
    copy_weights(model, twin)
    batches = [series.random_windows(config["batch_size"], step_random(0, step))
               for step in range(1, count + 1)]
    return Case(model, lambda b: forecast.loss_of(model, tg.tensor(b[0]), tg.tensor(b[1])),
                twin, lambda b: torch.nn.functional.mse_loss(twin(torch.from_numpy(b[0])),
                                                             torch.from_numpy(b[1])),
                batches, config["lr"], config["clip"],
                {"T": config["window"], "B": config["batch_size"], "I": 1,
                 "H": config["hidden_size"], "cell": config["cell"], "data": config["data"]})


CASES = {"charlm": charlm_case, "seq2seq": seq2seq_case, "classify_rows": classify_rows_case,
         "sentiment": sentiment_case, "forecast": forecast_case}


# ---------------------------------------------------------------- steps and the check

def tg_step(case):
    """One training step per call, on the next batch in turn."""
    optimizer = tg.optim.Adam(case.tg_model.parameters(), lr=case.lr)
    turn = [0]

    def step():
        optimizer.zero_grad()
        case.tg_loss(case.batches[turn[0] % len(case.batches)]).backward()
        if case.clip:
            tg.optim.clip_grad_norm_(case.tg_model.parameters(), case.clip)
        optimizer.step()
        turn[0] += 1
    return step


def torch_step(case):
    import torch
    optimizer = torch.optim.Adam(case.torch_model.parameters(), lr=case.lr)
    turn = [0]

    def step():
        optimizer.zero_grad(set_to_none=True)
        case.torch_loss(case.batches[turn[0] % len(case.batches)]).backward()
        if case.clip:
            torch.nn.utils.clip_grad_norm_(case.torch_model.parameters(), case.clip)
        optimizer.step()
        turn[0] += 1
    return step


def check(name, case, names=None):
    """tg and the twin compute the same loss and gradients on the first batch (dropout off);
    returns the largest gradient gap, relative to each gradient's largest value."""
    import torch
    names = names or {}
    case.tg_model.eval()
    case.torch_model.eval()
    case.tg_model.zero_grad()
    case.torch_model.zero_grad(set_to_none=True)
    tg_loss = case.tg_loss(case.batches[0])
    tg_loss.backward()
    torch_loss = case.torch_loss(case.batches[0])
    torch_loss.backward()
    twin_grads = {n: p.grad for n, p in case.torch_model.named_parameters()}
    gaps = {}
    for key, p in case.tg_model.named_parameters():
        got, ref = p.grad.numpy(), twin_grads[names.get(key, key)].numpy()
        gaps[key] = float(np.max(np.abs(got - ref)) / max(float(np.max(np.abs(ref))), 1e-12))
    case.tg_model.train()
    case.torch_model.train()
    case.tg_model.zero_grad()
    case.torch_model.zero_grad(set_to_none=True)
    worst = max(gaps, key=gaps.get)
    if abs(tg_loss.item() - torch_loss.item()) > GRAD_RTOL * abs(torch_loss.item()) or gaps[worst] > GRAD_RTOL:
        raise SystemExit(f"{name}: tg and torch disagree: loss {tg_loss.item():.6g} vs "
                         f"{torch_loss.item():.6g}, gradient of {worst} off by {gaps[worst]:.1e}")
    return worst, gaps[worst]


def make(name, count=4):
    """The case ``name`` with ``count`` batches, checked; and (worst parameter, its gap)."""
    case = CASES[name](count)
    import model_loops
    return case, check(name, case, model_loops.TWIN_NAMES if name == "seq2seq" else None)
