"""tg.distributed and the harness's --distributed: a world of one here, and real MPI jobs of two
processes under ``mpiexec -n 2`` (skipped, with the reason, without mpiexec and mpi4py:
``pip install -e ".[distributed]"``).

The MPI jobs run this file as a script (``mpiexec -n 2 python tests/test_distributed.py MODE``):
see ``worker`` at the bottom.
"""
import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq.testing import assert_close

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
dist = tg.distributed


# ---------------------------------------------------------------- a world of one

def test_a_single_process_is_a_world_of_one_and_every_call_is_a_no_op():
    assert dist.init() == 1 and dist.world_size() == 1 and dist.rank() == 0
    dist.barrier()
    layer = tg.nn.Linear(3, 2)
    (layer(tg.ones(4, 3)) ** 2).sum().backward()
    grads = [p.grad for p in layer.parameters()]
    dist.GradientAverager(layer.parameters(), bucket_mb=0.001)()
    assert [p.grad for p in layer.parameters()] == grads  # untouched: the same objects
    before = [p.numpy().copy() for p in layer.parameters()]
    dist.broadcast_parameters(layer)
    dist.broadcast_state(tg.optim.Adam(layer.parameters()))
    assert all(np.array_equal(a, p.numpy()) for a, p in zip(before, layer.parameters()))
    assert dist.all_reduce(np.array([1.0, 2.0]), "mean").tolist() == [1.0, 2.0]
    assert dist.broadcast_object({"a": 1}) == {"a": 1}


def test_a_launcher_without_mpi4py_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(dist.world, "_world", dist.world._World())
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setenv("PMI_RANK", "1")
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py fails
    with pytest.raises(dist.DistributedError, match=r"one of 2.*mpi4py is not installed.*distributed"):
        dist.init()


