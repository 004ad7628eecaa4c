"""One command for the first GPU: everything the CUDA device promises, checked and timed, in one
JSON report.

1. the whole test suite with the real CuPy (pytest; every device-parametrized test runs its
   ``cuda`` half on GPU 0), its counts, the CUDA half's apart, and the failures;
2. ``tg.nn.LSTM``/``GRU``/``RNN`` (tanh and ReLU) on CUDA, each engine (graph, compiled, fused),
   in float32 and float64, with and without ``lengths``, against ``torch.nn`` on CUDA (cuDNN) from
   the same weights and initial state: outputs, final states and every gradient (input, initial
   state, each parameter), two stacked bidirectional layers;
3. the training step of benchmarks/rnn_bench.py on its configs (docs/performance.md): tg on
   CUDA, torch.nn on CUDA and tg on the CPU, timed as benchmarks/timing.py times (interleaved,
   settle pauses, median of ``--repeat``), each GPU step synchronised before its clock stops.

    python benchmarks/gpu_check.py                                  # all three, gpu_check.json
    python benchmarks/gpu_check.py --no-suite --only lstm-50x32 --out quick.json

Without a GPU (or without CuPy) it prints one line and exits 2, writing nothing. Otherwise it
exits 0 when every part ran and passed, 1 when a part failed or could not run (PyTorch without
CUDA, say), and the report says which. TF32 is off for PyTorch (CuPy does not use it by default),
so both libraries compute in full float32.
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
import xml.etree.ElementTree as ElementTree

import numpy as np

import rnn_bench
import timing
from rnn_bench import tg, torch
from tinygrad_seq import backend
from tinygrad_seq.testing import tolerances

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from recurrent_cases import rounding_terms  # noqa: E402  (the suite's float32 error bound)

# the layers compared with torch.nn: (tg and torch class name, constructor options)
KINDS = {"lstm": ("LSTM", {}), "gru": ("GRU", {}), "rnn_tanh": ("RNN", {}),
         "rnn_relu": ("RNN", {"nonlinearity": "relu"})}
ENGINES = ("graph", "compiled", "fused")
DTYPES = ("float32", "float64")
# steps, batch, input size, hidden size, layers; lengths unsorted, one full, one of one step
SHAPE = dict(steps=7, batch=3, input_size=5, hidden_size=6, num_layers=2)
LENGTHS = np.array([4, 7, 1])
# label -> (library, device) of the timed training steps
BENCH_ENGINES = {"tg-cuda": ("tg", "cuda"), "torch-cuda": ("torch", "cuda"),
                 "tg-cpu": ("tg", "cpu")}


def missing_gpu():
    """Why device "cuda" cannot run here (no CuPy, no driver, no GPU), or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # CuPy's import warnings would add lines to the one
        try:
            backend.get_device("cuda")
        except RuntimeError as e:
            return str(e)
    return None


def synchronize(device):
    """Wait for the work queued on ``device`` ("cuda:N" of tg or torch; nothing on the CPU)."""
    if str(device).startswith("cuda"):
        gpu = backend.get_device(str(device))
        gpu.xp.cuda.Device(gpu.index).synchronize()
        if torch is not None and torch.cuda.is_available():
            torch.cuda.synchronize(gpu.index)


# ---------------------------------------------------------------- 1. the suite

def _cuda_half(name):
    """True for a test whose parameters name a CUDA device ("test_x[cuda-tanh]")."""
    params = re.search(r"\[(.*)\]$", name)
    return bool(params) and any(p.startswith("cuda") for p in params.group(1).split("-"))


