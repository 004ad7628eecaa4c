"""Every number of docs/performance.md's "The whole training step", recomputed from the JSON of
benchmarks/step_profile.py, step_changes.py and models_bench.py in docs/results/performance/
(the helpers are tests/test_doc_numbers.py's)."""
import pytest

from test_doc_numbers import assert_row, log, page_text, plain, table

PERF = "performance.md"
PROFILE = "performance/step_profile_1thread.json"
CHANGES = "performance/step_changes_1thread.json"
MODELS = {"Models, 1 thread": "performance/models_1thread.json",
          "Models, 2 threads": "performance/models_2threads.json"}
MODELS_AFTER = {"Models after the CPU loops, 1 thread": "performance/models_cpu_loops_1thread.json",
                "Models after the CPU loops, 2 threads": "performance/models_cpu_loops_2threads.json"}
TARGETS = {"charlm": 1.0, "seq2seq": 1.0}  # tg / torch speed; every other model 0.9


@pytest.mark.parametrize("model, heading", [("charlm", "Phases of the char-LM"),
                                            ("seq2seq", "Phases of the seq2seq")])
def test_phase_tables_are_the_profile_json(model, heading):
    case = log(PROFILE)["cases"][model]["engines"]
    tg, torch = case["tg"], case["torch"]
    t = table(PERF, heading, first_header="phase")
    shown = [name for name in t.first_cells() if name in tg["phases_ms"]]
    # every phase that took 0.01 ms or more in either engine has its row
    assert sorted(shown) == sorted(p for p in tg["phases_ms"]
                                   if max(tg["phases_ms"][p], torch["phases_ms"][p]) >= 0.01)
    for phase in shown:
        a, b = tg["phases_ms"][phase], torch["phases_ms"][phase]
        assert_row(t.row(phase, exact=True), {
            "tg ms": a, "tg share": 100 * a / tg["instrumented_ms"],
            "torch ms": b, "torch share": 100 * b / torch["instrumented_ms"]})
    assert_row(t.row("sum of the phases"), {"tg ms": tg["instrumented_ms"],
                                            "torch ms": torch["instrumented_ms"]})
    assert_row(t.row("step, uninstrumented"), {"tg ms": tg["step_ms"], "torch ms": torch["step_ms"],
                                               "tg share": [], "torch share": []})


def test_before_after_table_is_the_changes_json():
    cases = log(CHANGES)["cases"]
    t = table(PERF, "The changes, before and after", first_header="work")
    assert len(t.rows) == len(cases["charlm"]["changes"]) + 2
    for work, row in zip(t.first_cells(), t.rows):
        row = dict(zip(t.header, row))
        expected = {}
        for model, label in (("charlm", "char-LM"), ("seq2seq", "seq2seq")):
            if work == "whole step":
                ms = cases[model]["step"]["ms"]
                before, after = ms["tg before"], ms["tg after"]
            elif work == "whole step, tg / torch":
                ms = cases[model]["step"]["ms"]
                before, after = ms["tg before"] / ms["torch"], ms["tg after"] / ms["torch"]
            else:
                ms = cases[model]["changes"][work]["ms"]
                before, after = ms["before"], ms["after"]
            expected.update({f"{label} before": before, f"{label} after": after,
                             f"{label} after / before": after / before})
        assert_row(row, expected)


@pytest.mark.parametrize("heading", sorted(MODELS) + sorted(MODELS_AFTER))
def test_model_tables_are_the_bench_json(heading):
    bench = log({**MODELS, **MODELS_AFTER}[heading])
    t = table(PERF, heading, first_header="model")
    assert sorted(t.first_cells()) == sorted(bench["cases"])
    for name, r in bench["cases"].items():
        row = t.row(name, exact=True)
        assert_row(row, {"tg ms": r["ms"]["tg"], "torch ms": r["ms"]["torch"],
                         "tg / torch (speed)": r["tg_over_torch_speed"],
                         "other load (cores)": [r["batch_load"]["mean"], r["batch_load"]["max"]],
                         "target": TARGETS.get(name, 0.9)})
        met = r["tg_over_torch_speed"] >= TARGETS.get(name, 0.9)
        assert plain(row["target"]).endswith("met" if met else "missed")


def test_threads_and_load_are_the_json():
    text = page_text(PERF)
    for path in [PROFILE, CHANGES, *MODELS.values(), *MODELS_AFTER.values()]:
        bench = log(path)
        assert f"`{bench['run']['command']}`" in text, f"the command of {path}"
        load = bench["load"]["other_cores"]
        assert f"{load:.2f} cores of other processes' load over the run of {path.split('/')[-1]}" in text


def test_charlm_prose_is_the_bench_json():
    speeds = sorted(log(path)["cases"]["charlm"]["tg_over_torch_speed"] for path in MODELS.values())
    assert f"({speeds[0]:.2f}–{speeds[1]:.2f} on this quiet run)" in page_text(PERF)


@pytest.mark.parametrize("heading, path", [
    ("Models, concurrent, 1 thread each", "performance/models_concurrent_1thread.json"),
    ("Models after the CPU loops, concurrent, 1 thread each",
     "performance/models_cpu_loops_concurrent_1thread.json")])
def test_concurrent_table_is_the_json(heading, path):
    bench = log(path)
    t = table(PERF, heading, first_header="model")
    assert sorted(t.first_cells()) == sorted(bench["cases"])
    for name, r in bench["cases"].items():
        row = t.row(name, exact=True)
        assert_row(row, {"tg steps/s": r["steps_per_s"]["tg"], "torch steps/s": r["steps_per_s"]["torch"],
                         "tg / torch (speed)": r["tg_over_torch_speed"], "target": 1.0,
                         "other load (cores, max)": r["other_load"]["max"]})
        met = r["tg_over_torch_speed"] >= 1.0
        assert plain(row["target"]).endswith("met" if met else "missed")
    assert f"`{bench['run']['command']}`" in " ".join(page_text(PERF).split())