@pytest.mark.parametrize("drop_last", [True, False])
def test_sampler_shares_every_epoch_out_disjointly_and_keeps_ranks_in_step(drop_last):
    length, batch, world = 45, 8, 4
    whole = dist.DistributedSampler(length, batch, seed=3, drop_last=drop_last, rank=0, world_size=1)
    parts = [dist.DistributedSampler(length, batch, seed=3, drop_last=drop_last, rank=r,
                                     world_size=world) for r in range(world)]
    for epoch in (0, 1):
        for sampler in [whole, *parts]:
            sampler.set_epoch(epoch)
        assert len({len(p) for p in parts}) == 1 and len(parts[0]) == len(whole)
        together = [np.concatenate(rows) for rows in zip(*parts)]  # the ranks' slices, in order
        alone = list(whole)
        assert all(np.array_equal(a, b) for a, b in zip(alone, together))  # = one process
        if drop_last:
            seen = np.concatenate(together)
            assert len(seen) == len(set(seen.tolist())) == 5 * batch  # disjoint; tail of 5 left out
        else:
            assert len(alone) == 6 and all(len(rows) == batch // world for p in parts for rows in p)
    first, second = (list(dist.DistributedSampler(length, batch, seed=3, rank=0, world_size=1))
                     for _ in range(2))
    assert all(np.array_equal(a, b) for a, b in zip(first, second))  # same seed, same order
    whole.set_epoch(0)
    epoch0 = np.concatenate(list(whole))
    whole.set_epoch(1)
    assert not np.array_equal(epoch0, np.concatenate(list(whole)))  # reshuffled each epoch
    with pytest.raises(dist.DistributedError, match="does not split evenly over 3"):
        dist.DistributedSampler(45, 8, rank=0, world_size=3)


def test_sharded_generator_gives_each_rank_its_slice_of_one_global_draw():
    draws = [dist.ShardedGenerator(np.random.default_rng(7), rank=r, world_size=2) for r in range(2)]
    full = np.random.default_rng(7)
    for name, call in [("integers", lambda g: g.integers(0, 1000, size=6)),
                       ("integers", lambda g: g.integers(0, 1000, 6)),
                       ("normal", lambda g: g.normal(0, 1, size=(4, 3))),
                       ("choice", lambda g: g.choice(50, size=4, replace=False)),
                       ("permutation", lambda g: g.permutation(8))]:
        parts = [call(g) for g in draws]
        assert np.array_equal(np.concatenate(parts), call(full)), name
    assert draws[0].integers(0, 1000) == draws[1].integers(0, 1000) == full.integers(0, 1000)
    assert draws[0].sharded_draws == 5
    with pytest.raises(dist.DistributedError, match="batch of 5 does not split evenly over 2"):
        draws[0].integers(0, 10, size=5)
    with pytest.raises(AttributeError, match="shuffle is not shared out"):
        draws[0].shuffle


def test_gradients_go_into_buckets_of_at_most_the_size_asked_for():
    model = tg.nn.Sequential(tg.nn.Linear(64, 64), tg.nn.Linear(64, 64), tg.nn.Linear(64, 8))
    params = list(model.parameters())
    average = dist.GradientAverager(params, bucket_mb=20000 / 2**20)  # 20 kB; a 64x64 is 16 kB
    assert len(average.buckets) < len(params)  # one collective a bucket, not a parameter
    assert sorted(map(id, sum(average.buckets, []))) == sorted(map(id, params))
    for bucket in average.buckets:
        assert len(bucket) == 1 or sum(p.size * 4 for p in bucket) <= 20000
    assert len(dist.GradientAverager(params).buckets) == 1
    with pytest.raises(ValueError, match="bucket_mb must be > 0"):
        dist.GradientAverager(params, bucket_mb=0)


def test_the_harness_flag_alone_trains_as_one_process(tmp_path):
    pytest.importorskip("tqdm", reason="the train extra (tqdm, matplotlib) is not installed")
    pytest.importorskip("matplotlib", reason="the train extra (tqdm, matplotlib) is not installed")
    from models import charlm
    outs = []
    for flags in ([], ["--distributed", "--bucket-mb", "0.01"]):
        out = str(tmp_path / f"run{len(outs)}")
        charlm.main(["train", "--smoke", "--steps", "3", "--out", out, "--progress", "off", *flags])
        outs.append(tg.load(os.path.join(out, "checkpoint.safetensors"))["model"])
    assert all(np.array_equal(outs[0][k].numpy(), outs[1][k].numpy()) for k in outs[0])


def test_cuda_gradients_average_in_a_world_of_one(gpu):
    layer = tg.nn.Linear(3, 2).to(gpu)
    (layer(tg.ones(4, 3, device=gpu)) ** 2).sum().backward()
    dist.GradientAverager(layer.parameters())()
    assert all(p.grad.device.startswith("cuda") for p in layer.parameters())


# ---------------------------------------------------------------- real jobs under mpiexec

def _mpiexec():
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.access(here, os.X_OK) else shutil.which("mpiexec")


@functools.lru_cache(maxsize=None)
def _mpi_missing():
    """Why two-process jobs cannot run here, or None when they can."""
    if importlib.util.find_spec("mpi4py") is None:
        return 'mpi4py is not installed (pip install -e ".[distributed]" brings it and mpiexec)'
    if _mpiexec() is None:
        return 'no mpiexec (pip install -e ".[distributed]" brings the mpich wheel with it)'
    probe = subprocess.run([_mpiexec(), "-n", "2", sys.executable, "-c",
                            "from mpi4py import MPI; print(f'<size {MPI.COMM_WORLD.Get_size()}>')"],
                           capture_output=True, text=True, timeout=60)
    if probe.stdout.count("<size 2>") != 2:
        return (f"{_mpiexec()} -n 2 does not start a job of two that mpi4py joins (another MPI "
                f"than mpi4py's?): {(probe.stdout + probe.stderr)[-300:]}")
    return None


def _job(n, *argv, timeout=180, env=None):
    """Run ``argv`` (after python) on n processes; (exit status, output, seconds)."""
    command = [_mpiexec(), "-n", str(n), sys.executable, *argv]
    began = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": ROOT, **(env or {})})
    return done.returncode, done.stdout + done.stderr, time.monotonic() - began


@pytest.fixture
def mpi():
    reason = _mpi_missing()
    if reason:
        pytest.skip(reason)
    return _job


SCRIPT = os.path.abspath(__file__)


def _job_result(mpi, n, mode, out, averager="right"):
    code, output, _ = mpi(n, SCRIPT, mode, out, averager)
    assert code == 0, output
    return [np.load(f"{out}.{rank}.npz") for rank in range(n)]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """``mode`` -> the result of one process with the whole batch (each job run once)."""
    reason = _mpi_missing()
    if reason:
        pytest.skip(reason)
    results = {}

    def result(mode):
        if mode not in results:
            out = str(tmp_path_factory.mktemp("one_process") / mode)
            code, output, _ = _job(1, SCRIPT, mode, out, "right")
            assert code == 0, output
            results[mode] = np.load(f"{out}.0.npz")
        return results[mode]
    return result


def check_equal_to_one_process(mode, alone, ranks):
    """Raise AssertionError unless every rank of the two-process run ended where one process
    with the whole batch did: the same averaged gradients (``gradients``) or the same weights
    after 6 steps (``train``), to float64 rounding."""
    terms = 8 * 5 * (3 + 8) * int(alone["steps"])  # rows x time steps x a product's inputs
    for rank in ranks:  # every replica, not only the one that saves
        for name in alone.files:
            if name.startswith("p_"):
                assert_close(rank[name], alone[name], terms=terms, dtype=np.float64,
                             err_msg=f"{mode}: {name} on rank {int(rank['rank'])}")


@pytest.mark.parametrize("mode", ["gradients", "train"])
def test_two_processes_with_half_the_batch_equal_one_process_with_all_of_it(mpi, one_process,
                                                                              tmp_path, mode):
    alone = one_process(mode)
    ranks = _job_result(mpi, 2, mode, str(tmp_path / mode))
    steps = 1 if mode == "gradients" else 6
    assert all(int(r["steps"]) == steps for r in [alone, *ranks])
    calls, buckets = int(ranks[0]["calls"]), int(ranks[0]["buckets"])
    assert calls == steps * buckets and 1 < buckets < int(ranks[0]["params"])
    for name in alone.files:  # a comparison of something: every gradient there, every weight moved
        if name.startswith("p_") and mode == "gradients":
            assert np.abs(alone[name]).max() > 0, name
        elif name.startswith("p_"):
            assert not np.allclose(alone[name], alone["start_" + name[2:]], rtol=1e-3, atol=0), name
    check_equal_to_one_process(mode, alone, ranks)


@pytest.mark.parametrize("mode, averager", [
    ("gradients", "sum"),   # adds the ranks' gradients up and never divides
    ("gradients", "none"),  # never communicates: each rank keeps its own half's gradient
    ("train", "sum"),
])
def test_the_equivalence_check_fails_on_a_wrong_averager(mpi, one_process, tmp_path, mode,
                                                        averager):
    alone = one_process(mode)
    ranks = _job_result(mpi, 2, mode, str(tmp_path / mode), averager)
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        check_equal_to_one_process(mode, alone, ranks)


def _charlm(mpi, n, out, *flags):
    code, output, _ = mpi(n, "-m", "models.charlm", "train", "--smoke", "--threads", "1",
                          "--out", out, "--progress", "off", "--batch-size", "4",
                          *(["--distributed"] if n > 1 else []), *flags)
    assert code == 0, output
    return output


def _weights(out):
    saved = tg.load(os.path.join(out, "checkpoint.safetensors"))
    return saved["step"], {k: v.numpy() for k, v in saved["model"].items()}


def test_charlm_trains_data_parallel_and_resumes_on_any_number_of_processes(mpi, tmp_path):
    pytest.importorskip("tqdm", reason="the train extra (tqdm, matplotlib) is not installed")
    straight, two_then_one, one_then_two = (str(tmp_path / n) for n in ("a", "b", "c"))
    _charlm(mpi, 1, straight, "--steps", "8")
    output = _charlm(mpi, 2, two_then_one, "--steps", "4", "--bucket-mb", "0.01")
    assert output.count("charlm on stdlib") == 1  # rank 0 alone prints
    assert "data-parallel over 2 processes" in output
    _charlm(mpi, 1, two_then_one, "--steps", "8", "--resume")
    _charlm(mpi, 1, one_then_two, "--steps", "4")
    _charlm(mpi, 2, one_then_two, "--steps", "8", "--resume")
    step, expected = _weights(straight)
    for out in (two_then_one, one_then_two):
        got_step, got = _weights(out)
        assert got_step == step == 8
        for name in expected:
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-4, atol=1e-5, err_msg=name)
    records = [line for line in open(os.path.join(one_then_two, "metrics.jsonl"))]
    assert sum('"kind": "train"' in r for r in records) == 8  # one log, by rank 0


