"""The CUDA path, on real GPUs or on the strict stand-in for CuPy (strict_cupy.py): each device
guard a context of its own, safe across threads; lengths, operands and fill values that live on
a GPU; one seed, the same initial weights on every device; the checks that read a tensor before
an op, on the tensor's GPU; the engines and anomaly mode on each device; tg.distributed's NCCL
path on the parameters' GPU (a fake communicator); a run resumed on another device warns.

The ``gpu`` fixture runs a test on "cuda" and on "cuda:1" while GPU 0 stays current, where a
CuPy call made outside its tensor's device raises (see conftest.py)."""
import ctypes
import os
import threading
import types

import numpy as np
import pytest

import strict_cupy
import tinygrad_seq as tg
from tinygrad_seq import backend
from tinygrad_seq import distributed as dist
from tinygrad_seq.testing import assert_close, gradcheck

from recurrent_cases import flatten_state, numpy_all, rounding_terms, upstream_like, weighted_sum

F = tg.nn.functional


def test_device_guards_in_two_threads_restore_each_threads_own_device():
    """CuPy's Device keeps the devices its ``with`` blocks replaced on the instance, so one
    instance entered by two threads restores the other thread's device: each guard is a
    context of its own. The main thread enters a guard of GPU 1 from GPU 0, the other thread
    from GPU 1; they leave in the order they entered."""
    with strict_cupy.installed():
        gpu1 = backend.get_device("cuda:1")
        entered, main_left = threading.Event(), threading.Event()
        seen = {}

        def other():
            strict_cupy.cuda.Device(1).use()
            with gpu1.activate():
                entered.set()
                main_left.wait(10)
            seen["other"] = strict_cupy.cuda.runtime.getDevice()

        thread = threading.Thread(target=other)
        with gpu1.activate():
            thread.start()
            entered.wait(10)
        seen["main"] = strict_cupy.cuda.runtime.getDevice()
        main_left.set()
        thread.join(10)
    assert seen == {"main": 0, "other": 1}


@pytest.mark.parametrize("engine", ["graph", "compiled", "fused"])
def test_lengths_on_the_gpu_give_the_cpus_result_and_stay_there(gpu, engine):
    """``lengths`` as a tensor of the input's GPU, as a bare array of it, or as a list: the
    CPU's outputs, and the forward never copies the lengths to the host. It reads back their
    minimum and maximum (two numbers), and the fused kernel which of the T steps are full."""
    steps, batch, lengths = 6, 5, [6, 2, 0, 5, 3]
    x = np.random.default_rng(0).standard_normal((steps, batch, 3)).astype(np.float32)
    tg.manual_seed(0)
    layer = tg.nn.LSTM(3, 4, num_layers=2, bidirectional=True, engine=engine)
    out, state = layer(tg.tensor(x), lengths=lengths)
    expected = numpy_all((out,) + flatten_state(state))
    layer.to(gpu)
    on_gpu = tg.tensor(lengths, device=gpu)
    terms = rounding_terms(3, 4, steps=steps, num_layers=2, bidirectional=True, batch=batch)
    for given in (on_gpu, on_gpu.data, lengths):
        with strict_cupy.transfers() as copies:   # records nothing on a real GPU
            out, state = layer(tg.tensor(x, device=gpu), lengths=given)
        read = [size for _, size in copies]  # the layer's check, then each of its 4 scans'
        assert len(read) <= 5, copies
        assert all(size <= 2 or (engine == "fused" and size == steps) for size in read), copies
        assert out.device == backend.canonical_device(gpu)
        for got, want in zip(numpy_all((out,) + flatten_state(state)), expected):
            assert_close(got, want, terms=terms)


def test_scan_takes_lengths_of_the_gpu(gpu):
    """tg.scan's ``lengths`` too: a tensor or an array of the carry's GPU."""
    def step(h, x):
        return h + x, h * 2
    xs = tg.ones(4, 3, 2)
    expected = tg.scan(step, tg.zeros(3, 2), xs, lengths=[4, 1, 0])
    for given in (tg.tensor([4, 1, 0], device=gpu), tg.tensor([4, 1, 0], device=gpu).data):
        carry, ys = tg.scan(step, tg.zeros(3, 2, device=gpu), xs.to(gpu), lengths=given)
        np.testing.assert_array_equal(carry.numpy(), expected[0].numpy())
        np.testing.assert_array_equal(ys.numpy(), expected[1].numpy())


