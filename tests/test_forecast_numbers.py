"""Every number of docs/models.md's "Models IV: forecasting changes, against persistence", recomputed
from the logs in docs/results/models/forecast-iv/ (COMMANDS.md there gives the commands).

The step budget of each run is recomputed from the validation logs (the evaluated step with the
lowest mean validation RMSE over the three seeds) and the test runs are checked to have run that
budget on the test split; the tables' cells are the test runs' last evaluations, mean ± sample
sd over the seeds. A log that is not committed fails (never a skip)."""
import statistics

import pytest

from test_doc_numbers import assert_row, assert_says, log, table

MODELS = "models.md"
SECTION = "Models IV: forecasting changes, against persistence"
SEEDS = (0, 1, 2)
CASES = [  # (first cell of the table, data, target)
    ("yearly sunspots, level", "sunspots", "level"),
    ("yearly sunspots, change", "sunspots", "change"),
    ("monthly sunspots, level", "sunspots-monthly", "level"),
    ("monthly sunspots, change", "sunspots-monthly", "change"),
    ("five stocks, level", "stocks", "level"),
    ("five stocks, change", "stocks", "change"),
    ("five stocks, log return", "stocks", "log-return"),
]
STOCKS = ("AAPL", "AMZN", "GOOG", "IBM", "MSFT")


def records(phase, data, target, seed, kind):
    return [r for r in log(f"models/forecast-iv/{phase}/{data}-{target}/seed{seed}.metrics.jsonl.gz")
            if r["kind"] == kind]


def chosen_steps(data, target):
    """The evaluated step (> 0) with the lowest mean validation RMSE over the seeds; the first on a tie."""
    curves = []
    for seed in SEEDS:
        [run] = records("validation", data, target, seed, "run")
        assert run["identity"]["validation"] is True and run["identity"]["target"] == target
        assert run["identity"]["data"] == data and run["seed"] == seed
        curves.append({r["step"]: r["val_rmse"] for r in records("validation", data, target, seed, "eval")
                       if r["step"] > 0})
    assert all(sorted(c) == list(range(50, 1001, 50)) for c in curves)
    return min(sorted(curves[0]), key=lambda step: statistics.mean(c[step] for c in curves))


@pytest.fixture(scope="module")
def finals():
    """{(data, target): (the chosen steps, {metric: [the last evaluation of each seed]})}."""
    found = {}
    for _, data, target in CASES:
        steps, last = chosen_steps(data, target), {}
        for seed in SEEDS:
            [run] = records("test", data, target, seed, "run")
            assert run["identity"]["validation"] is False and run["identity"]["target"] == target
            assert run["identity"]["data"] == data and run["seed"] == seed
            assert run["config"] == {"hidden_size": 100, "cell": "rnn-relu"}
            evaluation = records("test", data, target, seed, "eval")[-1]
            assert evaluation["step"] == records("test", data, target, seed, "train")[-1]["step"] == steps
            for metric, value in evaluation.items():
                last.setdefault(metric, []).append(value)
        for metric, values in last.items():  # the baselines do not depend on the seed
            if "ar_rmse" in metric or "persistence_rmse" in metric:
                assert max(values) == min(values), (data, target, metric)
        found[data, target] = steps, last
    return found


def spread(values):
    return [statistics.mean(values), statistics.stdev(values)]


def test_the_table_is_the_test_runs_at_the_steps_chosen_on_validation(finals):
    t = table(MODELS, "Against persistence and AR(20)")
    assert len(t.rows) == len(CASES)
    for first, data, target in CASES:
        steps, last = finals[data, target]
        assert_row(t.row(first), {"steps (chosen on validation)": steps,
                                  "RNN-ReLU 100": spread(last["val_rmse"]),
                                  "AR(20), same target": last["ar_rmse"][0],
                                  "persistence": last["persistence_rmse"][0]})