def test_a_batch_that_does_not_split_is_refused_on_every_rank(mpi, tmp_path):
    code, output, seconds = mpi(2, "-m", "models.charlm", "train", "--smoke", "--distributed",
                                "--batch-size", "3", "--out", str(tmp_path / "x"), timeout=120)
    assert code == 2 and "--batch-size 3 does not split evenly over 2 processes" in output
    assert not os.path.exists(tmp_path / "x")


@pytest.mark.parametrize("mode, expected, watchdog", [
    ("die", "KILLED|Killed|signal 9|EXIT CODE: 9", 30),  # mpiexec ends the job
    ("raise", "uncaught RuntimeError", 30),              # our excepthook aborts it
    ("hang", "waited more than 3 s", 3),                 # the watchdog on the allreduce
])
def test_one_rank_failing_ends_the_whole_job_with_a_clear_error(mpi, mode, expected, watchdog):
    # only the hang needs the watchdog; for the others a short one would race them on a loaded
    # machine (the healthy rank gives up waiting before the failing one is scheduled to fail)
    code, output, seconds = mpi(2, SCRIPT, mode, timeout=120,
                                env={dist.TIMEOUT_ENV: str(watchdog)})
    assert code != 0, output
    assert seconds < 60, f"the job took {seconds:.0f} s to end"
    import re
    assert re.search(expected, output), output