def test_arrays_and_fill_values_of_a_gpu(gpu):
    """A GPU array as an operand beside a tensor of its GPU, as a fill value (0-d, or a 0-d
    tensor), and as the data of a tensor of its own GPU or of another device (an integer
    tensor from floats is range-checked where the floats live)."""
    x = tg.tensor([1.0, 2.0, 3.0], device=gpu)
    twice = tg.tensor([2.0, 2.0, 2.0], device=gpu).data
    assert (x * twice).tolist() == [2.0, 4.0, 6.0]
    scalar = tg.tensor(7.0, device=gpu)
    assert tg.full((2,), scalar.data, device=gpu).tolist() == [7.0, 7.0]
    assert tg.full((2,), scalar).tolist() == [7.0, 7.0]
    data = tg.tensor([1.5, -2.5], device=gpu).data
    assert backend.device_of_array(data) == backend.canonical_device(gpu)
    assert tg.tensor(data, dtype="int64", device=gpu).tolist() == [1, -2]
    for target in ("cpu", "cuda:0", "cuda:1"):
        t = tg.tensor(data, device=target)
        assert t.device == target and t.tolist() == [1.5, -2.5]
        assert backend.device_of_array(t.data) == target


INITIALISERS = {
    "uniform_": lambda p: tg.nn.init.uniform_(p, -0.5, 0.5),
    "normal_": lambda p: tg.nn.init.normal_(p, 1.0, 0.1),
    "xavier_uniform_": tg.nn.init.xavier_uniform_,
    "kaiming_normal_": tg.nn.init.kaiming_normal_,
    "orthogonal_": lambda p: tg.nn.init.orthogonal_(p, blocks=2),
    "constant_": lambda p: tg.nn.init.constant_(p, 0.25),
}


@pytest.mark.parametrize("name", sorted(INITIALISERS))
def test_one_seed_gives_the_same_initial_weights_on_every_device(gpu, name):
    """Initial weights are drawn on the host (the CPU's stream) and copied to the parameter's
    device: the same seed gives the same weights on the CPU and on a GPU, whose own stream
    (CuPy's) draws other numbers."""
    weights = []
    for where in ("cpu", gpu):
        p = tg.nn.Parameter(tg.zeros(6, 4, device=where))
        tg.manual_seed(3)
        INITIALISERS[name](p)
        assert backend.device_of_array(p.data) == backend.canonical_device(where)
        weights.append(p.numpy())
    np.testing.assert_array_equal(weights[1], weights[0])


