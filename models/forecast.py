"""N->N time-series forecasting: read 20 steps of a series, predict it shifted by one at every step.

What is read and predicted is the series' TARGET (``--target``, models/forecast_targets.py): by
default its change from one step to the next (``change``), else its ``log-return`` or its
``level`` itself. Changes stay in the range they were trained in where levels leave it (stocks
in 2008-2010), so the default forecaster predicts the next change and reports the level it
gives, ``x[t-1] + change``. One input a step, a recurrent layer of 100 units (a ReLU RNN as in Géron 2017, ch. 14; ``--cell
lstm|gru``) and ONE output projection applied to all steps at once (Géron's more efficient way: the
(T, B, H) outputs go through a single Linear(H, 1)); the loss is the mean squared error over every
step of every window. Each series' targets are scaled (mean 0, std 1) with statistics of its
training part only; the last 20% of the time axis is the test part. Evaluation predicts every test
point one step ahead from the 20 true targets before it and reports the RMSE of the levels in the
series' own units, beside two baselines on the same points: persistence (the last value) and a
linear AR(20) fitted by least squares on the training part of the SAME target. ``forecast`` runs
the model on its own output for ``--horizon`` steps from the start of the test part and plots it
against the truth and the baselines run the same way.

Data: ``sunspots`` is the YEARLY sunspot number 1700-2008 (309 values), ``sunspots-monthly`` the
monthly one 1749-1983 (2,820 values), ``stocks`` the monthly closing prices of AAPL, AMZN, GOOG,
IBM and MSFT 2000-2010 (five series, one model; RMSE pooled and per stock), or the path of a .npy
or text file (one series, or one a column).

    python -m models.forecast train                          # sunspots, changes, RNN-ReLU 100, 2 minutes
    python -m models.forecast train --data stocks --target log-return
    python -m models.forecast train --cell gru --out runs/forecast-sunspots-gru
    python -m models.forecast eval                           # RMSE beside the baselines
    python -m models.forecast forecast --horizon 30          # forecast.png
    python -m models.forecast train --smoke
"""
import argparse
import hashlib
import os
import warnings

import numpy as np
import tinygrad_seq as tg

from tinygrad_seq import train as trainer
from models.data import load_stocks, load_sunspots, load_sunspots_monthly
from models.data.series import SYMBOLS
from models.forecast_targets import (LAG, TARGETS, ar_predict, fit_ar, persistence, rmse,
                                     rollout, to_level, to_target)

SOURCES = {"sunspots": lambda: load_sunspots()[1][:, None],
           "sunspots-monthly": lambda: load_sunspots_monthly()[1][:, None],
           "stocks": lambda: load_stocks()[1]}
COLUMN_NAMES = {"stocks": SYMBOLS}  # a source's columns, in the reports; others are numbered

# ---------------------------------------------------------------- the module

CELLS = {"lstm": tg.nn.LSTM, "gru": tg.nn.GRU,
         "rnn-relu": lambda *a, **k: tg.nn.RNN(*a, nonlinearity="relu", **k),
         "rnn": lambda *a, **k: tg.nn.RNN(*a, nonlinearity="tanh", **k)}


class Forecaster(tg.nn.Module):
    """Values (T, B, 1) -> the next value at every step (T, B, 1).

    >>> Forecaster(hidden_size=5)(tg.zeros(20, 3, 1)).shape
    (20, 3, 1)
    """

    def __init__(self, hidden_size=100, cell="rnn-relu"):
        super().__init__()
        self.config = dict(hidden_size=hidden_size, cell=cell)
        self.rnn = CELLS[cell](1, hidden_size)
        self.head = tg.nn.Linear(hidden_size, 1)  # one projection over all (T * B) outputs

    def forward(self, values):
        if values.ndim != 3 or values.shape[2] != 1 or 0 in values.shape:
            raise ValueError(f"the forecaster reads (T, B, 1) values, T and B >= 1; got {values.shape}")
        out, _ = self.rnn(values)
        return self.head(out)


def loss_of(model, inputs, targets):
    return tg.nn.functional.mse_loss(model(inputs), targets)

# ---------------------------------------------------------------- data