def test_each_stock_is_the_test_runs(finals):
    t = table(MODELS, "Each stock")
    assert t.first_cells() == list(STOCKS)
    for stock in STOCKS:
        cells = {"persistence": finals["stocks", "change"][1][f"{stock}_persistence_rmse"][0]}
        for target, name in (("level", "level"), ("change", "change"), ("log-return", "log return")):
            last = finals["stocks", target][1]
            cells[f"{name}: model"] = spread(last[f"{stock}_rmse"])
            cells[f"{name}: AR(20)"] = last[f"{stock}_ar_rmse"][0]
        for target in ("level", "log-return"):
            assert finals["stocks", target][1][f"{stock}_persistence_rmse"][0] == cells["persistence"]
        assert_row(t.row(stock), cells)


def test_the_prose_is_the_logs(finals):
    mean = lambda data, target, metric="val_rmse": statistics.mean(finals[data, target][1][metric])
    first = lambda data, target, metric: finals[data, target][1][metric][0]
    # yearly sunspots: changes beat AR(20) on the same changes in every seed, and persistence
    yearly = finals["sunspots", "change"][1]
    assert max(yearly["val_rmse"]) < yearly["ar_rmse"][0]
    assert_says(MODELS, f"{mean('sunspots', 'change'):.2f} ± {statistics.stdev(yearly['val_rmse']):.2f}, below "
                        f"AR(20) fitted on the same changes ({yearly['ar_rmse'][0]:.2f}) in each of the three seeds, "
                        f"and {100 * (1 - mean('sunspots', 'change') / yearly['persistence_rmse'][0]):.0f}% below persistence")
    level = finals["sunspots", "level"][1]
    assert_says(MODELS, f"gives {mean('sunspots', 'level'):.2f} ± {statistics.stdev(level['val_rmse']):.2f}, on a "
                        f"par with AR(20) on levels ({level['ar_rmse'][0]:.2f})")
    assert abs(mean("sunspots", "level") - level["ar_rmse"][0]) < statistics.stdev(level["val_rmse"])
    # monthly sunspots: persistence beaten, AR(20) not, with either target
    for target in ("level", "change"):
        assert first("sunspots-monthly", target, "ar_rmse") < mean("sunspots-monthly", target) \
            < first("sunspots-monthly", target, "persistence_rmse")
    [run] = records("test", "sunspots-monthly", "change", 0, "run")
    months = run["identity"]["shape"][0]
    assert_says(MODELS, f"1749–1983 ({months:,} values)")
    assert_says(MODELS, f"({round(0.2 * months)} test months)")
    assert_says(MODELS, f"beats persistence ({mean('sunspots-monthly', 'change'):.2f} against "
                        f"{first('sunspots-monthly', 'change', 'persistence_rmse'):.2f}) but not AR(20) "
                        f"({first('sunspots-monthly', 'change', 'ar_rmse'):.2f})")
    # the stocks: closer to persistence than levels, never below it
    assert_says(MODELS, f"from {mean('stocks', 'level'):.2f} (levels, same protocol) to {mean('stocks', 'change'):.2f}")
    assert_says(MODELS, f"but persistence ({first('stocks', 'change', 'persistence_rmse'):.2f}) stays ahead")
    [run] = records("test", "stocks", "change", 0, "run")
    total = run["identity"]["shape"][0]
    assert_says(MODELS, f"on each stock's {round(0.2 * total)} test months")
    assert_says(MODELS, f"fitted on 30–{total - round(0.2 * total)} months a stock")
    above = {stock: mean("stocks", "change", f"{stock}_rmse") / first("stocks", "change", f"{stock}_persistence_rmse") - 1
             for stock in STOCKS}
    assert min(above.values()) > 0
    low, high = min(above, key=above.get), max(above, key=above.get)
    assert_says(MODELS, f"by {100 * above[low]:.2f}% ({low}) to {100 * above[high]:.1f}% ({high})")
    assert finals["stocks", "change"][0] == finals["stocks", "log-return"][0] == 50
    assert_says(MODELS, "Validation chose the smallest budget (50 steps) for both stock targets")
    assert mean("stocks", "log-return") > mean("stocks", "change")
    assert_says(MODELS, f"do no better than changes here ({mean('stocks', 'log-return'):.2f})")