def test_the_checks_before_an_op_read_their_tensors_on_its_gpu(gpu):
    """Targets, per-token weights, sampled classes and their expected counts, probabilities
    and indices are checked on the GPU they live on (and still refused when bad)."""
    tg.manual_seed(0)
    logits = tg.randn(4, 5, device=gpu)
    target = tg.tensor([0, 4, 2, 1], device=gpu)
    weight = tg.tensor([1.0, 0.0, 2.0, 1.0], device=gpu)
    loss = F.cross_entropy(logits, target, weight=weight)
    expected = F.cross_entropy(logits.cpu(), target.cpu(), weight=weight.cpu())
    assert_close(loss.numpy(), expected.numpy(), terms=20)
    with pytest.raises(IndexError, match="target value 7 is out of range"):
        F.cross_entropy(logits, tg.tensor([0, 7, 2, 1], device=gpu))
    with pytest.raises(ValueError, match="weight must be finite and non-negative.*got -1.0"):
        F.cross_entropy(logits, target, weight=tg.tensor([1.0, -1.0, 1.0, 1.0], device=gpu))
    out_weight, bias = tg.randn(9, 3, device=gpu), tg.zeros(9, device=gpu)
    hidden = tg.randn(4, 3, device=gpu)
    classes, counts = tg.nn.losses.draw_candidates("uniform", 4, 9, device=gpu)
    assert backend.device_of_array(classes) == backend.canonical_device(gpu)
    sampled = F.sampled_softmax_loss(out_weight, bias, hidden, target, 4,
                                     sampled_values=(classes, counts), target_weights=weight)
    assert np.isfinite(sampled.item())
    probabilities = tg.nn.losses.candidate_probabilities("log_uniform", classes, 9)
    assert backend.device_of_array(probabilities) == backend.canonical_device(gpu)
    with backend.on(gpu):
        none_expected = counts * 0
    with pytest.raises(ValueError, match="expected counts must be positive"):
        F.sampled_softmax_loss(out_weight, bias, hidden, target, 4,
                               sampled_values=(classes, none_expected))
    with pytest.raises(ValueError, match="non-negative"):
        tg.multinomial(tg.tensor([0.5, -0.1], device=gpu), 1)
    rows = tg.tensor([[1.0, 2.0], [3.0, 4.0]], device=gpu)
    assert rows[[1, 0]].tolist() == [[3.0, 4.0], [1.0, 2.0]]
    assert rows[np.array([True, False])].tolist() == [[1.0, 2.0]]
    table = tg.nn.Embedding(4, 2, padding_idx=0).to(gpu)
    assert not table(tg.tensor([0, 3], device=gpu)).numpy()[0].any()
    assert gradcheck(lambda a: (a * a).tanh(), tg.randn(3, device=gpu))


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_engines_agree_on_the_device(device, kind):
    """The fused kernel and the compiled scans equal the graph, on each device, with lengths,
    two bidirectional layers and a given state, outputs and every gradient (float64)."""
    make = {"lstm": tg.nn.LSTM, "gru": tg.nn.GRU, "rnn": tg.nn.RNN}[kind]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3, 2))
    results = {}
    for engine in ("graph", "compiled", "fused"):
        tg.manual_seed(4)
        layer = make(2, 3, num_layers=2, bidirectional=True, engine=engine).double().to(device)
        leaf = tg.tensor(x, dtype="float64", device=device, requires_grad=True)
        out, state = layer(leaf, lengths=tg.tensor([5, 1, 3], device=device))
        outputs = (out,) + flatten_state(state)
        weighted_sum(outputs, upstream_like(outputs, np.random.default_rng(2))).backward()
        assert all(p.grad.device == backend.canonical_device(device) for p in layer.parameters())
        results[engine] = numpy_all(outputs) + [leaf.grad.numpy()] + [
            p.grad.numpy() for p in layer.parameters()]
    for engine in ("compiled", "fused"):
        for got, want in zip(results[engine], results["graph"]):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_anomaly_mode_on_the_device(device):
    """Anomaly mode checks each op's outputs and gradients on their device."""
    x = tg.tensor([1.0, -1.0], device=device, requires_grad=True)
    with tg.detect_anomaly(), np.errstate(invalid="ignore"):
        with pytest.raises(tg.AnomalyError, match="forward of op 'log' produced nan"):
            x.log()
        y = (x * x).sqrt().sum()  # d sqrt at 0 is inf
        z = tg.tensor([0.0, 0.0], device=device, requires_grad=True)
        with pytest.raises(tg.AnomalyError, match="backward"), np.errstate(divide="ignore"):
            (y + z.sqrt().sum()).backward()


class FakeNccl:
    """cupy.cuda.nccl for a job of two ranks that hold the same values: allReduce doubles the
    buffer. It records the GPU current at each call, as a real communicator is bound to the
    GPU current when it is made and fails on another GPU's memory."""
    NCCL_FLOAT32, NCCL_FLOAT64, NCCL_FLOAT16 = 7, 8, 6
    NCCL_SUM, NCCL_MAX, NCCL_MIN = 0, 2, 3
    available = True

    def __init__(self):
        self.calls = []
        fake = self

        class NcclCommunicator:
            def __init__(self, size, uid, rank):
                self.device = strict_cupy.cuda.runtime.getDevice()
                fake.calls.append(("communicator", self.device, size, rank))

            def allReduce(self, send, receive, count, datatype, op, stream):
                current = strict_cupy.cuda.runtime.getDevice()
                fake.calls.append(("allReduce", current, count))
                assert current == self.device, "a communicator used on another GPU"
                dtype = {7: np.float32, 8: np.float64, 6: np.float16}[datatype]
                size = count * np.dtype(dtype).itemsize
                memory = np.frombuffer((ctypes.c_char * size).from_address(receive), dtype)
                memory *= 2

        self.NcclCommunicator = NcclCommunicator

    @staticmethod
    def get_unique_id():
        return (1, 2, 3)


