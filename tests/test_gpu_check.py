"""benchmarks/gpu_check.py, the one command for a GPU, checked where there is none: it refuses
clearly, and its parts that need no GPU (the config table, the report, the suite's counts, the
comparison with torch.nn and the timed steps, run here on the CPU) do what they say."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks")
SCRIPT = os.path.join(BENCHMARKS, "gpu_check.py")


@pytest.fixture(scope="module")
def gpu_check():
    sys.path.insert(0, BENCHMARKS)
    try:
        import gpu_check as module
    finally:
        sys.path.remove(BENCHMARKS)
    return module


def test_without_a_gpu_it_exits_2_with_one_line_and_writes_nothing(tmp_path):
    # no GPU visible even on a machine that has one; without CuPy the reason is CuPy itself
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, SCRIPT, "--out", str(report)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu_check: no GPU to check, nothing written: ")
    assert "CuPy" in lines[0]
    assert not report.exists()


def test_the_timed_configs_are_rnn_benchs(gpu_check):
    import rnn_bench
    rows = gpu_check.bench_configs()
    assert [row[0] for row in rows] == rnn_bench.TIME_CONFIGS + rnn_bench.MEMORY_CONFIGS
    assert all(tuple(row[1:]) == rnn_bench.CONFIGS[row[0]] for row in rows)
    assert [row[0] for row in gpu_check.bench_configs(["lstm-wide"])] == ["lstm-wide"]
    with pytest.raises(ValueError, match="unknown config.*'lstm-huge'"):
        gpu_check.bench_configs(["lstm-huge"])


def test_the_timing_table_has_a_row_per_config_with_its_ratios(gpu_check):
    table = gpu_check.bench_table({
        "lstm-small": {"ms": {"tg-cuda": 2.0, "torch-cuda": 1.0, "tg-cpu": 30.0}},
        "gru-50x32": {"error": "SystemExit: gradients disagree"}})
    header, rule, lstm, gru = table
    assert header.count("|") == rule.count("|") == lstm.count("|") == gru.count("|")
    assert lstm.startswith("| LSTM | 100 | 8 | 16 | 32 | 2.00 | 1.00 | 30.00 | **2.00** | "
                           "**15.00** |")
    assert gru.startswith("| GRU | 50 | 32 | 64 | 256 | failed: SystemExit: gradients disagree |")


def test_the_report_passes_only_when_every_part_asked_for_passed(gpu_check):
    facts = {"gpu0": "a GPU"}
    good = gpu_check.assemble_report(facts, {"suite": {"ok": True}, "torch_comparison": None,
                                             "benchmarks": {"ok": True}})
    assert good["ok"] and good["failed"] == [] and good["left_out"] == ["torch_comparison"]
    assert gpu_check.exit_code(good) == 0
    json.dumps(good)                                   # what main writes
    bad = gpu_check.assemble_report(facts, {"suite": {"ok": True},
                                            "torch_comparison": {"ok": False, "error": "no torch"},
                                            "benchmarks": {"ok": False}})
    assert not bad["ok"] and bad["failed"] == ["benchmarks", "torch_comparison"]
    assert gpu_check.exit_code(bad) == 1
    nothing = gpu_check.assemble_report(facts, {"suite": None})
    assert not nothing["ok"] and gpu_check.exit_code(nothing) == 1


SUITE = '''
import pytest

@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_op(device):
    assert device

@pytest.mark.parametrize("device", ["cuda"])
def test_skips(device):
    pytest.skip("no GPU here")

def test_broken():
    assert 1 == 2, "boom"
'''


def test_the_suite_run_counts_the_cuda_half_and_names_the_failures(gpu_check, tmp_path):
    (tmp_path / "test_tiny.py").write_text(textwrap.dedent(SUITE))
    result = gpu_check.run_suite([str(tmp_path / "test_tiny.py"), "--rootdir", str(tmp_path)],
                                 str(tmp_path / "suite.log"))
    assert result["counts"] == {"passed": 2, "failed": 1, "skipped": 1}
    assert result["cuda"] == {"passed": 1, "failed": 0, "skipped": 1}
    assert len(result["failures"]) == 1 and "test_broken" in result["failures"][0]
    assert "boom" in result["failures"][0]
    assert result["returncode"] == 1 and not result["ok"]
    assert "1 failed" in (tmp_path / "suite.log").read_text()

    # every test passing, but none of them on CUDA: not a GPU check
    result = gpu_check.run_suite([str(tmp_path / "test_tiny.py"), "--rootdir", str(tmp_path),
                                  "-k", "cpu"], str(tmp_path / "suite.log"))
    assert result["returncode"] == 0 and result["counts"]["passed"] == 1
    assert not result["ok"] and result["error"] == "no test ran its CUDA half"


def test_worst_ratios_measure_disagreement_in_tolerances(gpu_check):
    expected = {"a": np.linspace(-3, 3, 50), "b": np.ones(4)}
    eps = np.finfo(np.float32).eps
    assert gpu_check.worst_ratios(expected, expected, np.float32, terms=10) == {"a": 0.0, "b": 0.0}
    within = {"a": expected["a"] * (1 + 5 * eps), "b": expected["b"]}
    assert gpu_check.worst_ratios(within, expected, np.float32, terms=10)["a"] <= 1
    beyond = {"a": expected["a"], "b": expected["b"] + 1e-3}
    assert gpu_check.worst_ratios(beyond, expected, np.float32, terms=10)["b"] > 1
    broken = {"a": np.where(expected["a"] > 0, np.nan, expected["a"]), "b": np.ones(5)}
    assert gpu_check.worst_ratios(broken, expected, np.float32, terms=10) == {
        "a": np.inf, "b": np.inf}


@pytest.mark.parametrize("kind, engine, dtype, use_lengths", [
    ("lstm", "fused", "float32", True), ("gru", "compiled", "float64", False)])
def test_the_comparison_with_torch_runs_on_the_cpu(gpu_check, torch, kind, engine, dtype,
                                                   use_lengths):
    """The comparison the GPU runs, on the CPU: tg agrees with torch.nn on every result and
    every gradient, and every gradient is there."""
    ratios = gpu_check.compare_case(kind, engine, dtype, use_lengths, device="cpu",
                                    torch_device="cpu")
    layer = getattr(torch.nn, gpu_check.KINDS[kind][0])(5, 6, num_layers=2, bidirectional=True)
    states = ["grad state[0]", "grad state[1]"] if kind == "lstm" else ["grad state[0]"]
    assert sorted(ratios) == sorted(["output", "h_n", "grad input", *states]
                                    + (["c_n"] if kind == "lstm" else [])
                                    + [f"grad {name}" for name, _ in layer.named_parameters()])
    assert max(ratios.values()) <= 1, ratios


def test_the_timed_steps_run_and_check_gradients_on_the_cpu(gpu_check, torch, monkeypatch):
    import rnn_bench
    engines = {"tg-cpu": ("tg", "cpu"), "torch-cpu": ("torch", "cpu")}
    result = gpu_check.bench_config("lstm-small", engines, repeat=1, batch_s=0.01, pause=0)
    assert set(result["ms"]) == set(engines) and min(result["ms"].values()) > 0

    def wrong_gradients(*args, **kwargs):
        step, grads = tg_step(*args, **kwargs)
        return step, lambda: {name: 2 * g for name, g in grads().items()}
    tg_step = rnn_bench.tg_step
    monkeypatch.setattr(rnn_bench, "tg_step", wrong_gradients)
    with pytest.raises(SystemExit, match="tg-cpu and torch.nn disagree on the gradient"):
        gpu_check.bench_config("lstm-small", engines, repeat=1, batch_s=0.01, pause=0)
