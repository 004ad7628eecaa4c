"""An N->1 sequence classifier: read a digit image row by row, name the digit.

MNIST's 28x28 digits are 28 steps of 28 pixels, scikit-learn's 8x8 digits 8 steps of 8; an
LSTM of 128 units reads the rows and its last hidden state goes through one Linear to 10 class
scores (the sequence classifier on MNIST of Géron 2017, ch. 14; the third design pattern of
Goodfellow et al. 2016, §10.2). The loss is the cross-entropy of the class. A stratified 20% of
the digits (1,000 of MNIST's 5,000, 100 of each class; 360 of the 1,797 8x8 digits) is held out
with a fixed seed; ``eval`` reports its accuracy and writes the confusion matrix and the
misclassified digits as PNGs.

    python -m models.classify_rows train                     # MNIST-5k, 2 minutes
    python -m models.classify_rows train --data digits       # the 8x8 digits
    python -m models.classify_rows eval                      # accuracy, confusion.png, errors.png
    python -m models.classify_rows eval --images x.npy --labels y.npy   # your own (N, 28, 28)
    python -m models.classify_rows train --smoke             # a tiny model, a few steps
"""
import argparse
import hashlib
import os

import numpy as np
import tinygrad_seq as tg

from tinygrad_seq import train as trainer
from models.data import load_digits, load_mnist

CLASSES = 10
SOURCES = {"mnist": (load_mnist, 28), "digits": (load_digits, 8)}
HOLDOUT_SEED = 0  # the held-out digits are the same in every run, whatever --seed

# ---------------------------------------------------------------- the module

CELLS = {"lstm": tg.nn.LSTM, "gru": tg.nn.GRU,
         "rnn": lambda *a, **k: tg.nn.RNN(*a, nonlinearity="tanh", **k)}


class RowClassifier(tg.nn.Module):
    """Images (B, H, W) read as H steps of W pixels -> class scores (B, classes).

    >>> model = RowClassifier(side=4, hidden_size=8)
    >>> model(tg.zeros(3, 4, 4)).shape
    (3, 10)
    """

    def __init__(self, side, hidden_size=128, num_layers=1, cell="lstm", classes=CLASSES):
        super().__init__()
        self.config = dict(side=side, hidden_size=hidden_size, num_layers=num_layers, cell=cell,
                           classes=classes)
        self.rnn = CELLS[cell](side, hidden_size, num_layers)
        self.head = tg.nn.Linear(hidden_size, classes)

    def forward(self, images):
        out, state = self.rnn(images.swapaxes(0, 1))  # (H, B, W): one row a step
        h = state[0] if isinstance(state, tuple) else state
        return self.head(h[-1])  # the last layer's last hidden state


def loss_of(model, images, labels, reduction="mean"):
    return tg.nn.functional.cross_entropy(model(images), labels, reduction=reduction)

# ---------------------------------------------------------------- data


def stratified_split(labels, holdout, seed=HOLDOUT_SEED):
    """Indices (train, held_out): ``round(holdout * n_c)`` of each class ``c`` held out, chosen
    by ``seed``; both sorted.

    >>> train, held = stratified_split(np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1]), 0.5)
    >>> len(train), len(held), np.bincount(np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])[held]).tolist()
    (5, 5, [2, 3])
    """
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        held.append(rng.permutation(members)[:round(holdout * len(members))])
    held = np.sort(np.concatenate(held))
    return np.setdiff1d(np.arange(len(labels)), held), held


class Digits:
    """All of a source's digits (its loader's three parts together), split stratified."""

    def __init__(self, source, holdout=0.2):
        if source not in SOURCES:
            raise trainer.UsageError(f"--data {source}: unknown; choose one of {sorted(SOURCES)}")
        loader, self.side = SOURCES[source]
        try:
            parts = loader()
        except (ValueError, OSError, RuntimeError) as e:
            raise trainer.UsageError(f"--data {source}: {e}") from None
        images = np.concatenate([part[0] for part in parts])
        labels = np.concatenate([part[1] for part in parts])
        train, held = stratified_split(labels, holdout)
        self.name = source
        self.train = images[train], labels[train]
        self.held = images[held], labels[held]
        self.identity = {"data": source, "images": len(labels), "holdout": holdout,
                         "sha256": hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()}