def suite_summary(junit_xml):
    """Counts of a pytest JUnit XML report, all tests and their CUDA half apart, and the first
    failures (test id and the first line of the message)."""
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    cuda = dict(counts)
    failures = []
    for case in ElementTree.fromstring(junit_xml).iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
                message = (child.get("message") or child.text or "").strip().splitlines()
                failures.append(f"{test_id}: {message[0] if message else child.tag}")
            elif child.tag == "skipped" and outcome == "passed":
                outcome = "skipped"
        counts[outcome] += 1
        if _cuda_half(case.get("name", "")):
            cuda[outcome] += 1
    return {"counts": counts, "cuda": cuda, "failures": failures[:100],
            "failures_left_out": max(0, len(failures) - 100)}


def run_suite(pytest_args, log_path):
    """The suite (the default selection: not slow) with the real CuPy; its log to ``log_path``."""
    env = dict(os.environ)
    env.setdefault("HYPOTHESIS_PROFILE", "ci")
    with tempfile.TemporaryDirectory() as scratch:
        junit = os.path.join(scratch, "suite.xml")
        command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                   f"--junitxml={junit}", *pytest_args]
        start = time.perf_counter()
        with open(log_path, "w") as log:
            proc = subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - start
        if not os.path.exists(junit):
            return {"ok": False, "returncode": proc.returncode, "seconds": seconds, "log": log_path,
                    "error": "pytest wrote no report (see the log)"}
        with open(junit) as f:
            summary = suite_summary(f.read())
    ran_cuda = summary["cuda"]["passed"] + summary["cuda"]["failed"] > 0
    return {"ok": proc.returncode == 0 and ran_cuda, "returncode": proc.returncode,
            "seconds": seconds, "log": log_path,
            **({} if ran_cuda else {"error": "no test ran its CUDA half"}), **summary}


# ---------------------------------------------------------------- 2. against torch.nn

def worst_ratios(got, expected, dtype, terms):
    """For each name, the largest |got - expected| / (atol + rtol·|expected|) with the tolerances
    of ``dtype`` over ``terms`` rounded operations (scale: the largest |expected|, at least 1):
    at most 1 where the two agree to rounding, as ``tinygrad_seq.testing.assert_close``."""
    ratios = {}
    for name, reference in expected.items():
        value, reference = np.asarray(got[name], np.float64), np.asarray(reference, np.float64)
        if value.shape != reference.shape:
            ratios[name] = float("inf")
            continue
        tol = tolerances(dtype, terms=terms, scale=max(1.0, float(np.max(np.abs(reference)))))
        bound = tol["atol"] + tol["rtol"] * np.abs(reference)
        ratio = np.abs(value - reference) / bound
        ratio = np.where(np.isnan(ratio), np.inf, ratio)       # NaN agrees with nothing
        ratios[name] = float(np.max(ratio)) if ratio.size else 0.0
    return ratios


