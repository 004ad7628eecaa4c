"""1->N generation: draw a digit of a given class row by row, each row fed back as the next input.

A recurrent layer (LSTM 128) reads, at step t, the previous row of 28 pixels (zeros at the
first step) beside the class as a one-hot vector of 10, and one Linear gives the 28 pixel
intensities of row t (through a sigmoid). Two ways of conditioning a 1->N model (Goodfellow et
al. 2016, §10.2.4):

- ``--form first``: the class vector only at the first step (zeros after it): the model must
  carry the class in its state;
- ``--form every``: the same class vector at every step.

Trained with teacher forcing (the true previous row as input) on the MNIST rows; the loss is
the binary cross-entropy per pixel, in nats (pixels are intensities in [0, 1]). The held-out
digits are the classifier's (models.classify_rows: 1,000, 100 of each class). ``sample`` draws
digits of each class with the model's own rows fed back: the first column of the grid feeds
back the mean intensities, the others rows whose pixels are drawn from them (Bernoulli).

    python -m models.generate_rows train --form first --out runs/generate_rows-first
    python -m models.generate_rows train --form every --out runs/generate_rows-every
    python -m models.generate_rows sample --checkpoint runs/generate_rows-every/checkpoint.safetensors
    python -m models.generate_rows sample --digit 7 --per-class 8
    python -m models.generate_rows train --smoke
"""
import argparse
import os

import numpy as np
import tinygrad_seq as tg

from tinygrad_seq import train as trainer
from models.classify_rows import CLASSES, Digits, DigitsTask

FORMS = ("first", "every")
WHERE = {"first": "the first step only", "every": "every step"}

# ---------------------------------------------------------------- the module


class RowGenerator(tg.nn.Module):
    """Previous rows (H, B, W) and classes (B,) -> logits of each row's pixels (H, B, W), and
    the state.

    >>> model = RowGenerator(side=4, hidden_size=8, form="first")
    >>> logits, state = model(tg.zeros(4, 2, 4), np.array([3, 9]))
    >>> logits.shape
    (4, 2, 4)
    """

    def __init__(self, side=28, hidden_size=128, form="every", classes=CLASSES):
        super().__init__()
        self.config = dict(side=side, hidden_size=hidden_size, form=form, classes=classes)
        self.rnn = tg.nn.LSTM(side + classes, hidden_size)
        self.head = tg.nn.Linear(hidden_size, side)

    def inputs(self, previous, classes, start=0):
        """Each step's input: the previous row beside the class vector (or zeros); ``start`` is
        the step that ``previous[0]`` is (generation feeds one step at a time)."""
        classes = check_classes(classes, self.config["classes"])
        steps, batch = previous.shape[0], previous.shape[1]
        condition = np.zeros((steps, batch, self.config["classes"]), np.float32)
        given = slice(None) if self.config["form"] == "every" else slice(0, 1 if start == 0 else 0)
        condition[given, np.arange(batch), classes] = 1.0
        return tg.concatenate([previous, tg.tensor(condition, device=previous.device)], axis=-1)

    def forward(self, previous, classes, state=None, start=0):
        out, state = self.rnn(self.inputs(previous, classes, start), state)
        return self.head(out), state


def check_classes(classes, count):
    classes = np.asarray(classes, dtype=np.int64).reshape(-1)
    if classes.size == 0:
        raise ValueError("an empty batch: no class to generate")
    if classes.min() < 0 or classes.max() >= count:
        bad = classes[(classes < 0) | (classes >= count)]
        raise ValueError(f"class index {int(bad[0])} is out of range: the generator knows "
                         f"classes 0-{count - 1}")
    return classes


def teacher_forced(images):
    """Images (B, H, W) -> inputs (the rows shifted down by one, zeros first) and targets, (H, B, W)."""
    rows = np.ascontiguousarray(images.transpose(1, 0, 2))
    return np.concatenate([np.zeros_like(rows[:1]), rows[:-1]]), rows


def bce_with_logits(logits, targets, reduction="mean"):
    """Binary cross-entropy of intensities ``targets`` in [0, 1] under sigmoid(``logits``):
    ``max(z, 0) - y z + log(1 + exp(-|z|))``, finite for any z."""
    per_pixel = logits.relu() - logits * targets + (1.0 + (-logits.abs()).exp()).log()
    return per_pixel.mean() if reduction == "mean" else per_pixel.sum()


def loss_of(model, images, classes, reduction="mean"):
    previous, rows = teacher_forced(images)
    logits, _ = model(tg.tensor(previous, device=model.device), classes)
    return bce_with_logits(logits, tg.tensor(rows, device=logits.device), reduction)


def generate(model, classes, rng=None):
    """Images (B, H, W) of ``classes``, row by row, each row fed back: the mean intensities, or
    with ``rng`` pixels drawn from them (0 or 1)."""
    side = model.config["side"]
    classes = check_classes(classes, model.config["classes"])
    row = np.zeros((1, len(classes), side), np.float32)
    state, rows, device = None, [], model.device
    with tg.no_grad():
        for step in range(side):
            logits, state = model(tg.tensor(row, device=device), classes, state, start=step)
            mean = logits.sigmoid().numpy()
            row = (rng.random(mean.shape) < mean).astype(np.float32) if rng is not None else mean
            rows.append(mean[0])
    return np.stack(rows, axis=1)

# ---------------------------------------------------------------- training, for the harness


