"""Every number in the docs' result tables, recomputed from the logs in docs/results/.

A table edited by hand, or a log replaced without its table, fails here. Each docs page has a
section below (a ``# ----- docs/<page>`` comment line, then its tests) whose tests read a table
with the helpers at the top and compare every cell with the value its log gives, at the
precision the cell shows. A log that is not committed fails its test (never a skip): the README
of its docs/results/ folder gives the command that writes it.

The helpers:

- ``table(page, heading, first_header=None)`` -> ``Table``: the markdown table under a heading
  of ``docs/<page>`` (the first one under it, or the one whose first header cell starts with
  ``first_header``). ``Table.row(start)`` is the row whose first cell starts with ``start``
  (exactly one must), as a dict from header to cell; ``Table.column(header)`` a column.
- ``numbers(cell)`` -> the numbers written in a cell, as strings ("**1125, 231 s**; 0.0013"
  -> ["1125", "231", "0.0013"]).
- ``assert_shown(cell_or_text, value)``: the text shows ``value`` rounded to the digits it
  shows ("0.55" holds 0.5512, not 0.556; "4e-6" holds 3.7e-6 to 4.5e-6).
- ``assert_row(row, expected)``: every number of a table row's cells equals its value.
- ``assert_says(page, phrase)``: a number in prose, as a phrase built from its log.
- ``log(path)``: a JSON (or JSON lines) log under docs/results/, gzipped or not.

    >>> numbers("**1125, 231 s**; 0.0013")
    ['1125', '231', '0.0013']
    >>> assert_shown("0.55", 0.5512)
    >>> assert_shown("1.30×", 1.2993)
"""
import functools
import gzip
import json
import math
import os
import re
import statistics
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
RESULTS = os.path.join(DOCS, "results")

# a number not inside a word ("x50", "l0") nor a version ("2.13.0"); a sentence's full stop may
# follow it
NUMBER = re.compile(r"(?<![\w.])[-−]?\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-−+]?\d+)?(?!\w|\.\d)")


# ---------------------------------------------------------------- helpers (shared by every page)

class Table:
    """A markdown table: ``header`` (cells of the first line) and ``rows`` (lists of cells)."""

    def __init__(self, page, heading, header, rows):
        self.page, self.heading, self.header, self.rows = page, heading, header, rows

    def row(self, start, exact=False):
        """The one row whose first cell (bold marks removed) starts with ``start`` (or is
        ``start``, with ``exact``), as a dict from header to cell."""
        found = [r for r in self.rows
                 if (plain(r[0]) == start if exact else plain(r[0]).startswith(start))]
        if len(found) != 1:
            raise AssertionError(f"{self.page} '{self.heading}': {len(found)} rows start with "
                                 f"{start!r}; first cells: {[plain(r[0]) for r in self.rows]}")
        return dict(zip(self.header, found[0]))

    def column(self, header):
        if header not in self.header:
            raise AssertionError(f"{self.page} '{self.heading}': no column {header!r} in "
                                 f"{self.header}")
        i = self.header.index(header)
        return [r[i] for r in self.rows]

    def first_cells(self):
        return [plain(r[0]) for r in self.rows]


def plain(cell):
    """A cell without markdown emphasis or surrounding space."""
    return cell.replace("**", "").replace("`", "").strip()


def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def tables(page):
    """Every table of ``docs/<page>`` as (heading, Table), in order; the heading is the last
    markdown heading above the table, or the last bold-only paragraph start (``**2 threads**``)."""
    with open(os.path.join(DOCS, page), encoding="utf-8") as file:
        lines = file.read().splitlines()
    found, heading, i = [], None, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("**") and not line.startswith("|"):
            heading = line[2:line.find("**", 2)] if "**" in line[2:] else heading
        if line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[\s:|-]+\|$",
                                                                    lines[i + 1].strip()):
            header, rows = _cells(line), []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            found.append((heading, Table(page, heading, header, rows)))
            continue
        i += 1
    return found


def table(page, heading, first_header=None):
    """The table under ``heading`` (a markdown heading or a bold paragraph start, matched by its
    beginning) whose first header cell starts with ``first_header`` (if given)."""
    found = [t for h, t in tables(page)
             if h is not None and h.startswith(heading)
             and (first_header is None or t.header[0].startswith(first_header))]
    if not found:
        raise AssertionError(f"docs/{page}: no table under a heading starting {heading!r}"
                             + (f" with first column {first_header!r}" if first_header else "")
                             + f"; tables are under {[h for h, _ in tables(page)]}")
    return found[0]


def numbers(text):
    """The numbers written in ``text``, as strings (thousands separators and bold removed)."""
    return [n.replace(",", "").replace("−", "-") for n in NUMBER.findall(plain(text))]


def _value(shown):
    return float(shown.replace("−", "-").replace(",", ""))


def _half_unit(shown):
    """Half a unit of the last digit ``shown`` has: '0.55' -> 0.005, '4e-6' -> 0.5e-6."""
    shown = shown.replace("−", "-").replace(",", "")
    mantissa, _, exponent = shown.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (-decimals + (int(exponent) if exponent else 0))


def assert_shown(text, value, what=""):
    """``text`` holds exactly one number, and it is ``value`` rounded to the digits shown."""
    found = numbers(text)
    assert len(found) == 1, f"{what}: expected one number in {text!r}, found {found}"
    _assert_number(found[0], value, what or text)


def _assert_number(shown, value, what):
    assert value is not None and math.isfinite(value), f"{what}: the log gives {value}"
    # a relative slack of 1e-9 covers values that sit exactly on a rounding boundary
    slack = _half_unit(shown) * (1 + 1e-9) + 1e-12 * abs(value)
    assert abs(_value(shown) - value) <= slack, (
        f"{what}: the docs show {shown}, the log gives {value:.6g}")


def assert_row(row, expected):
    """``expected`` maps a column to the values (a number or a list) its cell must show, in the
    order written; every number in that cell must be accounted for."""
    for column, values in expected.items():
        values = values if isinstance(values, (list, tuple)) else [values]
        shown = numbers(row[column])
        assert len(shown) == len(values), (
            f"column {column!r}: cell {row[column]!r} shows {shown}, expected {len(values)} "
            f"numbers")
        for s, v in zip(shown, values):
            _assert_number(s, v, f"column {column!r}, cell {row[column]!r}")


def page_text(page):
    """The text of ``docs/<page>`` with every run of white space (line breaks too) one space,
    so that a phrase can be looked for across a wrapped line."""
    with open(os.path.join(DOCS, page), encoding="utf-8") as file:
        return " ".join(file.read().split())


def assert_says(page, phrase):
    """``docs/<page>`` contains ``phrase`` (white space normalised): for a number in prose,
    build the phrase from the log and look for it."""
    text, phrase = page_text(page), " ".join(phrase.split())
    assert phrase in text, f"docs/{page} does not say {phrase!r}"


def log(path):
    """A log under docs/results/: ``.json`` (one value) or ``.jsonl`` (a list of records),
    read gzipped when the name ends in ``.gz``."""
    full = os.path.join(RESULTS, path)
    if not os.path.exists(full):
        raise AssertionError(f"docs/results/{path} is not committed: the table it backs "
                             f"cannot be checked (see docs/results/README.md for its command)")
    opener = gzip.open if full.endswith(".gz") else open
    with opener(full, "rt", encoding="utf-8") as file:
        if ".jsonl" in path:
            return [json.loads(line) for line in file if line.strip()]
        return json.load(file)