def read_series(source):
    """(T, k) float64: the columns of a named source or of a .npy / text file."""
    if source in SOURCES:
        try:
            return np.asarray(SOURCES[source](), dtype=np.float64)
        except (ValueError, OSError, RuntimeError) as e:
            raise trainer.UsageError(f"--data {source}: {e}") from None
    if not os.path.isfile(source):
        raise trainer.UsageError(f"--data {source}: neither {' nor '.join(SOURCES)} nor a file")
    try:
        with warnings.catch_warnings():  # an empty file is refused below, in one line
            warnings.simplefilter("ignore", UserWarning)
            values = (np.load(source, allow_pickle=False) if source.endswith(".npy")
                      else np.loadtxt(source, ndmin=1))
    except (OSError, ValueError) as e:
        raise trainer.UsageError(f"--data {source}: not a series of numbers ({e})") from None
    values = np.asarray(values, dtype=np.float64)
    if values.ndim not in (1, 2) or values.size == 0:
        raise trainer.UsageError(f"--data {source}: a series has shape (T,) or (T, series); "
                                 f"got {values.shape}")
    return values[:, None] if values.ndim == 1 else values


class Series:
    """Each column of a source: its levels (leading NaNs dropped), its ``target``s (changes, log
    returns or the levels: forecast_targets), their scaling fitted on the training part (steps
    before ``cut``), and the test points (steps from ``cut`` on). The target of step ``t`` is
    ``targets[i][t - lag]``. With ``validation``, the test part is dropped and the last ``test``
    of the rest is held out instead: settings are chosen there, never on the test part."""

    def __init__(self, source, window=20, test=0.2, target="change", validation=False):
        if target not in TARGETS:
            raise trainer.UsageError(f"--target {target!r}: one of {', '.join(TARGETS)}")
        table = read_series(source)
        whole, sha256 = table.shape, hashlib.sha256(table.tobytes()).hexdigest()
        if validation:
            table = table[:len(table) - round(test * len(table))]
        self.name, self.window, self.target, self.lag = os.path.basename(source), window, target, LAG[target]
        names = COLUMN_NAMES.get(source, ())
        self.labels = list(names) if len(names) == table.shape[1] else [str(i) for i in range(table.shape[1])]
        self.cut = len(table) - round(test * len(table))
        self.columns, self.targets, self.scales, self.points = [], [], [], []
        for label, column in zip(self.labels, table.T):
            start = int(np.argmax(~np.isnan(column))) if not np.isnan(column).all() else len(column)
            values = column[start:]
            if np.isnan(values).any():
                raise trainer.UsageError(f"--data {source}: missing values (NaN) inside a series")
            cut = self.cut - start
            if cut - self.lag < window + 1 or len(values) - cut < 1:
                raise trainer.UsageError(
                    f"--data {source}: a series of {len(values)} values has {max(cut, 0)} to train "
                    f"on and {len(values) - max(cut, 0)} to test; it needs more than one window "
                    f"of {window} to train on ({window + 1 + self.lag} values for a {target}) and "
                    f"at least one value to test")
            try:
                targets = to_target(values, target)
            except ValueError as e:
                raise trainer.UsageError(f"--data {source} --target {target}: series {label}: {e}") from None
            trained = targets[:cut - self.lag]
            self.columns.append(values)
            self.targets.append(targets)
            self.scales.append((trained.mean(), trained.std() or 1.0))
            self.points.append(np.arange(max(cut, window + self.lag), len(values)))
        self.cuts = [self.cut - (len(table) - len(v)) for v in self.columns]
        self.identity = {"data": source if source in SOURCES else os.path.abspath(source),
                         "shape": list(whole), "window": window, "test": test, "target": target,
                         "validation": validation, "sha256": sha256}

    def scaled(self, i):
        mean, std = self.scales[i]
        return (self.targets[i] - mean) / std

    def unscaled(self, i, outputs):
        """The model's scaled outputs for column ``i`` in the target's own units."""
        mean, std = self.scales[i]
        return np.asarray(outputs, dtype=np.float64) * std + mean

    def levels(self, i, points, predicted):
        """The levels at ``points`` that the targets ``predicted`` for them give, each after the
        true level before it."""
        points = np.asarray(points)
        return to_level(self.columns[i][points - 1], predicted, self.target)

    def random_windows(self, batch_size, rng):
        """``batch_size`` windows of the training parts: inputs and targets shifted by one, (T, B, 1)."""
        counts = np.array([cut - self.lag - self.window for cut in self.cuts])
        which = rng.choice(len(counts), size=batch_size, p=counts / counts.sum())
        starts = np.floor(rng.random(batch_size) * counts[which]).astype(np.int64)
        rows = np.stack([self.scaled(i)[s:s + self.window + 1] for i, s in zip(which, starts)], axis=1)
        return rows[:-1, :, None].astype(np.float32), rows[1:, :, None].astype(np.float32)

    def inputs_before(self, i, points):
        """The ``window`` scaled targets before each of ``points``, (window, len(points), 1) float32."""
        scaled, w = self.scaled(i), self.window
        return np.stack([scaled[t - self.lag - w:t - self.lag] for t in points],
                        axis=1)[:, :, None].astype(np.float32)