def compare_case(kind, engine, dtype, use_lengths, device="cuda", torch_device="cuda", seed=0):
    """One layer run by tg on ``device`` and by torch.nn on ``torch_device`` from the same
    weights, input, initial state and upstream gradient: the worst tolerance ratio of each
    result and gradient (see ``worst_ratios``)."""
    class_name, options = KINDS[kind]
    steps, batch, inputs, hidden, layers = (SHAPE[k] for k in ("steps", "batch", "input_size",
                                                                 "hidden_size", "num_layers"))
    torch_dtype = getattr(torch, dtype)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    reference = getattr(torch.nn, class_name)(inputs, hidden, num_layers=layers,
                                              bidirectional=True, **options)
    layer = getattr(tg.nn, class_name)(inputs, hidden, num_layers=layers, bidirectional=True,
                                       engine=engine, **options)
    layer.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    reference.to(device=torch_device, dtype=torch_dtype)
    layer.to(device, dtype)

    x = rng.standard_normal((steps, batch, inputs))
    state_shape = (2 * layers, batch, hidden)
    state = [rng.uniform(-1, 1, state_shape) for _ in range(2 if kind == "lstm" else 1)]
    lengths = LENGTHS if use_lengths else None

    x_torch = torch.tensor(x, dtype=torch_dtype, device=torch_device, requires_grad=True)
    state_torch = [torch.tensor(s, dtype=torch_dtype, device=torch_device, requires_grad=True)
                   for s in state]
    packed = x_torch if lengths is None else torch.nn.utils.rnn.pack_padded_sequence(
        x_torch, torch.from_numpy(lengths), enforce_sorted=False)
    out, final = reference(packed, tuple(state_torch) if kind == "lstm" else state_torch[0])
    if lengths is not None:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=steps)
    results_torch = [out, *(final if kind == "lstm" else (final,))]
    upstream = [rng.standard_normal(tuple(r.shape)) for r in results_torch]
    sum((r * torch.tensor(u, dtype=torch_dtype, device=torch_device)).sum()
        for r, u in zip(results_torch, upstream)).backward()

    x_tg = tg.tensor(x, dtype=dtype, device=device, requires_grad=True)
    state_tg = [tg.tensor(s, dtype=dtype, device=device, requires_grad=True) for s in state]
    lengths_tg = None if lengths is None else tg.tensor(lengths, device=device)
    out, final = layer(x_tg, tuple(state_tg) if kind == "lstm" else state_tg[0], lengths=lengths_tg)
    results = [out, *(final if kind == "lstm" else (final,))]
    loss = None
    for r, u in zip(results, upstream):
        term = (r * tg.tensor(u, dtype=dtype, device=device)).sum()
        loss = term if loss is None else loss + term
    loss.backward()

    names = ["output", "h_n", "c_n"][:len(results)]
    got = {n: r.numpy() for n, r in zip(names, results)}
    expected = {n: r.detach().cpu().numpy() for n, r in zip(names, results_torch)}
    got["grad input"], expected["grad input"] = x_tg.grad.numpy(), x_torch.grad.cpu().numpy()
    for k, (mine, theirs) in enumerate(zip(state_tg, state_torch)):
        got[f"grad state[{k}]"], expected[f"grad state[{k}]"] = (mine.grad.numpy(),
                                                                 theirs.grad.cpu().numpy())
    tg_params = dict(layer.named_parameters())
    for name, p in reference.named_parameters():
        got[f"grad {name}"] = tg_params[name].grad.numpy() if name in tg_params else None
        expected[f"grad {name}"] = p.grad.cpu().numpy()
    missing = [name for name, value in got.items() if value is None]
    if missing:
        raise ValueError(f"tg's {class_name} has no parameter {missing}")
    terms = rounding_terms(inputs, hidden, steps, layers, bidirectional=True, batch=batch)
    return worst_ratios(got, expected, np.dtype(dtype), terms)


def compare_all(device="cuda", torch_device="cuda", kinds=KINDS, engines=ENGINES, dtypes=DTYPES):
    """Every case of ``compare_case``: a list of {case, ok, worst, ratios | error}."""
    cases = []
    for kind in kinds:
        for engine in engines:
            for dtype in dtypes:
                for use_lengths in (False, True):
                    case = f"{kind}/{engine}/{dtype}/{'lengths' if use_lengths else 'full'}"
                    try:
                        ratios = compare_case(kind, engine, dtype, use_lengths, device,
                                              torch_device)
                    except Exception as e:  # one broken case is reported, the others still run
                        cases.append({"case": case, "ok": False,
                                      "error": f"{type(e).__name__}: {e}"})
                        continue
                    worst = max(ratios.values())
                    cases.append({"case": case, "ok": worst <= 1.0, "worst": worst,
                                  "ratios": ratios})
    return cases


# ---------------------------------------------------------------- 3. training-step timings

def bench_configs(only=None):
    """The configs timed: rnn_bench's (docs/performance.md), or ``only`` of them, as rows of
    (name, kind, steps, batch, input size, hidden size)."""
    names = only or rnn_bench.TIME_CONFIGS + rnn_bench.MEMORY_CONFIGS
    unknown = [name for name in names if name not in rnn_bench.CONFIGS]
    if unknown:
        raise ValueError(f"unknown config {unknown}: expected some of {sorted(rnn_bench.CONFIGS)}")
    return [(name, *rnn_bench.CONFIGS[name]) for name in names]