@pytest.fixture
def two_rank_world(monkeypatch):
    """The world of rank 0 of two, talking to nobody: MPI's collectives leave the buffers as
    they are (the other rank holds the same values), NCCL's is FakeNccl on the stand-in."""
    world = dist.world._World()
    world.size, world.rank = 2, 0
    world.MPI = types.SimpleNamespace(SUM="sum", MAX="max", MIN="min", IN_PLACE=None)
    world.comm = types.SimpleNamespace(bcast=lambda obj, root=0: obj,
                                       Bcast=lambda buffer, root=0: None,
                                       Allreduce=lambda send, buffer, op=None: None)
    monkeypatch.setattr(dist.world, "_world", world)
    nccl = FakeNccl()
    with strict_cupy.installed():
        monkeypatch.setattr(strict_cupy.cuda, "nccl", nccl, raising=False)
        yield nccl


@pytest.mark.parametrize("gpu", ["cuda:0", "cuda:1"])
def test_gradients_are_averaged_over_nccl_on_the_parameters_gpu(two_rank_world, gpu):
    """broadcast_parameters and GradientAverager build their flat buffers on the parameters'
    GPU (CuPy allocates on the current one), and NCCL's communicator is made, keyed and used
    on that GPU, with its stream: under ``--distributed --device cuda`` each rank's GPU is
    cuda:<local rank>, not GPU 0."""
    index = int(gpu[-1])
    tg.manual_seed(0)
    layer = tg.nn.Linear(3, 2).to(gpu)
    before = [p.numpy() for p in layer.parameters()]
    dist.broadcast_parameters(layer)
    for p, values in zip(layer.parameters(), before):
        assert backend.device_of_array(p.data) == gpu
        np.testing.assert_array_equal(p.numpy(), values)
    (layer(tg.ones(4, 3, device=gpu)) ** 2).sum().backward()
    grads = [p.grad.numpy() for p in layer.parameters()]
    average = dist.GradientAverager(layer.parameters())
    average()
    for p, g in zip(layer.parameters(), grads):
        assert p.grad.device == gpu and backend.device_of_array(p.grad.data) == gpu
        np.testing.assert_array_equal(p.grad.numpy(), g)  # (g + g) / 2
    flat = tg.tensor([1.0, 3.0], device=gpu).data
    assert dist.all_reduce(flat, "mean") is flat
    assert flat.tolist() == [1.0, 3.0]
    assert two_rank_world.calls == [("communicator", index, 2, 0), ("allReduce", index, 8),
                                     ("allReduce", index, 2)]
    assert list(dist.world._world.nccl) == [index]
    assert strict_cupy.cuda.runtime.getDevice() == 0


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "cats.txt"
    path.write_text("the cat sat on the mat. " * 40)
    return str(path)


def test_a_run_resumed_on_another_kind_of_device_warns(text_file, tmp_path, monkeypatch):
    """A CPU run resumed on a GPU (or back) continues, with a warning: the two devices'
    random streams differ, so its dropout masks are not those the run would have drawn."""
    pytest.importorskip("tqdm", reason="the train extra (tqdm, matplotlib) is not installed")
    pytest.importorskip("matplotlib", reason="the train extra (tqdm, matplotlib) is not installed")
    from models import charlm
    from tinygrad_seq import train as trainer
    monkeypatch.delenv(trainer.MINUTES_ENV, raising=False)
    out = str(tmp_path / "run")
    common = ["train", "--data", text_file, "--embedding-size", "8", "--hidden-size", "8",
              "--bptt", "6", "--batch-size", "2", "--eval-windows", "1", "--sample-length", "2",
              "--prime", "t", "--minutes", "0", "--dropout", "0.2", "--out", out,
              "--progress", "off"]
    charlm.main([*common, "--steps", "1"])
    with strict_cupy.installed():
        with pytest.warns(RuntimeWarning, match=r"trained on cpu and resumes on cuda:0"):
            charlm.main([*common, "--steps", "2", "--resume", "--device", "cuda"])
    assert tg.load(os.path.join(out, "checkpoint.safetensors"))["device"] == "cuda:0"
    with pytest.warns(RuntimeWarning, match=r"trained on cuda:0 and resumes on cpu"):
        charlm.main([*common, "--steps", "3", "--resume"])