# ---------------------------------------------------------------- baselines and predictions


def fit_ar_on_target(series, i):
    """AR(window) fitted on the training part of column ``i``'s targets (not its levels)."""
    return fit_ar(series.targets[i][:series.cuts[i] - series.lag], series.window)


def model_predict(model, series, i, points):
    """One-step predictions of column ``i``'s targets at ``points`` (in the target's units) from
    the ``window`` true targets before each."""
    inputs = series.inputs_before(i, points)
    with tg.no_grad():
        out = model(tg.tensor(inputs, device=model.device)).numpy()[-1, :, 0]
    return series.unscaled(i, out)


def forecasts(model, series, i, start, horizon):
    """Model, AR(window) and persistence forecasts of column ``i``'s levels for ``horizon`` steps
    from ``start``, each step's target turned into a level and fed back."""
    w, lag, target = series.window, series.lag, series.target
    mean, std = series.scales[i]
    if start < w + lag:
        raise ValueError(f"a forecast from step {start} has fewer than one window ({w}) of "
                         f"history{f' and {lag} step for the first {target}' if lag else ''}")
    coefficients, device = fit_ar_on_target(series, i), model.device

    def model_target(targets):
        x = ((targets - mean) / std).astype(np.float32).reshape(w, 1, 1)
        with tg.no_grad():
            return model(tg.tensor(x, device=device)).numpy()[-1, 0, 0] * std + mean

    def step(predict_target):  # levels so far -> the next level
        return lambda history: to_level(history[-1:], [predict_target(
            to_target(history[-(w + lag):], target))], target)[0]

    values = series.columns[i]
    return {"model": rollout(step(model_target), values[:start], horizon),
            "AR": rollout(step(lambda t: t @ coefficients[:-1] + coefficients[-1]), values[:start], horizon),
            "persistence": np.full(horizon, values[start - 1])}


def evaluate_on(model, series, predict=model_predict):
    """One-step RMSE of the levels on every test point (the series' units, all columns pooled;
    with several columns, each column's too, as ``<label>_rmse`` ...) of the model and the two
    baselines; val_loss is the model's MSE on the scaled targets. ``predict`` gives the model's
    one-step targets in their own units (the PyTorch twin passes its own)."""
    pooled = {"truth": [], "model": [], "AR": [], "persistence": []}
    scaled_error, per_column = [], {}
    for i, points in enumerate(series.points):
        values, lag = series.columns[i], series.lag
        predicted = np.asarray(predict(model, series, i, points), dtype=np.float64)
        ar_target = ar_predict(series.targets[i], points - lag, fit_ar_on_target(series, i))
        scaled_error.append((predicted - series.targets[i][points - lag]) / series.scales[i][1])
        found = {"truth": values[points], "model": series.levels(i, points, predicted),
                 "AR": series.levels(i, points, ar_target), "persistence": persistence(values, points)}
        for key, value in found.items():
            pooled[key].append(value)
        label = series.labels[i]
        per_column.update({f"{label}_rmse": rmse(found["model"], found["truth"]),
                           f"{label}_ar_rmse": rmse(found["AR"], found["truth"]),
                           f"{label}_persistence_rmse": rmse(found["persistence"], found["truth"])})
    truth, ours, ar, last = (np.concatenate(pooled[key]) for key in pooled)
    result = {"val_loss": float(np.mean(np.concatenate(scaled_error) ** 2)),
              "val_rmse": rmse(ours, truth), "ar_rmse": rmse(ar, truth),
              "persistence_rmse": rmse(last, truth)}
    return dict(result, **per_column) if len(series.columns) > 1 else result

# ---------------------------------------------------------------- training, for the harness