def check_images(images, side, what="images"):
    """``images`` as float32 (N, side, side), N >= 1, or a UsageError saying what is wrong."""
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (side, side):
        raise trainer.UsageError(f"{what} have shape {images.shape}; this model reads "
                                 f"(N, {side}, {side}) images ({side} rows of {side} pixels)")
    if len(images) == 0:
        raise trainer.UsageError(f"{what}: an empty batch (no images) has nothing to classify")
    if not np.isfinite(images).all():
        raise trainer.UsageError(f"{what} have NaN or infinite pixels")
    return images.astype(np.float32)


def predict(model, images, batch_size=500):
    """Class scores (N, classes) as NumPy, in batches; ``images`` checked first."""
    images, device = check_images(images, model.config["side"]), model.device
    with tg.no_grad():
        return np.concatenate([model(tg.tensor(images[i:i + batch_size], device=device)).numpy()
                               for i in range(0, len(images), batch_size)])


def epoch_of(labels, batch_size):
    """One epoch's batches: the training digits shuffled, cut in ``batch_size`` (last one short)."""
    return lambda rng: np.array_split(rng.permutation(len(labels)),
                                      range(batch_size, len(labels), batch_size))

# ---------------------------------------------------------------- training, for the harness


class DigitsTask(trainer.Task):
    """A task trained epoch after epoch on the training digits, ``batch(step)`` its images and
    labels; this model's and models.generate_rows' (they differ in loss and evaluation)."""

    unit = "sample"

    def __init__(self, model, digits, args):
        self.model, self.digits, self.args = model, digits, args
        self.config = model.config
        self.identity = dict(digits.identity, batch_size=args.batch_size)
        self.batches = trainer.EpochBatches(args.seed, epoch_of(digits.train[1], args.batch_size))

    def batch(self, step):
        index = self.batches(step)
        return self.digits.train[0][index], self.digits.train[1][index]


class Task(DigitsTask):
    name = "classify_rows"

    def loss(self, step, rng):
        images, labels = self.batch(step)
        device = self.model.device
        return loss_of(self.model, tg.tensor(images, device=device),
                       tg.tensor(labels, device=device)), len(labels)

    def evaluate(self):
        return evaluate_on(self.model, *self.digits.held)


def evaluate_on(model, images, labels, predict=predict):
    """Held-out cross-entropy and accuracy; ``predict`` gives the class scores (the PyTorch twin
    passes its own, so both engines are measured by this same code)."""
    scores = predict(model, images)
    log_probabilities = scores - np.logaddexp.reduce(scores, axis=1, keepdims=True)
    return {"val_loss": float(-log_probabilities[np.arange(len(labels)), labels].mean()),
            "val_acc": trainer.metrics.accuracy(labels, scores.argmax(1))}


def write_report(model, images, labels, out_dir, title=""):
    """Accuracy, confusion matrix (printed and PNG) and a grid of misclassified digits (PNG)."""
    predictions = predict(model, images).argmax(1)
    counts = trainer.metrics.confusion_matrix(labels, predictions, model.config["classes"])
    accuracy = trainer.metrics.accuracy(labels, predictions)
    os.makedirs(out_dir, exist_ok=True)
    confusion_png, errors_png = (os.path.join(out_dir, name) for name in ("confusion.png", "errors.png"))
    trainer.metrics.plot_confusion(counts, confusion_png, f"{title} accuracy {accuracy:.2%}")
    wrong = np.flatnonzero(predictions != labels)[:60]
    trainer.metrics.plot_images(images[wrong], errors_png,
                                [f"{labels[i]} as {predictions[i]}" for i in wrong],
                                title=f"{title} misclassified: {len(np.flatnonzero(predictions != labels))} "
                                      f"of {len(labels)} (first {len(wrong)}; true as predicted)")
    print(f"accuracy {accuracy:.4f} ({len(labels) - len(np.flatnonzero(predictions != labels))} of "
          f"{len(labels)}); confusion matrix (true down, predicted across):")
    print("\n".join("  " + " ".join(f"{n:4d}" for n in row) for row in counts))
    print(f"  wrote {confusion_png} and {errors_png}")
    return {"accuracy": accuracy, "confusion": counts}

# ---------------------------------------------------------------- the command line


DEFAULTS = dict(data="mnist", hidden_size=128, num_layers=1, cell="lstm", batch_size=64,
                lr=1e-3, clip=0.0, eval_every=1000, eval_seconds=20.0, minutes=2.0)
