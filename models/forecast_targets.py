"""What a forecaster predicts (the next level of a series, its change, or its log return) and
the baselines it is measured against on the same target.

A price that leaves the range it was trained in (stocks in 2008-2010) is a level no network has
seen, while its changes stay in a range seen before: the changes are (nearly) stationary, the
levels are not. So the forecaster predicts the target kind and the level is rebuilt from the
last true level for reporting, in the series' own units:

- ``level``: ``x[t]`` itself (the first forecaster's target).
- ``change``: ``x[t] - x[t-1]``; the level is ``x[t-1] + change``.
- ``log-return``: ``log(x[t] / x[t-1])``; the level is ``x[t-1] * exp(return)``. Scale-free (a
  10% move is the same number at $20 and at $500) but needs positive values: sunspots have
  years of zero.

Persistence (the last value) is the zero change in every kind. ``LAG`` is how many steps a
target needs before it: the target of step ``t`` is ``targets[t - LAG[kind]]``.

>>> import numpy as np
>>> prices = np.array([100.0, 110.0, 99.0])
>>> to_target(prices, "change").tolist()
[10.0, -11.0]
>>> to_level(prices[:-1], to_target(prices, "change"), "change").tolist()
[110.0, 99.0]
>>> to_target(prices, "log-return").round(4).tolist()
[0.0953, -0.1054]
"""
import numpy as np

TARGETS = ("change", "log-return", "level")
LAG = {"level": 0, "change": 1, "log-return": 1}


def check_kind(kind):
    if kind not in LAG:
        raise ValueError(f"unknown target kind {kind!r}: one of {', '.join(TARGETS)}")
    return kind


def check_values(values, kind):
    """Refuse a series the kind cannot be made of, naming the first bad step."""
    values = np.asarray(values, dtype=np.float64)
    if kind == "log-return" and not (values > 0).all():
        step = int(np.argmax(~(values > 0)))
        raise ValueError(f"log returns need positive values; step {step} is {values[step]:g} "
                         f"(use --target change)")
    if len(values) <= LAG[check_kind(kind)]:
        raise ValueError(f"a {kind} needs more than {LAG[kind]} value(s), got {len(values)}")


def to_target(values, kind):
    """The targets of steps ``LAG[kind]`` on, float64: ``len(values) - LAG[kind]`` of them."""
    check_values(values, kind)
    values = np.asarray(values, dtype=np.float64)
    if kind == "change":
        return np.diff(values)
    if kind == "log-return":
        return np.diff(np.log(values))
    return values.copy()


def to_level(previous, predicted, kind):
    """The levels that ``predicted`` targets give after the true ``previous`` levels (one each);
    ``previous`` is unused for ``level``."""
    predicted = np.asarray(predicted, dtype=np.float64)
    if check_kind(kind) == "level":
        return predicted.copy()
    previous = np.asarray(previous, dtype=np.float64)
    if previous.shape != predicted.shape:
        raise ValueError(f"one previous level a prediction: got {previous.shape} levels for "
                         f"{predicted.shape} predictions")
    return previous + predicted if kind == "change" else previous * np.exp(predicted)

# ---------------------------------------------------------------- baselines, on any target


def persistence(values, points):
    """The last value before each point: ``values[t - 1]`` (a change of zero)."""
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


def rollout(step, history, horizon):
    """``horizon`` values, each made by ``step(last values)`` from the values so far, its own
    outputs fed back."""
    if horizon <= 0:
        raise ValueError(f"the forecast horizon must be >= 1 step, got {horizon}")
    values = list(history)
    for _ in range(horizon):
        values.append(float(step(np.array(values))))
    return np.array(values[len(history):])


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))
