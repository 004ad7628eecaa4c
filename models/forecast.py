"""N->N time-series forecasting: read 20 steps of a series, predict it shifted by one at every step.

One input a step, a recurrent layer of 100 units (a ReLU RNN as in Géron 2017, ch. 14; ``--cell
lstm|gru``) and ONE output projection applied to all steps at once (Géron's more efficient way: the
(T, B, H) outputs go through a single Linear(H, 1)); the loss is the mean squared error over every
step of every window. Each series is scaled (mean 0, std 1) with statistics of its training part
only; the last 20% of the time axis is the test part. Evaluation predicts every test point one step
ahead from the 20 true values before it, in the series' own units, beside two baselines on the same
points: persistence (the last value) and a linear AR(20) fitted by least squares on the training
part. ``forecast`` runs the model on its own output for ``--horizon`` steps from the start of the
test part and plots it against the truth and the baselines run the same way.

Data: ``sunspots`` is the YEARLY sunspot number 1700-2008 (309 values; the monthly series is
not in models.data), ``stocks`` the monthly closing prices of AAPL, AMZN, GOOG, IBM and MSFT
2000-2010 (five series, one model), or the path of a .npy or text file (one series, or one a
column).

    python -m models.forecast train                          # sunspots, RNN-ReLU 100, 2 minutes
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
from models.data import load_stocks, load_sunspots

SOURCES = {"sunspots": lambda: load_sunspots()[1][:, None],
           "stocks": lambda: load_stocks()[1]}

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
    """Each column of a source: its training part (before ``cut``, leading NaNs dropped), its
    scaling fitted on that part, and the test points (indices from ``cut`` on)."""

    def __init__(self, source, window=20, test=0.2):
        table = read_series(source)
        self.name, self.window = os.path.basename(source), window
        self.cut = len(table) - round(test * len(table))
        self.columns, self.scales, self.points = [], [], []
        for column in table.T:
            start = int(np.argmax(~np.isnan(column))) if not np.isnan(column).all() else len(column)
            values = column[start:]
            if np.isnan(values).any():
                raise trainer.UsageError(f"--data {source}: missing values (NaN) inside a series")
            cut = self.cut - start
            if cut < window + 1 or len(values) - cut < 1:
                raise trainer.UsageError(
                    f"--data {source}: a series of {len(values)} values has {max(cut, 0)} to train "
                    f"on and {len(values) - max(cut, 0)} to test; it needs more than one window "
                    f"of {window} to train on and at least one value to test")
            mean, std = values[:cut].mean(), values[:cut].std() or 1.0
            self.columns.append(values)
            self.scales.append((mean, std))
            self.points.append(np.arange(max(cut, window), len(values)))
        self.cuts = [self.cut - (len(table) - len(v)) for v in self.columns]
        self.identity = {"data": source if source in SOURCES else os.path.abspath(source),
                         "shape": list(table.shape), "window": window, "test": test,
                         "sha256": hashlib.sha256(table.tobytes()).hexdigest()}

    def scaled(self, i):
        mean, std = self.scales[i]
        return (self.columns[i] - mean) / std

    def random_windows(self, batch_size, rng):
        """``batch_size`` windows of the training parts: inputs and targets shifted by one, (T, B, 1)."""
        counts = np.array([cut - self.window for cut in self.cuts])
        which = rng.choice(len(counts), size=batch_size, p=counts / counts.sum())
        starts = np.floor(rng.random(batch_size) * counts[which]).astype(np.int64)
        rows = np.stack([self.scaled(i)[s:s + self.window + 1] for i, s in zip(which, starts)], axis=1)
        return rows[:-1, :, None].astype(np.float32), rows[1:, :, None].astype(np.float32)

# ---------------------------------------------------------------- baselines and predictions


def persistence(values, points):
    """The last value before each point: ``values[t - 1]``."""
    return np.asarray(values)[np.asarray(points) - 1]


def fit_ar(train, order):
    """Least-squares AR(order) with an intercept: ``y_t = w . y[t-order:t] + b``; returns (w..., b)."""
    train = np.asarray(train, dtype=np.float64)
    if len(train) <= order:
        raise ValueError(f"AR({order}) needs more than {order} values to fit, got {len(train)}")
    rows = np.lib.stride_tricks.sliding_window_view(train[:-1], order)
    design = np.hstack([rows, np.ones((len(rows), 1))])
    return np.linalg.lstsq(design, train[order:], rcond=None)[0]


def ar_predict(values, points, coefficients):
    """One-step AR predictions of ``values[t]`` from the ``order`` values before it."""
    order, values = len(coefficients) - 1, np.asarray(values, dtype=np.float64)
    return np.array([values[t - order:t] @ coefficients[:-1] + coefficients[-1] for t in points])


def model_predict(model, series, i, points):
    """One-step predictions of column ``i`` at ``points`` from the ``window`` true values before each."""
    scaled, w = series.scaled(i), series.window
    inputs = np.stack([scaled[t - w:t] for t in points], axis=1)[:, :, None].astype(np.float32)
    with tg.no_grad():
        out = model(tg.tensor(inputs, device=model.device)).numpy()[-1, :, 0]
    mean, std = series.scales[i]
    return out * std + mean


def rollout(step, history, horizon):
    """``horizon`` values, each made by ``step(last values)`` from the values so far, its own
    outputs fed back."""
    if horizon <= 0:
        raise ValueError(f"the forecast horizon must be >= 1 step, got {horizon}")
    values = list(history)
    for _ in range(horizon):
        values.append(float(step(np.array(values))))
    return np.array(values[len(history):])


def forecasts(model, series, i, start, horizon):
    """Model, AR(window) and persistence forecasts of column ``i`` for ``horizon`` steps from ``start``."""
    w, (mean, std) = series.window, series.scales[i]
    values = series.columns[i]
    if start < w:
        raise ValueError(f"a forecast from step {start} has fewer than one window ({w}) of history")
    coefficients, device = fit_ar(values[:series.cuts[i]], w), model.device

    def model_step(history):
        x = ((history[-w:] - mean) / std).astype(np.float32).reshape(w, 1, 1)
        with tg.no_grad():
            return model(tg.tensor(x, device=device)).numpy()[-1, 0, 0] * std + mean

    return {"model": rollout(model_step, values[:start], horizon),
            "AR": rollout(lambda h: h[-w:] @ coefficients[:-1] + coefficients[-1], values[:start], horizon),
            "persistence": np.full(horizon, values[start - 1])}


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def evaluate_on(model, series, predict=model_predict):
    """One-step RMSE on every test point (the series' units, all columns pooled) of the model and
    the two baselines; val_loss is the model's MSE in scaled units. ``predict`` is the model's
    one-step prediction (the PyTorch twin passes its own)."""
    truth, ours, ar, last, scaled_error = [], [], [], [], []
    for i, points in enumerate(series.points):
        values = series.columns[i]
        predicted = predict(model, series, i, points)
        truth.append(values[points])
        ours.append(predicted)
        ar.append(ar_predict(values, points, fit_ar(values[:series.cuts[i]], series.window)))
        last.append(persistence(values, points))
        scaled_error.append((predicted - values[points]) / series.scales[i][1])
    truth, ours, ar, last = (np.concatenate(x) for x in (truth, ours, ar, last))
    return {"val_loss": float(np.mean(np.concatenate(scaled_error) ** 2)),
            "val_rmse": rmse(ours, truth), "ar_rmse": rmse(ar, truth),
            "persistence_rmse": rmse(last, truth)}

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


DEFAULTS = dict(data="sunspots", hidden_size=100, cell="rnn-relu", window=20, batch_size=32,
                lr=1e-3, clip=0.0, eval_every=1000, eval_seconds=15.0, minutes=2.0)
SMOKE = dict(hidden_size=16, steps=40, minutes=0.0, lr=1e-2)


def run_dir(data, cell):
    name = data if data in SOURCES else os.path.splitext(os.path.basename(data))[0]
    return os.path.join("runs", f"forecast-{name}-{cell}")


def train(args):
    trainer.resolve(args, dict(DEFAULTS, **(SMOKE if args.smoke else {})))
    device = trainer.use_device(args)
    series = Series(args.data, args.window)
    tg.manual_seed(args.seed)
    model = Forecaster(args.hidden_size, args.cell).to(device)
    print(f"forecast on {series.name}: {len(series.columns)} series, the first {series.cut} steps "
          f"to train, {sum(map(len, series.points))} test points; {args.cell.upper()} "
          f"{args.hidden_size}, windows of {args.window}, batch {args.batch_size}, on {device}")
    result = trainer.fit(Task(model, series, args), args, args.out or run_dir(args.data, args.cell))
    print(f"one-step test RMSE: model {result['val_rmse']:.3f}, AR({args.window}) "
          f"{result['ar_rmse']:.3f}, persistence {result['persistence_rmse']:.3f}")
    return result


def check_split(saved, path):
    """The checkpoint's window and test fraction, in range."""
    entry = lambda key, types: trainer.checkpoint.identity_entry(saved, path, key, types)
    window, test = entry("window", int), entry("test", (int, float))
    if window < 1 or not 0 < test < 1:
        raise trainer.UsageError(f"checkpoint {path}: its identity's window {window} or test "
                                 f"fraction {test!r} is out of range")


def load_with_series(args):
    """The checkpoint's model and the series it was trained on (checked to be that one)."""
    model, saved, path = trainer.load_run(
        args, Task.name, Forecaster, run_dir(args.data or "sunspots", "rnn-relu"), check_split)
    identity = saved["identity"]
    series = Series(trainer.checkpoint.data_to_read(args.data, saved, path, SOURCES),
                    identity["window"], identity["test"])
    trainer.checkpoint.check_identity(saved, path, series.identity, ["sha256"], series.name)
    return model, series, saved, path


def evaluate(args):
    model, series, saved, path = load_with_series(args)
    result = evaluate_on(model, series)
    print(f"{path} (step {saved['step']}) on the last {len(series.columns[0]) - series.cuts[0]} "
          f"steps of {series.name}, one step ahead: RMSE model {result['val_rmse']:.3f}, "
          f"AR({series.window}) {result['ar_rmse']:.3f}, persistence {result['persistence_rmse']:.3f}")
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
        line = f"series {i}: {args.horizon} steps from step {start}"
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
    data_help = "sunspots (yearly), stocks (monthly, five series) or a .npy / text file"
    fit = commands.add_parser("train", help="train (or --resume) a forecaster", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    fit.add_argument("--data", default=None, help=data_help + " (sunspots)")
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
                             help="default: runs/forecast-DATA-rnn-relu/checkpoint.safetensors")
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