SMOKE = dict(hidden_size=16, batch_size=16, steps=30, minutes=0.0, lr=1e-2)


def run_dir(data):
    return os.path.join("runs", f"classify_rows-{data}")


def train(args):
    defaults = dict(DEFAULTS, **(SMOKE if args.smoke else {}))
    trainer.resolve(args, defaults)
    device = trainer.use_device(args)
    digits = Digits(args.data)
    tg.manual_seed(args.seed)
    model = RowClassifier(digits.side, args.hidden_size, args.num_layers, args.cell).to(device)
    print(f"classify_rows on {digits.name}: {len(digits.train[1]):,} training and "
          f"{len(digits.held[1]):,} held-out digits ({digits.side} rows of {digits.side} pixels); "
          f"{args.num_layers} x {args.cell.upper()} {args.hidden_size}, "
          f"{sum(p.size for p in model.parameters()):,} parameters; batch {args.batch_size}, on {device}")
    out = args.out or run_dir(args.data)
    result = trainer.fit(Task(model, digits, args), args, out)
    model.eval()
    write_report(model, *digits.held, out, f"{digits.name} held out:")
    return result


def evaluate(args):
    model, saved, path = trainer.load_run(args, Task.name, RowClassifier,
                                          run_dir(args.data or "mnist"))
    out = args.out or os.path.dirname(path)
    if args.images:
        images = check_images(_load_array(args.images, "--images"), model.config["side"],
                              f"--images {args.images}")
        if args.labels is None:
            predictions = predict(model, images).argmax(1)
            print(" ".join(map(str, predictions.tolist())))
            return {"predictions": predictions}
        labels = _load_array(args.labels, "--labels").astype(np.int64)
        if labels.shape != (len(images),) or labels.min() < 0 or labels.max() >= CLASSES:
            raise trainer.UsageError(f"--labels {args.labels}: need {len(images)} labels in "
                                     f"0-{CLASSES - 1}, got shape {labels.shape}")
        return write_report(model, images, labels, out, os.path.basename(args.images))
    digits = Digits(trainer.checkpoint.data_to_read(args.data, saved, path, SOURCES),
                    trainer.checkpoint.identity_entry(saved, path, "holdout", (int, float)))
    trainer.checkpoint.check_identity(saved, path, digits.identity, ["data", "sha256"],
                                      f"--data {digits.name}")
    print(f"{path} (step {saved['step']}) on the {len(digits.held[1])} held-out {digits.name} digits:")
    return write_report(model, *digits.held, out, f"{digits.name} held out:")


def _load_array(path, flag):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise trainer.UsageError(f"{flag} {path}: not a readable .npy file ({e})") from None


def build_parser():
    parser = trainer.ArgumentParser(prog="python -m models.classify_rows",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("train", help="train (or --resume) a classifier", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    fit.add_argument("--data", choices=sorted(SOURCES), default="mnist")
    model = fit.add_argument_group("model (defaults: 1 x LSTM 128, batch 64, Adam lr 1e-3)")
    model.add_argument("--cell", choices=sorted(CELLS), default=None)
    model.add_argument("--hidden-size", type=trainer.positive_int, default=None)
    model.add_argument("--layers", dest="num_layers", type=trainer.positive_int, default=None)
    model.add_argument("--batch-size", type=trainer.positive_int, default=None)
    fit.add_argument("--smoke", action="store_true", help="a tiny model for a few steps: seconds")
    trainer.add_train_options(fit)
    fit.set_defaults(func=train)

    judge = commands.add_parser("eval", help="accuracy, confusion matrix and misclassified digits")
    judge.add_argument("--data", choices=sorted(SOURCES), default=None,
                       help="default: the checkpoint's")
    judge.add_argument("--checkpoint", default=None,
                       help="default: runs/classify_rows-DATA/checkpoint.safetensors")
    judge.add_argument("--images", default=None, help="classify these instead: a .npy (N, H, W) in [0, 1]")
    judge.add_argument("--labels", default=None, help="their true classes: a .npy (N,)")
    judge.add_argument("--out", type=trainer.output_folder, default=None, help="where the PNGs go (default: the checkpoint's folder)")
    trainer.add_device_option(judge)
    judge.set_defaults(func=evaluate)
    return parser


def main(argv=None):
    return trainer.run_command(build_parser(), argv)


if __name__ == "__main__":
    main()