class Task(trainer.Task):
    name, unit = "forecast", "window"

    def __init__(self, model, series, args):
        self.model, self.series, self.args = model, series, args
        self.config = model.config
        self.identity = dict(series.identity, batch_size=args.batch_size)

    def loss(self, step, rng):
        inputs, targets = self.series.random_windows(self.args.batch_size, rng)
        device = self.model.device
        return loss_of(self.model, tg.tensor(inputs, device=device),
                       tg.tensor(targets, device=device)), inputs.shape[1]

    def evaluate(self):
        return evaluate_on(self.model, self.series)

# ---------------------------------------------------------------- the command line


DEFAULTS = dict(data="sunspots", target="change", hidden_size=100, cell="rnn-relu", window=20,
                batch_size=32, lr=1e-3, clip=0.0, eval_every=1000, eval_seconds=15.0, minutes=2.0)
SMOKE = dict(hidden_size=16, steps=40, minutes=0.0, lr=1e-2)


def run_dir(data, cell, target):
    """runs/forecast-DATA-CELL-TARGET; a level forecaster keeps the folder it had before targets."""
    name = data if data in SOURCES else os.path.splitext(os.path.basename(data))[0]
    return os.path.join("runs", f"forecast-{name}-{cell}" + ("" if target == "level" else f"-{target}"))


def target_of(saved, path):
    """The checkpoint's target kind; a checkpoint without one predates targets and forecast levels."""
    if "target" not in saved["identity"]:
        return "level"
    target = trainer.checkpoint.identity_entry(saved, path, "target")
    if target not in TARGETS:
        raise trainer.UsageError(f"checkpoint {path}: its target {target!r} is not one of "
                                 f"{', '.join(TARGETS)}")
    return target


def refuse_resuming_a_level_run_without_target(path):
    saved = trainer.checkpoint.load(path, Task.name)
    if "target" not in saved["identity"]:
        raise trainer.UsageError(
            f"--resume: {path} predates --target (it forecasts levels and records no target): "
            f"eval and forecast still read it, as --target level; to train on, start a new run "
            f"(--target level reproduces it)")


def train(args):
    trainer.resolve(args, dict(DEFAULTS, **(SMOKE if args.smoke else {})))
    out = args.out or run_dir(args.data, args.cell, args.target)
    if args.resume:
        refuse_resuming_a_level_run_without_target(trainer.RunPaths(out).checkpoint)
    device = trainer.use_device(args)
    series = Series(args.data, args.window, target=args.target, validation=args.validation)
    tg.manual_seed(args.seed)
    model = Forecaster(args.hidden_size, args.cell).to(device)
    print(f"forecast of the {args.target} of {series.name}: {len(series.columns)} series, the first "
          f"{series.cut} steps to train, {sum(map(len, series.points))} "
          f"{'validation' if args.validation else 'test'} points; "
          f"{args.cell.upper()} {args.hidden_size}, windows of {args.window}, batch "
          f"{args.batch_size}, on {device}")
    result = trainer.fit(Task(model, series, args), args, out)
    print(f"one-step test RMSE: model {result['val_rmse']:.3f}, AR({args.window}) "
          f"{result['ar_rmse']:.3f}, persistence {result['persistence_rmse']:.3f}")
    return result


def check_split(saved, path):
    """The checkpoint's window and test fraction, in range, and its target kind, known."""
    entry = lambda key, types: trainer.checkpoint.identity_entry(saved, path, key, types)
    window, test = entry("window", int), entry("test", (int, float))
    if window < 1 or not 0 < test < 1:
        raise trainer.UsageError(f"checkpoint {path}: its identity's window {window} or test "
                                 f"fraction {test!r} is out of range")
    target_of(saved, path)
    if "validation" in saved["identity"]:
        entry("validation", bool)


def load_with_series(args):
    """The checkpoint's model and the series it was trained on (checked to be that one)."""
    folder = run_dir(args.data or DEFAULTS["data"], DEFAULTS["cell"], DEFAULTS["target"])
    model, saved, path = trainer.load_run(args, Task.name, Forecaster, folder, check_split)
    identity = saved["identity"]
    series = Series(trainer.checkpoint.data_to_read(args.data, saved, path, SOURCES),
                    identity["window"], identity["test"], target_of(saved, path),
                    identity.get("validation", False))
    trainer.checkpoint.check_identity(saved, path, series.identity, ["sha256"], series.name)
    return model, series, saved, path