def test_the_helpers_read_a_table_and_reject_a_drift(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text("# Top\n\n## Results\n\n| config | ms | ratio |\n|---|---:|---:|\n"
                    "| LSTM 50 | **27.5** | 1.76, 0.80 |\n| GRU 50 | 21.2 | 0.86 |\n",
                    encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "DOCS", str(tmp_path))
    t = table("page.md", "Results")
    assert t.first_cells() == ["LSTM 50", "GRU 50"]
    assert t.column("ms") == ["**27.5**", "21.2"]
    assert_row(t.row("LSTM"), {"ms": 27.46, "ratio": [1.764, 0.8]})
    with pytest.raises(AssertionError, match="27.5"):
        assert_row(t.row("LSTM"), {"ms": 27.56})
    with pytest.raises(AssertionError, match="expected 1 numbers"):
        assert_row(t.row("LSTM"), {"ratio": 1.76})
    with pytest.raises(AssertionError, match="0 rows"):
        t.row("tanh")
    assert numbers("4e-6 / 3.9e-6, 1,125 steps") == ["4e-6", "3.9e-6", "1125"]
    assert_shown("4e-6", 4.4e-6)
    with pytest.raises(AssertionError):
        assert_shown("4e-6", 4.6e-6)


# ---------------------------------------------------------------- docs/experiments.md

EXP = "experiments.md"
KS = (1, 5, 10, 20, 50)
K_COLUMNS = ("k = 1", "5", "10", "20", "50")


def test_vanishing_table_is_the_logs_ratios():
    t = table(EXP, "1. Vanishing gradients")
    tg_default = log("experiments/vanishing.json")
    trained = log("experiments/vanishing_trained.json")
    twin = {kind: [None] + [r[str(k)] if str(k) in r else None for k in range(1, 51)]
            for kind, r in log("experiments/vanishing_torch.json")["ratio"].items()}
    checked = set()

    def check(first, expected):
        row = t.row(first, exact=True)
        assert_row(row, expected)
        checked.add(first)

    check("PyTorch (our twin, same setting): tanh RNN", {c: twin["tanh"][k] for c, k in zip(K_COLUMNS, KS)})
    check("PyTorch (our twin): ReLU RNN", {c: twin["relu"][k] for c, k in zip(K_COLUMNS, KS)})
    for name, kind in (("tanh RNN", "tanh"), ("LSTM", "lstm"), ("GRU", "gru"),
                       ("ReLU RNN", "relu")):
        check(f"tg: {name}, default init",
              {c: tg_default[f"{kind} default"]["ratio"][k] for c, k in zip(K_COLUMNS, KS)})
    for name, kind in (("LSTM", "lstm"), ("GRU", "gru")):
        # the source's values beside the twin's: the twin must reproduce them (within 20%)
        first = f"PyTorch (given / our twin): {name}"
        row = t.row(first, exact=True)
        for c, k in zip(K_COLUMNS[:4], KS[:4]):
            given, ours = (_value(n) for n in numbers(row[c]))
            assert_row({c: row[c]}, {c: [given, twin[kind][k]]})
            assert abs(given / twin[kind][k] - 1) < 0.2, (first, c, given, twin[kind][k])
        assert numbers(row["50"]) == []
        checked.add(first)
    given = t.row("PyTorch (given): tanh RNN", exact=True)
    for c, k in zip(K_COLUMNS[:4], KS[:4]):
        assert abs(_value(numbers(given[c])[0]) / twin["tanh"][k] - 1) < 0.2, (c, given[c])
    checked.add("PyTorch (given): tanh RNN")
    for first, key in (("tg: LSTM, forget bias +1", "lstm_fb1 default"),
                       ("tg: tanh RNN, orthogonal W_hh", "tanh orthogonal"),
                       ("tg: ReLU RNN, orthogonal W_hh", "relu orthogonal"),
                       ("tg: LSTM, orthogonal W_hh (per gate)", "lstm orthogonal"),
                       ("tg: GRU, orthogonal W_hh (per gate)", "gru orthogonal")):
        check(first, {c: tg_default[key]["ratio"][k] for c, k in zip(K_COLUMNS, KS)})
    for first, key in (("tg: tanh RNN, trained (solved: MSE", "tanh trained"),
                       ("tg: LSTM, trained (MSE", "lstm trained"),
                       ("tg: LSTM forget bias +1, trained (solved: MSE", "lstm_fb1 trained"),
                       ("tg: GRU, trained (solved: MSE", "gru trained")):
        row = t.row(first)
        mse = trained[key]["adding_val_after_training"]
        assert ("solved" in row[t.header[0]]) == (mse[0] < 0.01), (first, mse)
        assert_row({"MSE": row[t.header[0]].split("MSE", 1)[1], **row},
                   {"MSE": mse, **{c: trained[key]["ratio"][k] for c, k in zip(K_COLUMNS, KS)}})
        checked.add(plain(row[t.header[0]]))
    assert sorted(checked) == sorted(t.first_cells()), "a row of the table has no check"


def test_vanishing_prose_numbers_are_the_logs():
    tg_default = log("experiments/vanishing.json")
    twin = log("experiments/vanishing_torch.json")["ratio"]
    gaps = {(kind, k): tg_default[f"{kind} default"]["ratio"][k] / twin[kind][str(k)]
            for kind in twin for k in KS}
    worst = max(gaps, key=lambda key: max(gaps[key], 1 / gaps[key]))
    assert worst == ("gru", 50) and max(max(g, 1 / g) for g in gaps.values()) < 2
    assert_says(EXP, f"the largest gap, {gaps[worst]:.1f}× at k = 50 for the GRU and "
                     f"{gaps[('tanh', 20)]:.1f}× at k = 20 for tanh")
    fb1, lstm = tg_default["lstm_fb1 default"]["ratio"], tg_default["lstm default"]["ratio"]
    assert_says(EXP, f"forget bias +1 gives the LSTM {fb1[5] / lstm[5]:.1f}× more at k = 5 and "
                     f"{round(fb1[20] / lstm[20], -1):.0f}× more at k = 20")
    first = [v for key in ("tanh trained", "lstm trained", "gru trained")
             for v in tg_default[key]["adding_val_after_training"]]
    assert_says(EXP, f"none solved: MSE {min(first):.2f}–{max(first):.2f}")
    assert_says(EXP, f"tanh RNN ({tg_default['tanh trained']['ratio'][5]:.2g} at k = 5)")
    gru = tg_default["gru trained"]["ratio"]
    assert_says(EXP, f"GRU ({gru[5]:.2g} at k = 5, {gru[20]:.2g} at k = 20)")


LONG_TERM_KINDS = {"tanh RNN": "tanh", "LSTM": "lstm", "LSTM, forget bias +1": "lstm_fb1",
                   "GRU": "gru"}


def _solved(records, threshold=0.01):
    return next((r for r in records if r["val"] < threshold), None)


def test_adding_problem_first_pass_is_the_log():
    t = table(EXP, "2. Long-term dependencies", first_header="T")
    runs = {(r["T"], r["kind"]): r for r in log("experiments/long_term.json")}
    assert len(t.rows) == len(runs)
    for cells in t.rows:
        row = dict(zip(t.header, cells))
        run = runs[(int(row["T"]), LONG_TERM_KINDS[plain(row["cell"])])]
        expected = {}
        for engine, column in (("tg", t.header[2]), ("torch", t.header[3])):
            last = run[engine][-1]
            expected[column] = [last["step"], last["val"]]
            assert _solved(run[engine]) is None           # the table has no "solved" column
            below = _solved(run[engine], 0.05)
            if below is not None:                       # "(below 0.05 at 106 s)"
                expected[column] += [0.05, below["seconds"]]
        assert_row(row, expected)
    loads = [r["load"] for run in runs.values() for e in ("tg", "torch") for r in run[e]]
    assert_says(EXP, f"First pass, 120 s each (load {min(loads):.1f}–{max(loads):.0f}")


def test_adding_problem_second_pass_is_the_logs():
    t = table(EXP, "2. Long-term dependencies", first_header="cell")
    runs = {r["kind"]: r for r in log("experiments/long_term_T100_420s.json")}
    rerun = log("experiments/long_term_T100_fb1_rerun.json")[0]
    rows = {"GRU": runs["gru"], "LSTM, forget bias 0": runs["lstm"],
            "LSTM, forget bias +1": runs["lstm_fb1"],
            "LSTM, forget bias +1, rerun on a quieter machine": rerun}
    assert sorted(rows) == sorted(t.first_cells())
    for first, run in rows.items():
        row = t.row(first, exact=True)
        expected = {}
        for engine, column in (("tg", t.header[2]), ("torch", t.header[3])):
            solved, last = _solved(run[engine]), run[engine][-1]
            expected[column] = ([solved["step"], solved["seconds"], last["val"]] if solved
                                else [last["step"], last["val"]])
        loads = [r["load"] for e in ("tg", "torch") for r in run[e]]
        if "→" in row["load"]:                           # a load that fell: first → last
            expected["load"] = [run["tg"][0]["load"], run["tg"][-1]["load"]]
        else:
            expected["load"] = [min(loads), max(loads)]
        assert_row(row, expected)


FAMILY = ("lstm1997", "lstm", "peephole", "gru", "gru_before")


def test_family_table_is_the_logs():
    t = table(EXP, "4. The LSTM family")
    columns = t.header[1:]
    t30, t50 = log("experiments/family_T30.json"), log("experiments/family.json")
    assert [t30[k][0]["T"] for k in FAMILY] == [30] * 5 and [t50[k][0]["T"] for k in FAMILY] == [50] * 5

    def expect(first, value_of):
        assert_row(t.row(first), {c: value_of(k) for c, k in zip(columns, FAMILY)})

    expect("T = 30, 2500 steps: solved", lambda k: (
        _solved(t30[k])["step"] if _solved(t30[k]) else min(r["val"] for r in t30[k])))
    assert all(t30[k][-1]["step"] == 2500 for k in FAMILY)
    expect("T = 30: final held-out MSE", lambda k: t30[k][-1]["val"])
    expect("T = 30: training seconds", lambda k: t30[k][-1]["seconds"])
    expect("T = 50, 90 s each: steps done", lambda k: t50[k][-1]["step"])
    expect("T = 50, 90 s: final held-out MSE", lambda k: t50[k][-1]["val"])
    assert len(t.rows) == 5
    assert "never" in t.row("T = 30, 2500 steps")["1997 LSTM"] and not _solved(t30["lstm1997"])


def test_dropout_table_is_the_log():
    t = table(EXP, "5. Dropout knows train from eval")
    records = log("experiments/dropout.json")
    last = records[-1]
    learned = [r for r in records if r["eval"] < 0.1]       # once the net has learned anything
    assert t.header[1] == f"held-out MSE at step {last['step']}"
    assert numbers(t.header[3]) == ["0.1", str(learned[0]["step"]), str(last["step"])]
    assert learned[-1] is last and all(r["eval"] < 0.1 for r in records[records.index(learned[0]):])
    assert_says(EXP, f"After {last['step']} steps ({last['seconds']:.0f} s)")

    def cost(key, r):
        return 100 * (r[key] / r["eval"] - 1)

    assert_row(t.row("eval mode"), {t.header[1]: last["eval"], t.header[2]: [], t.header[3]: []})
    for first, key in (("train mode, fresh masks", "train"),
                       ("train mode, the 8 predictions averaged", "mc")):
        costs = [cost(key, r) for r in learned]
        assert_row(t.row(first), {t.header[1]: last[key], t.header[2]: cost(key, last),
                                  t.header[3]: [min(costs), max(costs)]})
    assert len(t.rows) == 3
    costs, averaged = ([cost(key, r) for r in learned] for key in ("train", "mc"))
    assert_says(EXP, f"costs {min(costs):.0f}–{max(costs):.0f}% more error")
    assert_says(EXP, f"comes within {max(averaged):.0f}% of eval mode's loss")


def _repository_paths(message):
    """The anomaly message with the checkout's absolute paths made relative to it."""
    return re.sub(r'File "[^"]*?/((?:models|tinygrad_seq|tests)/[^"]*)"', r'File "\1"', message)


def test_exploding_prose_and_anomaly_trace_are_the_log():
    result = log("experiments/exploding.json")
    unclipped = result["no clipping"]
    losses = " → ".join(f"{loss:.2f}" if loss < 1e3 else f"{loss:.1e}".replace("e+0", "e")
                        for loss, _ in unclipped[:-1])
    assert unclipped[-1][0] != unclipped[-1][0]          # NaN
    assert_says(EXP, f"the loss goes {losses} → **NaN at the {len(unclipped)}th step** (gradient "
                     f"norm {unclipped[-2][1]:.1e}".replace("e+0", "e") + " just before)")
    assert_says(EXP, f"the gradient norm is {unclipped[0][1]:.0f} at the first step")
    clipped = result["clip_grad_norm_ 1.0"]
    last100 = [loss for loss, _ in clipped[-100:]]
    assert_says(EXP, f"stays finite for all {len(clipped)} steps (gradient norms up to "
                     f"{max(n for _, n in clipped):.0f} before clipping)")
    assert_says(EXP, f"from {clipped[0][0]:.2f} to {min(last100):.2f}–{max(last100):.2f} over its "
                     f"last 100 steps")
    with open(os.path.join(DOCS, EXP), encoding="utf-8") as file:
        text = file.read()
    block = text.split("of the code that ran):\n\n```\n", 1)[1].split("\n```", 1)[0]
    assert block == _repository_paths(result["anomaly"])


def test_experiments_load_range_is_the_logs():
    loads = []
    for name in os.listdir(os.path.join(RESULTS, "experiments")):
        if name.endswith(".jsonl"):
            loads += [r["load"] for r in log(f"experiments/{name}") if "load" in r]
    assert_says(EXP, f"it was between {min(loads):.1f} and {max(loads):.1f} over these runs")


def test_anomaly_overhead_is_the_benchmark_json():
    bench = log("performance/anomaly_overhead.json")
    assert_says(EXP, f"measured {bench['check_ns']:.0f} ns for the check against "
                     f"{bench['per_op_us']:.0f} µs per tiny op ({bench['check_percent_of_op']:.2f}%); "
                     f"on, the stack capture makes a chain of tiny ops {bench['on_over_off']:.1f}× "
                     f"slower")


# ---------------------------------------------------------------- docs/performance.md

PERF = "performance.md"


def _load_cell(load):
    """The 'other load (cores)' cell: mean (max) of the kept batches."""
    return [load["mean"], load["max"]] if load else []


def test_op_overhead_tables_are_the_benchmark_json():
    bench = log("performance/op_overhead.json")
    cases = {c["label"]: c for c in bench["cases"].values()}
    t = table(PERF, "Results", first_header="case")
    rows = [dict(zip(t.header, r)) for r in t.rows]
    assert len(rows) == sum(len(c["engines"]) for c in cases.values())
    for row in rows:
        case = cases[plain(row["case"])]
        e = case["engines"][plain(row["engine"])]
        assert_row(row, {"ops": case["ops"], "median µs / iter": e["median_us"],
                         "µs / op": e["per_op_us"], "min–max µs / iter": [e["min_us"], e["max_us"]],
                         "iters / batch": e["number"],
                         "other load (cores)": [e["load_mean"], e["load_max"]]})
    ratios = [t for h, t in tables(PERF) if h == "Results"][1]
    assert sorted(ratios.first_cells()) == sorted(cases)
    for label, case in cases.items():
        assert_row(ratios.row(label, exact=True), {"tinygrad_seq / torch": case["ratio_tg_torch"],
                                                   "tinygrad_seq / numpy": case["ratio_tg_numpy"]})
    met = all(c["ratio_tg_torch"] <= 1 for c in cases.values())
    assert ("**met in both cases**" in page_text(PERF)) == met


RNN_TABLES = {  # the bold paragraph start of each table and its JSON
    "2 threads": "performance/rnn_fused_2threads.json",
    "1 thread": "performance/rnn_fused_1thread.json",
    "After the LSTM's BPTT factors, 2 threads": "performance/rnn_fused_factors_2threads.json",
    "After the LSTM's BPTT factors, 1 thread": "performance/rnn_fused_factors_1thread.json",
    "The declared cells": "performance/rnn_declared_1thread.json",
    "After the CPU loops, 2 threads": "performance/rnn_cpu_loops_2threads.json",
    "After the CPU loops, 1 thread": "performance/rnn_cpu_loops_1thread.json",
}
MEMORY_TABLES = {  # the bold paragraph start of each memory table and the RNN table it is of
    "Memory": "2 threads",
    "Memory after the CPU loops": "After the CPU loops, 2 threads",
}
KIND_NAMES = {"LSTM": "lstm", "GRU": "gru", "tanh RNN": "rnn"}


def _config(bench, row):
    """The JSON config name of a row, by its kind and sizes (T, B, I, H)."""
    key = (KIND_NAMES[plain(row["config"])], *(int(row[c]) for c in ("T", "B", "I", "H")))
    found = [name for name, c in bench["configs"].items() if tuple(c) == key]
    assert len(found) == 1, f"no config {key} in the JSON: {bench['configs']}"
    return found[0]


def _target(cell, ratio):
    """'≤ 1.3: missed' holds when the ratio is above 1.3."""
    bound = _value(numbers(cell)[0])
    word = "met" if ratio <= bound else "missed"
    assert plain(cell).endswith(word), f"target {cell!r}: tg / torch.nn is {ratio:.3f}, {word}"


@pytest.mark.parametrize("heading", sorted(RNN_TABLES))
def test_recurrent_training_tables_are_the_benchmark_json(heading):
    bench = log(RNN_TABLES[heading])
    t = table(PERF, heading, first_header="config")
    tg_column = [h for h in t.header if h.startswith("tg (")][0]
    assert tg_column == f"tg ({bench['tg_variant']})"
    rows = [dict(zip(t.header, r)) for r in t.rows]
    assert sorted(_config(bench, r) for r in rows) == sorted(bench["time"])
    for row in rows:
        r = bench["time"][_config(bench, row)]
        ms = r["ms"]
        tg_ms, loop, nn = ms["tg"], ms.get("torch loop"), ms.get("torch.nn")
        assert_row(row, {tg_column: tg_ms, "torch loop": loop or [], "torch.nn": nn or [],
                         "tg / loop": tg_ms / loop if loop else [],
                         "tg / torch.nn": tg_ms / nn if nn else [],
                         "other load (cores)": _load_cell(r["batch_load"])})
        if "target" in row:
            _target(row["target"], tg_ms / nn)


@pytest.mark.parametrize("heading", sorted(MEMORY_TABLES))
def test_recurrent_training_memory_is_the_benchmark_json(heading):
    bench = log(RNN_TABLES[MEMORY_TABLES[heading]])
    t = table(PERF, heading, first_header="config")
    tg_column = [h for h in t.header if h.startswith("tg (")][0]
    rows = [dict(zip(t.header, r)) for r in t.rows]
    assert sorted(_config(bench, r) for r in rows) == sorted(bench["memory"])
    for row in rows:
        m = {e: v["peak_increase_bytes"] / 2**20 for e, v in bench["memory"][_config(bench, row)].items()}
        assert_row(row, {tg_column: m["tg"], "torch loop MB": m["torch loop"],
                         "torch.nn MB": m["torch.nn"], "tg / torch.nn": m["tg"] / m["torch.nn"]})


def test_cpu_loops_prose_is_the_benchmark_json():
    def ratio(heading, config):
        ms = log(RNN_TABLES[heading])["time"][config]["ms"]
        return ms["tg"] / ms["torch.nn"]
    before = sorted(ratio(f"After the LSTM's BPTT factors, {h}", "lstm-small")
                    for h in ("2 threads", "1 thread"))
    after = {h: {c: ratio(f"After the CPU loops, {h}", c) for c in ("lstm-small", "lstm-50x32",
                                                                     "gru-50x32", "rnn-50x32")}
             for h in ("2 threads", "1 thread")}
    small = sorted(a["lstm-small"] for a in after.values())
    assert_says(PERF, f"The small LSTM (D) went from {before[0]:.2f}–{before[1]:.2f} × torch.nn "
                      f"to {small[0]:.2f}–{small[1]:.2f}")
    gru_rnn = sorted(a[c] for a in after.values() for c in ("gru-50x32", "rnn-50x32"))
    assert_says(PERF, f"GRU and the tanh RNN are {gru_rnn[0]:.2f}–{gru_rnn[-1]:.2f} × torch.nn")
    rnn_miss = sorted(a["rnn-50x32"] - 0.65 for a in after.values())
    assert_says(PERF, f"misses it by {rnn_miss[0]:.2f}–{rnn_miss[1]:.2f}")
    assert_says(PERF, f"The LSTM at A is {after['1 thread']['lstm-50x32']:.2f} × torch.nn at one "
                      f"thread and {after['2 threads']['lstm-50x32']:.2f} at two")
    memory = {json: log(RNN_TABLES[json])["memory"]["lstm-long"]
              for json in ("After the LSTM's BPTT factors, 2 threads", "After the CPU loops, 2 threads")}
    old, new = (memory[k]["tg"]["peak_increase_bytes"] / 2**20 for k in memory)
    nn = memory["After the CPU loops, 2 threads"]["torch.nn"]["peak_increase_bytes"] / 2**20
    assert_says(PERF, f"step went from {old:.0f} to {new:.0f} MB ({new / nn:.2f} × torch.nn's)")


COMPILED_TABLES = {  # the bold paragraph start of each table of the compiled engine, its JSON
    "Compiled, 2 threads": "performance/scan_2threads.json",
    "Compiled, 1 thread": "performance/scan_1thread.json",
    "After the CPU loops, compiled, 2 threads": "performance/scan_cpu_loops_2threads.json",
    "After the CPU loops, compiled, 1 thread": "performance/scan_cpu_loops_1thread.json",
}


def test_kernel_factors_prose_is_the_benchmark_json():
    def small(json):
        ms = log(json)["time"]["lstm-small"]["ms"]
        return ms["tg"] / ms["torch.nn"]
    before = [small(RNN_TABLES[h]) for h in ("2 threads", "1 thread")]
    after = [small(RNN_TABLES[f"After the LSTM's BPTT factors, {h}"]) for h in ("2 threads", "1 thread")]
    assert_says(PERF, f"The small LSTM went from {before[0]:.2f} to {after[0]:.2f} × torch.nn at two "
                      f"threads and from {before[1]:.2f} to {after[1]:.2f} at one")
    m = {e: v["peak_increase_bytes"] / 2**20 for e, v in log(
        RNN_TABLES["After the LSTM's BPTT factors, 2 threads"])["memory"]["lstm-long"].items()}
    assert_says(PERF, f"({m['tg']:.0f} MB against torch.nn's {m['torch.nn']:.0f} MB")


@pytest.mark.parametrize("heading", sorted(COMPILED_TABLES))
def test_compiled_engine_tables_are_the_benchmark_json(heading):
    bench = log(COMPILED_TABLES[heading])
    t = table(PERF, heading, first_header="row")
    rows = [dict(zip(t.header, r)) for r in t.rows]
    assert sorted(plain(r["row"]) for r in rows) == sorted(bench["results"])
    for row in rows:
        name = plain(row["row"])
        r, sizes = bench["results"][name], bench["rows"][name]
        assert_row(row, {"T": sizes[0], "B": sizes[1], "I": sizes[2], "H": sizes[3],
                         "compiled ms": r["ms"]["compiled"], "fused ms": r["ms"]["fused"],
                         "compiled / fused": r["ms"]["compiled"] / r["ms"]["fused"],
                         "other load (cores, max)": r["other_load_cores"]})
        bound = _value(numbers(row["target"])[0])
        assert bound == r["target"], f"row {name}: the page's target {bound}, the JSON's {r['target']}"
        word = "met" if r["ratio"] <= bound else "missed"
        assert plain(row["target"]).endswith(word), f"row {name}: {r['ratio']:.3f} is {word}"


def test_compiled_engine_prose_is_the_benchmark_json():
    two, one = (log(COMPILED_TABLES[h])["results"] for h in ("Compiled, 2 threads",
                                                             "Compiled, 1 thread"))
    small = sorted([two["D"]["ratio"], one["D"]["ratio"]])
    assert_says(PERF, f"{small[0]:.1f}–{small[1]:.1f}× the kernel")
    assert_says(PERF, f"A {two['A']['ratio']:.2f} against {one['A']['ratio']:.2f} on one thread")


def test_compiled_engine_after_the_cpu_loops_prose_is_the_benchmark_json():
    small = sorted(log(COMPILED_TABLES[f"After the CPU loops, compiled, {h}"])["results"]["D"]["ratio"]
                   for h in ("2 threads", "1 thread"))
    assert_says(PERF, f"The small LSTM (D) is {small[0]:.1f}–{small[1]:.1f}× its kernel")
    m = {e: v["peak_increase_bytes"] / 2**20 for e, v in
         log("performance/rnn_compiled_memory_cpu_loops.json")["memory"]["lstm-long"].items()}
    fused = log(RNN_TABLES["After the CPU loops, 2 threads"])["memory"]["lstm-long"]["tg"]
    assert_says(PERF, f"compiled {m['tg']:.0f} MB against the fused kernel's "
                      f"{fused['peak_increase_bytes'] / 2**20:.0f} MB now (torch.nn {m['torch.nn']:.0f} MB)")


def test_compiled_engine_memory_is_the_benchmark_json():
    bench = log("performance/rnn_compiled_memory.json")
    m = {e: v["peak_increase_bytes"] / 2**20 for e, v in bench["memory"]["lstm-long"].items()}
    fused = log(RNN_TABLES["2 threads"])["memory"]["lstm-long"]["tg"]["peak_increase_bytes"] / 2**20
    assert_says(PERF, f"compiled {m['tg']:.0f} MB, fused {fused:.0f} MB, torch.nn "
                      f"{m['torch.nn']:.0f} MB")


@pytest.mark.parametrize("path", ["performance/model_loops.json",
                                  "performance/model_loops_cpu_loops.json"])
def test_model_loops_prose_is_the_benchmark_json(path):
    cases = log(path)["cases"]
    s2s, net = cases["seq2seq"], cases["output-recurrent"]
    ratio = s2s["ratios"]["tg compiled / torch loop"]
    assert_says(PERF, f"mean {s2s['batch_load']['mean']:.2f} cores during the seq2seq batches")
    assert_says(PERF, f"takes {s2s['ms']['tg compiled']:.1f} ms compiled, {s2s['ms']['tg graph']:.1f} "
                      f"ms on the graph engine and {s2s['ms']['torch loop']:.1f} ms for a PyTorch twin")
    assert_says(PERF, f"compiled / torch loop **{ratio:.2f}** (target ≤ 0.8: "
                      f"{'met' if ratio <= 0.8 else 'missed'})")
    ratio = net["ratios"]["tg compiled / tg graph"]
    assert_says(PERF, f"takes {net['ms']['tg compiled']:.1f} ms compiled and {net['ms']['tg graph']:.1f} "
                      f"ms on the graph engine: **{ratio:.2f}** (target ≤ 0.5: "
                      f"{'met' if ratio <= 0.5 else 'missed'})")


# ---------------------------------------------------------------- docs/distributed.md

DIST = "distributed.md"


def test_distributed_throughput_is_the_benchmark_json():
    t = table(DIST, "Throughput")
    assert len(t.rows) == 2
    for batch in (32, 64):
        bench = log(f"distributed/batch{batch}.json")
        assert bench["args"]["batch_size"] == batch
        runs = {p: [r for r in bench["runs"] if r["processes"] == p] for p in (1, 2)}
        two = runs[2]
        cpu = {p: statistics.median(r["cpu_ms"] for r in runs[p]) for p in (1, 2)}
        assert_row(t.row(str(batch), exact=True), {
            "1 process": [r["samples_per_s"] for r in runs[1]],
            "2 processes": [r["samples_per_s"] for r in two],
            "speed-up (wall), run against run": bench["speedup_pairs"],
            "best against best": bench["speedup_best"],
            "comm share of a step (2 processes)": [100 * r["comm_share"] for r in two]
            + [min(r["comm_ms"] for r in two), max(r["comm_ms"] for r in two)],
            "CPU a step, 1 → 2 processes": [cpu[1], cpu[2]]})
    b32, b64 = log("distributed/batch32.json"), log("distributed/batch64.json")
    verdict = {b: "met" if log(f"distributed/batch{b}.json")["speedup_best"] >= 1.7 else "missed"
               for b in (32, 64)}
    assert_says(DIST, f"The 1.7× target (best against best) is {verdict[64]} at batch 64 and "
                      f"{verdict[32]} at batch 32")
    half = statistics.median(r["cpu_ms"] for r in b32["half_batch_runs"])
    assert_says(DIST, f"one process on batch 16 (a rank's share) needs {half:.0f} ms of CPU a "
                      f"step, so {b32['speedup_cpu_time_bound']:.2f}× is the ceiling there")
    assert_says(DIST, f"One Allreduce of the {b32['allreduce']['megabytes']:.2f} MB with the ranks "
                      f"in step: {b32['allreduce']['allreduce_ms']:.2f} ms")
    assert_says(DIST, f"we measured {b32['allreduce']['allreduce_ms']:.2f} ms for the 3.5 MB")
    assert_says(DIST, f"takes {statistics.median(r['cpu_ms'] for r in b32['runs'] if r['processes'] == 1):.0f} ms of CPU at batch 32")
    assert_says(DIST, f"The default char-LM ({b32['parameters']:,} parameters")
    assert b64["parameters"] == b32["parameters"]


# ---------------------------------------------------------------- docs/models.md

MODELS = "models.md"


@functools.lru_cache(maxsize=None)
def metrics_of(path, kind):
    """The records of one ``kind`` ("run", "train", "eval") of a harness metrics log (read once)."""
    return [r for r in log(path) if r["kind"] == kind]


def speed_of(path):
    """(training seconds, steps per second, lowest and highest 1-minute load at the
    evaluations) of a harness metrics log."""
    last = metrics_of(path, "train")[-1]
    loads = [r["load"] for r in metrics_of(path, "eval")]
    return last["seconds"], last["step"] / last["seconds"], min(loads), max(loads)


def same_start(tg_path, torch_path):
    """The two runs of a comparison started from one draw (the twin from a file of initial
    weights, the tg run from the same file or the one that wrote it), on one thread each: their
    held-out losses before the first step agree to float32 rounding."""
    (tg_run,), (torch_run,) = metrics_of(tg_path, "run"), metrics_of(torch_path, "run")
    assert torch_run["init_from"], torch_path
    assert tg_run["init_from"] in (None, torch_run["init_from"]), tg_path
    assert tg_run["threads"] == torch_run["threads"] == 1
    before = [metrics_of(path, "eval")[0] for path in (tg_path, torch_path)]
    assert before[0]["step"] == before[1]["step"] == 0
    assert abs(before[0]["val_loss"] - before[1]["val_loss"]) <= 1e-5 * abs(before[1]["val_loss"])


def test_shakespeare_tables_are_the_two_logs():
    tg_path = "models/shakespeare/tg.metrics.jsonl"
    torch_path = "models/shakespeare/torch.metrics.jsonl"
    same_start(tg_path, torch_path)
    ours, theirs = metrics_of(tg_path, "eval"), metrics_of(torch_path, "eval")
    t = table(MODELS, "Measured: Shakespeare", "step")
    assert t.first_cells() == [f"{r['step']:,}" for r in ours] == [f"{r['step']:,}" for r in theirs]
    for a, b in zip(ours, theirs):
        assert_row(t.row(f"{a['step']:,}", exact=True),
                   {"tinygrad_seq, val nats/char": a["val_loss"],
                    "torch 2.13, val nats/char": b["val_loss"],
                    "tinygrad_seq − torch": a["val_loss"] - b["val_loss"]})
    speed = table(MODELS, "Measured: Shakespeare", "engine")
    for engine, path in (("tinygrad_seq", tg_path), ("torch 2.13", torch_path)):
        seconds, rate, low, high = speed_of(path)
        assert metrics_of(path, "train")[-1]["step"] == 1000
        assert_row(speed.row(engine), {"training seconds, 1,000 steps": seconds, "steps/s": rate,
                                       "load (1-min) at the evaluations": [low, high]})
    gap = max(abs(a["val_loss"] - b["val_loss"]) for a, b in zip(ours, theirs))
    assert_says(MODELS, f"differ by at most {gap:.4f} nats/char at any evaluation")
    ratio = speed_of(tg_path)[1] / speed_of(torch_path)[1]
    assert_says(MODELS, f"{ratio:.2f}× torch's steps per second in these runs")
    (_, _, low, high), (_, _, low_torch, high_torch) = speed_of(tg_path), speed_of(torch_path)
    assert_says(MODELS, f"higher load ({low:.1f}–{high:.1f} against {low_torch:.1f}–{high_torch:.1f})")


def test_shakespeare_equal_time_table_is_the_two_logs():
    """The evaluations at 5 and 10 minutes of training (--eval-seconds 300: the first and second
    after the one before training, each within a step of 300 and 600 training seconds) of two
    runs from the same draw, side by side at the same time."""
    tg_path = "models/shakespeare-time/tg.metrics.jsonl.gz"
    torch_path = "models/shakespeare-time/torch.metrics.jsonl.gz"
    same_start(tg_path, torch_path)
    t = table(MODELS, "Measured: Shakespeare, equal training time", "training time")
    assert len(t.rows) == 2
    for minutes in (5, 10):
        a, b = (metrics_of(path, "eval")[minutes // 5] for path in (tg_path, torch_path))
        assert abs(a["seconds"] - 60 * minutes) < 5 and abs(b["seconds"] - 60 * minutes) < 5
        gap = a["val_loss"] - b["val_loss"]
        row = t.row(f"{minutes} minutes", exact=True)
        assert_row(row, {"tinygrad_seq: seconds, steps": [a["seconds"], a["step"]],
                         "tinygrad_seq, val nats/char": a["val_loss"],
                         "torch: seconds, steps": [b["seconds"], b["step"]],
                         "torch 2.13, val nats/char": b["val_loss"],
                         "tinygrad_seq − torch": gap})
        assert plain(row["target"]).endswith("met" if gap <= 0 else "missed")
    more = sorted(metrics_of(tg_path, "eval")[k]["step"] / metrics_of(torch_path, "eval")[k]["step"] - 1
                  for k in (1, 2))
    assert_says(MODELS, f"In the same time tg takes {100 * more[0]:.0f}–{100 * more[1]:.0f}% more steps")
    speed = log("performance/models_cpu_loops_1thread.json")["cases"]["charlm"]["tg_over_torch_speed"]
    assert_says(MODELS, f"now {speed:.2f} × torch's speed on one thread")


def printed(path, pattern):
    """The numbers a command printed into a committed text file under docs/results/, found by a
    regular expression (its groups)."""
    full = os.path.join(RESULTS, path)
    if not os.path.exists(full):
        raise AssertionError(f"docs/results/{path} is not committed")
    with open(full, encoding="utf-8") as file:
        found = re.search(pattern, file.read())
    assert found, f"docs/results/{path} does not say {pattern!r}"
    return [float(group) for group in found.groups()]


def loads_of(*paths):
    loads = [r["load"] for path in paths for r in metrics_of(path, "eval")]
    return [min(loads), max(loads)]


DATES = "models/seq2seq-dates/"


def test_dates_table_is_the_logs():
    t = table(MODELS, "Dates", "held-out formats, 2,000 pairs")
    for row, name in (("additive attention", "additive"), ("no attention", "none")):
        path = DATES + f"{name}.metrics.jsonl"
        evals = metrics_of(path, "eval")
        assert evals[-1]["step"] == metrics_of(path, "train")[-1]["step"] == 800
        (beam,) = printed(DATES + f"{name}.eval-beam5.txt",
                          r"\(step 800\) on 2000 held-out pairs of dates, beam 5, alpha 1: exact match ([0-9.]+)")
        (at_200,) = [r["exact"] for r in evals if r["step"] == 200]
        assert_row(t.row(row), {"training seconds, 800 steps": evals[-1]["seconds"],
                                "exact, greedy": 100 * evals[-1]["exact"],
                                "exact, beam 5": 100 * beam, "exact after 200 steps": 100 * at_200,
                                "load (1-min)": loads_of(path)})
    passed = next(r["seconds"] for r in metrics_of(DATES + "additive.metrics.jsonl", "eval")
                  if r["exact"] >= 0.99)
    stopped = metrics_of(DATES + "none.metrics.jsonl", "train")[-1]["seconds"]
    assert passed < stopped
    assert_says(MODELS, f"after {stopped:.0f} s of training, the one with attention had passed 99% "
                        f"by {math.ceil(passed):.0f} s")
    with open(os.path.join(RESULTS, DATES + "additive.translate-heatmap.txt")) as file:
        assert file.read().strip() == "1999-05-03"


OUTPUT = "models/output-recurrent/"


def test_output_recurrence_table_is_the_logs():
    t = table(MODELS, "Pattern 2", "`python -m models.output_recurrent")
    medians = {}
    for model in ("output", "hidden", "hidden-cells"):
        path = OUTPUT + f"{model}.metrics.jsonl"
        train, evals = metrics_of(path, "train"), metrics_of(path, "eval")
        assert train[-1]["step"] == evals[-1]["step"] == 400
        times = [b["seconds"] - a["seconds"] for a, b in zip([{"seconds": 0.0}] + train, train)]
        medians[model] = statistics.median(times)
        last = evals[-1]
        assert_row(t.row(f"{model} (", exact=False),
                   {"s / step (median)": medians[model], "training seconds, 400 steps": train[-1]["seconds"],
                    "held-out bits/char, teacher-forced": last["val_bpc"],
                    "free-running": last["val_free_bpc"], "next-char accuracy": 100 * last["accuracy"],
                    "load (1-min)": loads_of(path)})
    at = lambda model, step: next(r["val_bpc"] for r in metrics_of(OUTPUT + f"{model}.metrics.jsonl", "eval")
                                  if r["step"] == step)
    assert_says(MODELS, f"{medians['hidden'] / medians['output']:.1f}× the steps per second of the fused RNN kernel and "
                        f"{medians['hidden-cells'] / medians['output']:.1f}× of the same RNN")
    assert_says(MODELS, f"converges at once ({at('output', 100):.2f} bits after 100 steps, "
                        f"{at('output', 400):.2f} after 400)")
    assert_says(MODELS, f"stuck near {at('output', 400):.2f} bits per character, against "
                        f"{at('hidden', 400):.2f} (and falling)")
    output_last = metrics_of(OUTPUT + "output.metrics.jsonl", "eval")[-1]
    assert_says(MODELS, f"worse again ({output_last['val_free_bpc']:.2f} bits)")
    fused, declared = (metrics_of(OUTPUT + f"{m}.metrics.jsonl", "eval") for m in ("hidden", "hidden-cells"))
    assert max(abs(a["val_loss"] - b["val_loss"]) for a, b in zip(fused, declared)) < 1e-4
    assert "differ by less than 0.0001 nats at every evaluation" in page_text(MODELS)
    assert at("hidden", 400) < at("hidden", 350)  # "and falling"


MODELS_II = [  # (first cell, log folder, steps, metric, shown as a percentage)
    ("MNIST-5k rows", "mnist", 1500, "val_acc", True),
    ("8×8 digits rows", "digits", 1500, "val_acc", True),
    ("reviews, biLSTM 128", "reviews", 600, "val_acc", True),
    ("yearly sunspots, RNN-ReLU 100", "sunspots-rnn", 2000, "val_rmse", False),
    ("yearly sunspots, LSTM 100", "sunspots-lstm", 2000, "val_rmse", False),
    ("yearly sunspots, GRU 100", "sunspots-gru", 2000, "val_rmse", False),
    ("monthly stocks (5 series)", "stocks-rnn", 2000, "val_rmse", False),
]


def models_ii_path(name, seed, engine):
    return f"models/models-ii/{name}/seed{seed}/{engine}.metrics.jsonl"


def models_ii_finals(name, metric, engine, scale=1):
    return [scale * metrics_of(models_ii_path(name, seed, engine), "eval")[-1][metric]
            for seed in (0, 1, 2)]


def test_models_ii_table_is_the_three_seeds_logs():
    t = table(MODELS, "Against PyTorch", "run (same data, split, batches; same initial weights")
    assert len(t.rows) == len(MODELS_II)
    for first, name, steps, metric, percent in MODELS_II:
        scale = 100 if percent else 1
        cells, rates, loads = {}, {}, []
        for seed in (0, 1, 2):
            same_start(models_ii_path(name, seed, "tg"), models_ii_path(name, seed, "torch"))
            for engine in ("tg", "torch"):
                path = models_ii_path(name, seed, engine)
                assert metrics_of(path, "run")[0]["seed"] == seed
                assert metrics_of(path, "train")[-1]["step"] == metrics_of(path, "eval")[-1]["step"] == steps
                rates.setdefault(engine, []).append(speed_of(path)[1])
                loads += loads_of(path)
        for engine in ("tg", "torch"):
            finals = models_ii_finals(name, metric, engine, scale)
            cells[engine] = [statistics.mean(finals), statistics.stdev(finals)]
        assert_row(t.row(first), {"steps": steps, "tinygrad_seq": cells["tg"],
                                  "torch 2.13 CPU": cells["torch"],
                                  "steps/s, tinygrad_seq / torch": [statistics.mean(rates["tg"]),
                                                                    statistics.mean(rates["torch"])],
                                  "load (1-min)": [min(loads), max(loads)]})


def test_models_ii_prose_is_the_logs():
    sunspots = metrics_of(models_ii_path("sunspots-rnn", 0, "tg"), "eval")[-1]
    stocks = metrics_of(models_ii_path("stocks-rnn", 0, "tg"), "eval")[-1]
    assert_says(MODELS, f"sunspots AR(20) {sunspots['ar_rmse']:.1f}, persistence "
                        f"{sunspots['persistence_rmse']:.1f}; stocks AR(20) {stocks['ar_rmse']:.1f}, "
                        f"persistence {stocks['persistence_rmse']:.1f}")
    reviews = metrics_of(models_ii_path("reviews", 0, "tg"), "eval")[-1]
    assert_says(MODELS, f"accuracy (majority {100 * reviews['majority_acc']:.1f}%)")
    assert_says(MODELS, f"scores {100 * reviews['majority_acc']:.1f}% on them")
    # "within float32 rounding" for the digits, the LSTM and the GRU forecasters; the others drift
    for name, same in (("digits", True), ("sunspots-lstm", True), ("sunspots-gru", True),
                       ("mnist", False), ("sunspots-rnn", False), ("stocks-rnn", False),
                       ("reviews", False)):
        gap = max(abs(a["val_loss"] - b["val_loss"]) for seed in (0, 1, 2) for a, b in
                  zip(metrics_of(models_ii_path(name, seed, "tg"), "eval"),
                      metrics_of(models_ii_path(name, seed, "torch"), "eval")))
        assert (gap < 1e-5) == same, (name, gap)
    # "no row's difference of means is larger than the larger of its two standard deviations"
    for _, name, _, metric, _ in MODELS_II:
        ours, theirs = models_ii_finals(name, metric, "tg"), models_ii_finals(name, metric, "torch")
        assert abs(statistics.mean(ours) - statistics.mean(theirs)) <= max(
            statistics.stdev(ours), statistics.stdev(theirs)), name
    # the ReLU sunspots: tg lower in every seed, after the same minimum
    ours, theirs = models_ii_finals("sunspots-rnn", "val_rmse", "tg"), \
        models_ii_finals("sunspots-rnn", "val_rmse", "torch")
    gaps = [b - a for a, b in zip(ours, theirs)]
    assert min(gaps) > 0
    assert_says(MODELS, f"in all three seeds (by {min(gaps):.1f}–{max(gaps):.1f})")
    best = {}
    for name in ("sunspots-rnn", "sunspots-lstm", "sunspots-gru"):
        for seed in (0, 1, 2):
            pair = [min(metrics_of(models_ii_path(name, seed, e), "eval")[1:], key=lambda r: r["val_rmse"])
                    for e in ("tg", "torch")]
            assert abs(pair[0]["val_rmse"] - pair[1]["val_rmse"]) < 0.05  # "the same minimum"
            for record in pair:
                best[(name, seed, record["step"])] = record["val_rmse"]
    steps = sorted({step for _, _, step in best})
    assert max(best.values()) < sunspots["ar_rmse"]
    assert_says(MODELS, f"lowest at step {' or '.join(map(str, steps))} ({min(best.values()):.1f}–"
                        f"{max(best.values()):.1f}, below AR(20))")
    for _, name, _, metric, _ in MODELS_II[3:6]:
        for engine in ("tg", "torch"):  # none beats AR(20) at the end, all beat persistence
            finals = models_ii_finals(name, metric, engine)
            assert statistics.mean(finals) > sunspots["ar_rmse"]
            assert max(finals) < sunspots["persistence_rmse"]
    stocks_best = min(r["val_rmse"] for seed in (0, 1, 2) for e in ("tg", "torch")
                      for r in metrics_of(models_ii_path("stocks-rnn", seed, e), "eval")[1:])
    assert stocks_best > stocks["persistence_rmse"] < stocks["ar_rmse"]
    assert_says(MODELS, f"neither network (best evaluation {stocks_best:.1f})")
    # per second: tg slower on the digit classifiers, faster on the reviews and the forecasters
    for _, name, _, _, _ in MODELS_II:
        rate = lambda engine: statistics.mean(speed_of(models_ii_path(name, s, engine))[1] for s in (0, 1, 2))
        assert (rate("tg") < rate("torch")) == (name in ("mnist", "digits")), name


def test_generator_numbers_are_the_logs():
    first, every = (metrics_of(f"models/generate-rows/{form}.metrics.jsonl", "eval")[-1]
                    for form in ("first", "every"))
    assert first["step"] == every["step"] == 1000
    assert_says(MODELS, f"**{first['val_loss']:.4f}** nats per pixel with the class at the first "
                        f"step only, **{every['val_loss']:.4f}** with it at every step")
    assert_says(MODELS, f"(mean squared error {every['free_mse']:.4f} against {first['free_mse']:.4f})")
    assert every["val_loss"] < first["val_loss"] and every["free_mse"] < first["free_mse"]


FRENCH = "models/seq2seq-fr/"


def test_french_table_and_bootstrap_are_the_logs():
    t = table(MODELS, "English → French", "290 held-out messages")
    exact_beam = r"on 290 held-out pairs of fr, beam 5, alpha 1: exact match ([0-9.]+), BLEU ([0-9.]+)"
    for row, name, beam_file in (("additive attention", "additive", "additive-vs-none.eval-beam5.txt"),
                                 ("no attention", "none", "none.eval-beam5.txt")):
        path = FRENCH + f"{name}.metrics.jsonl"
        last = metrics_of(path, "eval")[-1]
        assert last["step"] == metrics_of(path, "train")[-1]["step"] == 2400
        exact, bleu = printed(FRENCH + beam_file, rf"{name}/checkpoint.safetensors \(step 2400\) " + exact_beam)
        assert_row(t.row(row, exact=True), {
            "training seconds, 2,400 steps": last["seconds"], "held-out loss": last["val_loss"],
            "BLEU greedy": 100 * last["bleu"], "BLEU beam 5": bleu,
            "exact greedy / beam 5": [100 * last["exact"], 100 * exact], "load (1-min)": loads_of(path)})
    bootstrap = (r"BLEU ([0-9.]+) vs ([0-9.]+), difference ([-+0-9.]+) \(95%: ([-+0-9.]+) to "
                 r"([-+0-9.]+)\), ahead in ([0-9.]+)% of (\d+) paired bootstrap resamples")
    greedy = printed(FRENCH + "additive-vs-none.eval-greedy.txt", bootstrap)
    beam = printed(FRENCH + "additive-vs-none.eval-beam5.txt", bootstrap)
    finals = [metrics_of(FRENCH + f"{n}.metrics.jsonl", "eval")[-1]["bleu"] for n in ("additive", "none")]
    assert_shown(f"{greedy[0]:.2f}", 100 * finals[0])  # --compare decoded the same checkpoints
    assert_shown(f"{greedy[1]:.2f}", 100 * finals[1])
    sign = lambda v: f"{v:+.2f}".replace("-", "−")
    assert_says(MODELS, f"{int(greedy[6]):,} resamples) puts the greedy difference at {sign(greedy[2])} BLEU "
                        f"(95%: {sign(greedy[3])} to {sign(greedy[4])}, attention ahead in {greedy[5]:.0f}% "
                        f"of the resamples) and the beam-5 one at {sign(beam[2])} (95%: {sign(beam[3])} "
                        f"to {sign(beam[4])}, ahead in {beam[5]:.0f}%)")
    assert greedy[3] > 0 and beam[3] > 0  # "the gap is not noise": both intervals above zero
    at_800 = [next(r["bleu"] for r in metrics_of(FRENCH + f"{n}.metrics.jsonl", "eval") if r["step"] == 800)
              for n in ("additive", "none")]
    assert_says(MODELS, f"(greedy BLEU {100 * at_800[0]:.2f} and {100 * at_800[1]:.2f} at step 800)")
    none_end = metrics_of(FRENCH + "none.metrics.jsonl", "eval")[-1]
    near = max((r for r in metrics_of(FRENCH + "additive.metrics.jsonl", "eval")
                if r["seconds"] <= none_end["seconds"] + 5), key=lambda r: r["seconds"])
    assert near["bleu"] < none_end["bleu"]  # "per second the comparison goes the other way"
    assert_says(MODELS, f"after {none_end['seconds']:.0f} s of training at BLEU {100 * none_end['bleu']:.2f}, "
                        f"the run with attention stood at {100 * near['bleu']:.2f} ({near['seconds']:.0f} s)")
    with open(os.path.join(RESULTS, FRENCH + "additive.translate-heatmap.txt")) as file:
        assert file.read().strip() == "le site ne peut être enregistré du fait d ' erreurs ."
    with open(os.path.join(RESULTS, FRENCH + "additive.translate-heatmap-order.txt")) as file:
        assert file.read().strip() == "numfig_format invalide : % s"