def bench_config(name, engines=BENCH_ENGINES, repeat=7, batch_s=0.3, pause=timing.PAUSE_S,
                 tg_variant=None):
    """ms per training step of each engine on one config, after checking that every engine's
    gradients equal torch.nn's (rnn_bench's check)."""
    kind, x, target, weights = rnn_bench.problem(name)
    tg_kwargs = rnn_bench.tg_variant(kind, tg_variant)[0]
    makers = {"tg": rnn_bench.tg_step, "torch": rnn_bench.torch_nn_step}
    steps, grads = {}, {}
    for label, (library, device) in engines.items():
        step, grads[label] = makers[library](kind, x, target, weights, tg_kwargs, device=device)

        def synchronised(step=step, device=device):
            step()
            synchronize(device)
        steps[label] = synchronised
        synchronised()
    # rnn_bench compares every engine with the one it calls torch.nn
    reference = next(label for label, (library, _) in engines.items() if library == "torch")
    rnn_bench.check_gradients(name, {"torch.nn": grads[reference],
                                     **{k: v for k, v in grads.items() if k != reference}})
    timings = timing.interleaved(steps, repeat, batch_s, pause)
    return {"ms": {label: t.median * 1e3 for label, t in timings.items()},
            "min_ms": {label: t.min * 1e3 for label, t in timings.items()},
            "max_ms": {label: t.max * 1e3 for label, t in timings.items()},
            "per_batch": {label: t.number for label, t in timings.items()}}