def evaluate(args):
    model, series, saved, path = load_with_series(args)
    result = evaluate_on(model, series)
    print(f"{path} (step {saved['step']}, {series.target}) on the last "
          f"{len(series.columns[0]) - series.cuts[0]} steps of {series.name}, one step ahead: "
          f"RMSE model {result['val_rmse']:.3f}, AR({series.window}) {result['ar_rmse']:.3f}, "
          f"persistence {result['persistence_rmse']:.3f}")
    for label in series.labels if len(series.labels) > 1 else ():
        print(f"  {label}: model {result[label + '_rmse']:.3f}, AR({series.window}) "
              f"{result[label + '_ar_rmse']:.3f}, persistence {result[label + '_persistence_rmse']:.3f}")
    return result


def forecast(args):
    model, series, saved, path = load_with_series(args)
    plt = trainer.extras.pyplot()

    figure, axes = plt.subplots(len(series.columns), 1, figsize=(9, 2.8 * len(series.columns)),
                                squeeze=False)
    results = []
    for i, axis in enumerate(axes[:, 0]):
        start = series.cuts[i] if args.start is None else args.start
        try:
            drawn = forecasts(model, series, i, start, args.horizon)
        except ValueError as e:
            raise trainer.UsageError(f"--horizon {args.horizon} --start {start}: {e}") from None
        values = series.columns[i]
        steps = np.arange(start, start + args.horizon)
        known = steps < len(values)
        shown = np.arange(max(0, start - 3 * series.window), min(len(values), start + args.horizon))
        axis.plot(shown, values[shown], "k-", label="truth")
        line = f"series {series.labels[i]}: {args.horizon} steps from step {start}"
        for name, path_values in drawn.items():
            axis.plot(steps, path_values, label=name)
            if known.any():
                line += f"; {name} RMSE {rmse(path_values[known], values[steps[known]]):.3f}"
        axis.axvline(start - 0.5, color="grey", lw=0.8)
        axis.legend(fontsize=7)
        print(line)
        results.append(drawn)
    figure.suptitle(f"{series.name}: the model fed its own output, against the truth and the baselines",
                    fontsize=9)
    out = args.out or os.path.join(os.path.dirname(path), "forecast.png")
    trainer.metrics.save_figure(figure, out)
    print(f"wrote {out}")
    return results


def build_parser():
    parser = trainer.ArgumentParser(prog="python -m models.forecast",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    data_help = ("sunspots (yearly), sunspots-monthly, stocks (monthly, five series) or a .npy "
                 "/ text file")
    fit = commands.add_parser("train", help="train (or --resume) a forecaster", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    fit.add_argument("--data", default=None, help=data_help + " (sunspots)")
    fit.add_argument("--target", choices=TARGETS, default=None,
                     help="what the model predicts: the next step's change (default), log return "
                          "(positive series) or level; RMSE is of the levels either way")
    fit.add_argument("--validation", action="store_true",
                     help="hold out the last 20%% of the training part instead of the test part "
                          "(choose settings there, never on the test part)")
    model = fit.add_argument_group("model (defaults: RNN-ReLU 100, windows of 20, batch 32)")
    model.add_argument("--cell", choices=sorted(CELLS), default=None)
    model.add_argument("--hidden-size", type=trainer.positive_int, default=None)
    model.add_argument("--window", type=trainer.positive_int, default=None)
    model.add_argument("--batch-size", type=trainer.positive_int, default=None)
    fit.add_argument("--smoke", action="store_true", help="a tiny model for a few steps: seconds")
    trainer.add_train_options(fit)
    fit.set_defaults(func=train)
    for name, func, text in (("eval", evaluate, "one-step test RMSE beside the baselines"),
                             ("forecast", forecast, "feed the model its own output; plot it")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--data", default=None, help=data_help + " (default: the checkpoint's)")
        command.add_argument("--checkpoint", default=None,
                             help="default: runs/forecast-DATA-rnn-relu-change/checkpoint.safetensors")
        if name == "forecast":
            command.add_argument("--horizon", type=trainer.positive_int, default=20, help="steps to forecast (20)")
            command.add_argument("--start", type=trainer.non_negative_int, default=None,
                                 help="forecast from this step (default: the start of the test part)")
            command.add_argument("--out", type=trainer.output_file, default=None, help="the PNG (default: forecast.png by the checkpoint)")
        trainer.add_device_option(command)
        command.set_defaults(func=func)
    return parser


def main(argv=None):
    return trainer.run_command(build_parser(), argv)


if __name__ == "__main__":
    main()