# ---------------------------------------------------------------- the MPI side (a script)

class SummingAverager(dist.GradientAverager):
    """A wrong averager, kept to show that the equivalence check catches it: it adds the ranks'
    gradients up and never divides by their number."""

    def __call__(self):
        super().__call__()
        for p in sum(self.buckets, []):
            p.grad = p.grad * float(dist.world_size())


class SilentAverager(dist.GradientAverager):
    """A wrong averager that never communicates: each rank steps on its own half's gradient."""

    def __call__(self):
        self.calls += len(self.buckets)


AVERAGERS = {"right": dist.GradientAverager, "sum": SummingAverager, "none": SilentAverager}


def worker(mode, out=None, averager="right"):
    """An LSTM regression in float64, batch 8 in all, each of the world's ranks its share.
    ``gradients``: one backward and the averaging, each rank saving its parameters' gradients
    to ``out``.<rank>.npz; ``train``: 6 steps of plain SGD without clipping, whose steps follow
    the gradient's scale (Adam and clipping would hide an averager that sums), each rank saving
    its weights; ``die`` / ``raise`` / ``hang``: rank 1 fails at step 3. ``averager``: a key of
    AVERAGERS."""
    dist.init()
    tg.set_num_threads(1)
    tg.manual_seed(0 if dist.rank() == 0 else 99)  # other weights: broadcast_parameters fixes them
    lstm, head = tg.nn.LSTM(3, 8).double(), tg.nn.Linear(8, 1).double()
    model = tg.nn.ModuleList([lstm, head])
    optimizer = tg.optim.SGD(model.parameters(), lr=0.05)
    dist.broadcast_parameters(model)
    dist.broadcast_state(optimizer)
    start = {name: p.numpy().copy() for name, p in model.named_parameters()}
    data = np.random.default_rng(1).standard_normal((5, 40, 3))  # (T, N, I), float64
    targets = np.tanh(data.sum(0)[:, :1])
    sampler = dist.DistributedSampler(40, batch_size=8, seed=0)
    average = AVERAGERS[averager](model.parameters(), bucket_mb=0.001)  # several buckets
    steps, last = 0, 1 if mode == "gradients" else 6
    for epoch in range(2):
        sampler.set_epoch(epoch)
        for rows in sampler:
            if steps == last:
                break
            steps += 1
            if dist.rank() == 1 and steps == 3:
                if mode == "die":
                    os.kill(os.getpid(), 9)
                if mode == "raise":
                    raise RuntimeError("rank 1 fails on purpose")
                if mode == "hang":
                    time.sleep(3600)
            out_seq, _ = lstm(tg.tensor(data[:, rows], dtype="float64"))
            loss = ((head(out_seq[-1]) - tg.tensor(targets[rows], dtype="float64")) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            average()
            if mode != "gradients":
                optimizer.step()
    if out:
        saved = {name: (p.grad if mode == "gradients" else p).numpy()
                 for name, p in model.named_parameters()}
        np.savez(f"{out}.{dist.rank()}", rank=dist.rank(), steps=steps, calls=average.calls,
                 buckets=len(average.buckets), params=len(list(model.parameters())),
                 **{"p_" + name: value for name, value in saved.items()},
                 **{"start_" + name: value for name, value in start.items()})


if __name__ == "__main__":
    worker(*sys.argv[1:])