def bench_table(results):
    """The timings as a Markdown table, the ratios that matter beside them."""
    lines = ["| config | T | B | I | H | tg-cuda ms | torch-cuda ms | tg-cpu ms "
             "| tg-cuda / torch-cuda | tg-cpu / tg-cuda |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, kind, steps, batch, inputs, hidden in bench_configs(list(results)):
        r = results[name]
        if "error" in r:
            lines.append(f"| {rnn_bench.KIND_NAMES[kind]} | {steps} | {batch} | {inputs} | "
                         f"{hidden} | failed: {r['error']} | | | | |")
            continue
        ms = r["ms"]
        cuda, torch_cuda, cpu = (ms.get(k) for k in ("tg-cuda", "torch-cuda", "tg-cpu"))
        lines.append(f"| {rnn_bench.KIND_NAMES[kind]} | {steps} | {batch} | {inputs} | {hidden} | "
                     f"{rnn_bench.cell(cuda, 2)} | {rnn_bench.cell(torch_cuda, 2)} | "
                     f"{rnn_bench.cell(cpu, 2)} | {rnn_bench.ratio(cuda, torch_cuda)} | "
                     f"{rnn_bench.ratio(cpu, cuda)} |")
    return lines


# ---------------------------------------------------------------- the report

def gpu_facts():
    """The GPU, CUDA, CuPy and PyTorch this ran on."""
    cupy = backend.get_device("cuda").xp
    runtime = cupy.cuda.runtime
    facts = {"cupy": cupy.__version__, "gpus": runtime.getDeviceCount(),
             "cuda_runtime": runtime.runtimeGetVersion(), "cuda_driver": runtime.driverGetVersion()}
    name = runtime.getDeviceProperties(0)["name"]
    facts["gpu0"] = name.decode() if isinstance(name, bytes) else str(name)
    if torch is not None:
        facts["torch"] = torch.__version__
        facts["torch_cuda"] = torch.cuda.is_available()
        facts["cudnn"] = torch.backends.cudnn.version() if torch.cuda.is_available() else None
    return facts


def assemble_report(facts, parts):
    """The JSON report: what ran on what, each part as it came back (a part is a dict with
    ``ok``, or None where it was left out by an option), and one verdict: ``ok`` only when every
    part that was asked for ran and passed."""
    asked = {name: part for name, part in parts.items() if part is not None}
    failed = sorted(name for name, part in asked.items() if not part.get("ok"))
    return {"created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "run": timing.run_record(torch, numpy=np.__version__), "gpu": facts,
            "parts": parts, "left_out": sorted(set(parts) - set(asked)), "failed": failed,
            "ok": bool(asked) and not failed}


def exit_code(report):
    return 0 if report["ok"] else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu_check.json",
                        help="the JSON report (default %(default)s)")
    parser.add_argument("--no-suite", action="store_true", help="leave out the test suite")
    parser.add_argument("--no-compare", action="store_true", help="leave out torch.nn comparisons")
    parser.add_argument("--no-bench", action="store_true", help="leave out the timings")
    parser.add_argument("--pytest-args", default="", help="extra pytest arguments, one string")
    parser.add_argument("--only", choices=sorted(rnn_bench.CONFIGS), action="append",
                        help="time only this config (repeatable)")
    parser.add_argument("--repeat", type=int, default=7, help="timed batches per engine")
    parser.add_argument("--tg-variant", choices=["graph", "compiled", "fused"],
                        help="tg's engine in the timings (default: the layers' default)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads")
    args = parser.parse_args(argv)

    reason = missing_gpu()
    if reason is not None:
        print(f"gpu_check: no GPU to check, nothing written: {reason}", file=sys.stderr)
        return 2

    limiter = timing.set_threads(args.threads, torch)  # noqa: F841 (kept alive: the limits hold)
    facts = gpu_facts()
    print(f"gpu_check: {facts}", flush=True)
    torch_cuda = torch is not None and torch.cuda.is_available()
    no_torch = {"ok": False, "error": "PyTorch with CUDA is not installed here"}
    if torch_cuda:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    parts = {"suite": None, "torch_comparison": None, "benchmarks": None}

    if not args.no_suite:
        log = os.path.splitext(args.out)[0] + "-suite.log"
        print(f"suite: running, log in {log}", flush=True)
        parts["suite"] = suite = run_suite(args.pytest_args.split(), log)
        print(f"suite: {suite.get('counts')} (CUDA half {suite.get('cuda')}) in "
              f"{suite['seconds']:.0f} s", flush=True)

    if not args.no_compare:
        if torch_cuda:
            cases = compare_all()
            bad = [c for c in cases if not c["ok"]]
            parts["torch_comparison"] = {"ok": not bad, "cases": cases, "failed": len(bad)}
            print(f"torch.nn comparison: {len(cases) - len(bad)} of {len(cases)} cases agree",
                  *[f"  {c['case']}: {c.get('error') or c['worst']}" for c in bad], sep="\n",
                  flush=True)
        else:
            parts["torch_comparison"] = no_torch

    if not args.no_bench and not torch_cuda:
        parts["benchmarks"] = no_torch
    elif not args.no_bench:
        results = {}
        for name, *_ in bench_configs(args.only):
            try:
                results[name] = bench_config(name, BENCH_ENGINES, args.repeat,
                                             tg_variant=args.tg_variant)
            except (Exception, SystemExit) as e:  # rnn_bench's gradient check exits
                results[name] = {"error": f"{type(e).__name__}: {e}"}
            print(f"{name}: {results[name].get('ms') or results[name]['error']}", flush=True)
        table = bench_table(results)
        print("\n".join(table), flush=True)
        parts["benchmarks"] = {"ok": all("error" not in r for r in results.values()),
                               "threads": args.threads, "repeat": args.repeat,
                               "tg_variant": args.tg_variant, "configs": results, "table": table}

    report = assemble_report(facts, parts)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    verdict = "every part passed" if report["ok"] else "failed: " + ", ".join(report["failed"])
    print(f"gpu_check: {verdict}; report in {args.out}")
    return exit_code(report)


if __name__ == "__main__":
    sys.exit(main())