class Task(DigitsTask):
    name = "generate_rows"

    def loss(self, step, rng):
        images, labels = self.batch(step)
        return loss_of(self.model, images, labels), len(labels)

    def evaluate(self):
        return evaluate_on(self.model, *self.digits.held)


def evaluate_on(model, images, labels, batch_size=500):
    """Held-out per-pixel binary cross-entropy (nats), teacher-forced, and the mean squared error
    of whole digits drawn from the class alone (mean intensities fed back) against the digits."""
    total = sum(loss_of(model, images[i:i + batch_size], labels[i:i + batch_size],
                        reduction="sum").item() for i in range(0, len(labels), batch_size))
    drawn = np.concatenate([generate(model, labels[i:i + batch_size])
                            for i in range(0, len(labels), batch_size)])
    return {"val_loss": total / images.size, "free_mse": float(np.mean((drawn - images) ** 2))}

# ---------------------------------------------------------------- the command line


DEFAULTS = dict(hidden_size=128, form="every", batch_size=64, lr=1e-3, clip=0.0, eval_every=1000,
                eval_seconds=30.0, minutes=2.0)
SMOKE = dict(hidden_size=16, batch_size=16, steps=30, minutes=0.0, lr=1e-2)


def train(args):
    trainer.resolve(args, dict(DEFAULTS, **(SMOKE if args.smoke else {})))
    device = trainer.use_device(args)
    digits = Digits("mnist")
    tg.manual_seed(args.seed)
    model = RowGenerator(digits.side, args.hidden_size, args.form).to(device)
    print(f"generate_rows (class vector at {WHERE[args.form]}): "
          f"{len(digits.train[1]):,} training and {len(digits.held[1]):,} held-out MNIST digits; "
          f"LSTM {args.hidden_size}, batch {args.batch_size}, on {device}")
    out = args.out or os.path.join("runs", f"generate_rows-{args.form}")
    result = trainer.fit(Task(model, digits, args), args, out)
    model.eval()
    write_grid(model, os.path.join(out, "samples.png"), per_class=8, seed=args.seed)
    return result


def write_grid(model, out, per_class=8, seed=0, digits=range(CLASSES)):
    """``per_class`` digits of each class, one class a row: the first from the mean intensities,
    the others with drawn pixels fed back."""
    rng = np.random.default_rng(seed)
    images = []
    for digit in digits:
        classes = np.full(per_class, digit)
        drawn = generate(model, classes, rng)
        drawn[0] = generate(model, classes[:1], None)[0]
        images.extend(drawn)
    trainer.metrics.plot_images(np.array(images), out, columns=per_class,
                                title=f"class vector at {WHERE[model.config['form']]}: one class a row "
                                      f"(first column: mean intensities fed back; others: drawn pixels)")
    print(f"wrote {out}")


def sample(args):
    model, saved, path = trainer.load_run(args, Task.name, RowGenerator,
                                          os.path.join("runs", "generate_rows-every"))
    digits = range(CLASSES) if args.digit is None else [args.digit]
    try:
        check_classes(list(digits), model.config["classes"])
    except ValueError as e:
        raise trainer.UsageError(f"--digit {args.digit}: {e}") from None
    out = args.out or os.path.join(os.path.dirname(path), "samples.png")
    write_grid(model, out, args.per_class, args.seed, digits)
    return out


def evaluate(args):
    model, saved, path = trainer.load_run(args, Task.name, RowGenerator,
                                          os.path.join("runs", "generate_rows-every"))
    digits = Digits("mnist")
    trainer.checkpoint.check_identity(saved, path, digits.identity, ["data", "sha256"], "MNIST")
    result = evaluate_on(model, *digits.held)
    print(f"{path} (form {model.config['form']}, step {saved['step']}) on {len(digits.held[1])} "
          f"held-out digits: {result['val_loss']:.4f} nats per pixel (teacher-forced); digits "
          f"drawn from the class alone: mean squared error {result['free_mse']:.4f}")
    return result


def build_parser():
    parser = trainer.ArgumentParser(prog="python -m models.generate_rows",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("train", help="train (or --resume) a generator", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    model = fit.add_argument_group("model (defaults: LSTM 128, class at every step, batch 64)")
    model.add_argument("--form", choices=FORMS, default=None,
                       help="the class vector at the first step only, or at every step (every)")
    model.add_argument("--hidden-size", type=trainer.positive_int, default=None)
    model.add_argument("--batch-size", type=trainer.positive_int, default=None)
    fit.add_argument("--smoke", action="store_true", help="a tiny model for a few steps: seconds")
    trainer.add_train_options(fit)
    fit.set_defaults(func=train)
    for name, func, text in (("sample", sample, "a grid of generated digits (PNG)"),
                             ("eval", evaluate, "held-out per-pixel loss")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--checkpoint", default=None,
                             help="default: runs/generate_rows-every/checkpoint.safetensors")
        if name == "sample":
            command.add_argument("--digit", type=int, default=None, help="this class only (default: all)")
            command.add_argument("--per-class", type=trainer.positive_int, default=8)
            command.add_argument("--seed", type=trainer.non_negative_int, default=0)
            command.add_argument("--out", type=trainer.output_file, default=None, help="the PNG (default: samples.png by the checkpoint)")
        trainer.add_device_option(command)
        command.set_defaults(func=func)
    return parser


def main(argv=None):
    return trainer.run_command(build_parser(), argv)


if __name__ == "__main__":
    main()
