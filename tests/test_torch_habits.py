"""PyTorch's habits: what a PyTorch user reaches for works as in PyTorch, and what PyTorch refuses
is refused here too, with an error that names what was wrong. Where PyTorch is a useful oracle
the test takes the ``torch`` fixture (it skips cleanly without PyTorch)."""
import inspect
import pickle

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq.testing import assert_close

F = tg.nn.functional


def _load_from_torch(module, torch_module):
    """Copy a torch module's parameters (and buffers) into ``module`` by name."""
    module.load_state_dict({k: v.detach().numpy() for k, v in torch_module.state_dict().items()})
    return module


def _torch_error(call):
    """The exception type a torch call raises, or None."""
    try:
        call()
    except Exception as e:  # noqa: BLE001 - any refusal counts
        return type(e)
    return None


# ---------------------------------------------------------------- refused as PyTorch refuses

@pytest.mark.parametrize("index", [-1, -4, 4, 9])
def test_embedding_refuses_indices_outside_the_table_as_torch(torch, index):
    assert _torch_error(lambda: torch.nn.Embedding(4, 2)(torch.tensor([0, index]))) is IndexError
    with pytest.raises(IndexError, match=rf"Embedding: index {index} is out of range for a table "
                                         rf"of size 4 \(num_embeddings"):
        tg.nn.Embedding(4, 2)(tg.tensor([0, index]))


def test_embedding_looks_up_rows_as_torch(torch):
    ref = torch.nn.Embedding(5, 3, padding_idx=1)
    emb = _load_from_torch(tg.nn.Embedding(5, 3, padding_idx=1), ref)
    ids = [[0, 1, 4], [3, 3, 2]]
    np.testing.assert_array_equal(emb(tg.tensor(ids)).numpy(), ref(torch.tensor(ids)).detach().numpy())


def test_gather_refuses_a_negative_index_as_torch(torch, device):
    assert _torch_error(lambda: torch.gather(torch.arange(4.0), 0, torch.tensor([-1]))) is not None
    x = tg.arange(4.0, device=device)
    with pytest.raises(IndexError, match=r"gather: index -1 is out of range for axis 0 of size 4"):
        tg.gather(x, 0, tg.tensor([-1], device=device))
    with pytest.raises(IndexError, match=r"index 4 is out of range for axis 0 of size 4"):
        tg.gather(x, 0, tg.tensor([4], device=device))
    # take keeps NumPy's and torch.take's negative indices
    assert tg.take(x, tg.tensor([-1], device=device)).tolist() == \
        torch.take(torch.arange(4.0), torch.tensor([-1])).tolist() == [3.0]


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_linear_refuses_another_dtype_than_its_weights_as_torch_and_lstm(torch, dtype):
    assert _torch_error(lambda: torch.nn.Linear(3, 2)(torch.zeros(1, 3, dtype=getattr(torch, dtype)))) \
        is RuntimeError
    message = rf"the input is {dtype} but the layer's parameters are float32"
    with pytest.raises(ValueError, match="Linear: " + message):
        tg.nn.Linear(3, 2)(tg.zeros(1, 3, dtype=dtype))
    with pytest.raises(ValueError, match="LSTM: " + message):  # the two read alike
        tg.nn.LSTM(3, 2)(tg.zeros(4, 1, 3, dtype=dtype))
    with pytest.raises(ValueError, match=r"Linear: the input is int64"):
        tg.nn.Linear(3, 2)(tg.zeros(1, 3, dtype="int64"))


class _StepReturnsH(tg.nn.RecurrentCell):
    """A cell written with the slip: its step returns h, not (output, state)."""

    def __init__(self):
        super().__init__(3, 4, gates=1)

    def step(self, x_proj, h):
        return (x_proj + F.linear(h, self.weight_hh)).tanh()


@pytest.mark.parametrize("batch", [2, 3])  # 2: h unpacks along the batch into two "results"
def test_a_cell_step_returning_h_alone_is_a_type_error_naming_the_cell(batch):
    message = r"_StepReturnsH\.step returned Tensor\(%d, 4\), but a cell's step" % batch
    with pytest.raises(TypeError, match=message):
        tg.nn.Recurrent([_StepReturnsH()])(tg.randn(5, batch, 3))
    with pytest.raises(TypeError, match=message):
        _StepReturnsH()(tg.randn(batch, 3))


def test_a_cell_step_whose_state_changes_structure_is_a_type_error():
    class SwapsState(tg.nn.LSTMCell):
        def step(self, x_proj, state):
            h, (_, c) = super().step(x_proj, state)
            return h, c  # a tensor where the tuple (h, c) was given

    with pytest.raises(TypeError, match=r"SwapsState\.step returned \(Tensor\(2, 4\), Tensor\(2, 4\)\)"
                                        r".*shaped as the state it was given, \(Tensor\(2, 4\), "):
        tg.nn.Recurrent([SwapsState(3, 4)])(tg.randn(5, 2, 3))


# ---------------------------------------------------------------- Tensor habits

@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)])
def test_size_is_numpy_s_count_and_torch_s_shape_when_called(torch, shape):
    x, ref = tg.zeros(shape), torch.zeros(shape)
    assert x.size == ref.numel() and isinstance(x.size, int)
    assert type(pickle.loads(pickle.dumps(x.size))) is int  # sent over MPI as the count
    assert x.size() == tuple(ref.size()) and isinstance(x.size(), tuple)
    for dim in range(-len(shape), len(shape)):
        assert x.size(dim) == ref.size(dim) == x.size(dim=dim)
    for dim in (len(shape), -len(shape) - 1):
        assert _torch_error(lambda: ref.size(dim)) is IndexError
        with pytest.raises(IndexError, match=f"size: dim {dim} is out of range"):
            x.size(dim)
    with pytest.raises(TypeError, match="dim must be an integer"):
        x.size(1.0)


REDUCTIONS = ["sum", "mean", "max", "min", "var", "logsumexp", "argmax", "argmin", "all", "any"]


@pytest.mark.parametrize("name", REDUCTIONS)
def test_keepdim_is_an_alias_of_keepdims_wherever_dim_is(name):
    x = tg.tensor(np.random.default_rng(0).standard_normal((2, 3, 4)))
    x = x > 0 if name in ("all", "any") else x
    for call in (getattr(tg, name), lambda t, **k: getattr(t, name)(**k)):
        kept = call(x, axis=1, keepdims=True)
        assert kept.shape == (2, 1, 4)
        np.testing.assert_array_equal(call(x, dim=1, keepdim=True).numpy(), kept.numpy())
        with pytest.raises(TypeError, match=f"{name}: got both keepdims= and keepdim="):
            call(x, dim=1, keepdims=True, keepdim=True)


def test_every_function_taking_keepdims_takes_keepdim():
    functions = [getattr(tg, n) for n in dir(tg) if callable(getattr(tg, n))] + [
        getattr(tg.Tensor, n) for n in dir(tg.Tensor) if inspect.isfunction(getattr(tg.Tensor, n))]
    takes = [f for f in functions if inspect.isfunction(f)
             and "keepdims" in inspect.signature(inspect.unwrap(f)).parameters]
    assert len(takes) >= 2 * len(REDUCTIONS)
    for f in takes:
        assert f is not inspect.unwrap(f), f"{f.__qualname__} takes keepdims but not keepdim"


@pytest.mark.parametrize("shape, new", [((2, 3, 4), (-1,)), ((2, 3, 4), (6, -1)), ((2, 3, 4), (4, -1, 2)),
                                        ((0, 3), (-1, 3)), ((0, 3), (-1,)), ((1,), ())])
def test_view_is_reshape_with_torch_s_minus_one(torch, shape, new):
    assert tg.Tensor.view is tg.Tensor.reshape
    data = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    expected = torch.from_numpy(data).view(new)
    got = tg.tensor(data).view(new)
    assert got.shape == tuple(expected.shape)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


@pytest.mark.parametrize("shape, new", [((2, 3), (-1, -1)), ((0, 3), (0, -1)), ((2, 3), (4, -1))])
def test_view_refuses_what_torch_refuses(torch, shape, new):
    assert _torch_error(lambda: torch.zeros(*shape).view(*new)) is RuntimeError
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape"):
        tg.zeros(*shape).view(*new)


def test_clone_copies_the_memory_and_keeps_the_graph(device):
    x = tg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    y = x * 1
    copy = y.clone()
    assert copy.requires_grad and copy.shape == y.shape
    with tg.no_grad():
        copy.add_(10.0)  # its own memory: y is untouched
    assert y.tolist() == [1.0, 2.0, 3.0] and copy.tolist() == [11.0, 12.0, 13.0]
    (copy * tg.tensor([1.0, 2.0, 3.0], device=device)).sum().backward()
    assert x.grad.tolist() == [1.0, 2.0, 3.0]
    assert tg.clone is tg.ops.clone and tg.Tensor.clone(y).tolist() == y.tolist()


def test_cat_is_concatenate():
    assert tg.cat is tg.concatenate
    assert tg.cat([tg.ones(1, 2), tg.zeros(1, 2)], dim=0).tolist() == [[1.0, 1.0], [0.0, 0.0]]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "int64", "uint8", "bool"])
def test_from_numpy_shares_memory_and_keeps_the_dtype_as_torch(torch, dtype):
    array = np.arange(6).reshape(2, 3).astype(dtype)
    t, ref = tg.from_numpy(array), torch.from_numpy(array.copy())
    assert t.dtype == array.dtype and str(ref.dtype) == f"torch.{dtype}"
    assert t.device == "cpu" and t.shape == (2, 3) and not t.requires_grad
    array[0, 0] = 1
    assert t.numpy()[0, 0] == 1  # a change to the array shows in the tensor
    t.fill_(0)
    assert not array.any()  # and one to the tensor in the array


def test_from_numpy_errors():
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray, got list"):
        tg.from_numpy([1.0, 2.0])
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray, got float32"):
        tg.from_numpy(np.float32(1.0))
    with pytest.raises(TypeError, match="not numeric"):
        tg.from_numpy(np.array(["a"]))
    with pytest.raises(ValueError, match="non-native byte order"):
        tg.from_numpy(np.zeros(2, dtype=">f4"))


# ---------------------------------------------------------------- Module habits

def _tree(nn):
    """The same small tree of modules in tg.nn or torch.nn."""
    return nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Tanh(), nn.Linear(3, 1)), nn.ReLU())


def test_module_apply_visits_children_before_their_parent_as_torch(torch):
    seen, ref_seen = [], []
    net = _tree(tg.nn)
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    _tree(torch.nn).apply(lambda m: ref_seen.append(type(m).__name__))
    assert seen == ref_seen == ["Linear", "Tanh", "Linear", "Sequential", "ReLU", "Sequential"]


def test_sequential_computes_as_torch_s(torch):
    ref = _tree(torch.nn)
    net = _load_from_torch(_tree(tg.nn), ref)
    x = np.random.default_rng(1).standard_normal((4, 2)).astype(np.float32)
    assert_close(net(tg.tensor(x)).numpy(), ref(torch.from_numpy(x)).detach().numpy(), terms=6)


class _WithBuffers:
    """A module with a persistent float buffer, an int one and a non-persistent one, in tg.nn
    or torch.nn."""

    @staticmethod
    def make(nn, lib):
        class Counted(nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = nn.Linear(2, 2)
                self.register_buffer("running", lib.ones(2))
                self.register_buffer("steps", lib.zeros(1, dtype=lib.int64))
                self.register_buffer("scratch", lib.zeros(3), persistent=False)
                self.inner.register_buffer("mask", lib.ones(2))
        return Counted()


def test_register_buffer_is_state_but_not_a_parameter_as_torch(torch):
    model, ref = _WithBuffers.make(tg.nn, tg), _WithBuffers.make(torch.nn, torch)
    assert list(model.state_dict()) == list(ref.state_dict())
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert [n for n, _ in model.named_buffers()] == [n for n, _ in ref.named_buffers()]
    assert model.running is model._buffers["running"] and not model.running.requires_grad
    model.load_state_dict({**{k: v.numpy() for k, v in model.state_dict().items()},
                           "running": np.array([5.0, 6.0]), "steps": np.array([7])})
    assert model.running.tolist() == [5.0, 6.0] and model.steps.tolist() == [7]
    model.to(dtype="float64")
    assert model.running.dtype == np.float64 and model.inner.mask.dtype == np.float64
    assert model.scratch.dtype == np.float64 and model.steps.dtype == np.int64  # ints stay
    model.running = tg.zeros(2)  # assigning a tensor keeps it a buffer
    assert "running" in model.state_dict() and model.running.tolist() == [0.0, 0.0]


def test_register_buffer_errors():
    model = tg.nn.Linear(2, 2)
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        model.register_buffer("weight", tg.zeros(2))
    with pytest.raises(KeyError, match="without '.'"):
        model.register_buffer("a.b", tg.zeros(2))
    with pytest.raises(TypeError, match="'x' must be a Tensor or None, got list"):
        model.register_buffer("x", [1.0])
    with pytest.raises(TypeError, match="is a Parameter"):
        model.register_buffer("x", tg.nn.Parameter(tg.zeros(2)))
    model.register_buffer("x", tg.zeros(2))
    with pytest.raises(TypeError, match="buffer 'x' can only be set to a Tensor or None"):
        model.x = [1.0]


@pytest.mark.parametrize("name, torch_name, args", [
    ("Tanh", "Tanh", ()), ("ReLU", "ReLU", ()), ("Sigmoid", "Sigmoid", ()),
    ("Softmax", "Softmax", (1,)), ("LogSoftmax", "LogSoftmax", (-1,))])
def test_activation_modules_compute_as_torch_s(torch, name, torch_name, args):
    x = np.random.default_rng(2).standard_normal((3, 5)).astype(np.float64)
    got = getattr(tg.nn, name)(*args)(tg.tensor(x, dtype="float64")).numpy()
    np.testing.assert_allclose(got, getattr(torch.nn, torch_name)(*args)(torch.from_numpy(x)).numpy(),
                               rtol=1e-13, atol=1e-15)


def test_activation_modules_are_their_functions():
    x = tg.randn(3, 4)
    for module, fn in [(tg.nn.Softmax(dim=0), lambda t: F.softmax(t, 0)),
                       (tg.nn.LogSoftmax(dim=1), lambda t: F.log_softmax(t, 1)),
                       (tg.nn.Tanh(), F.tanh), (tg.nn.ReLU(), F.relu), (tg.nn.Sigmoid(), F.sigmoid)]:
        np.testing.assert_array_equal(module(x).numpy(), fn(x).numpy())
    with pytest.raises(TypeError):
        tg.nn.Softmax()  # dim is required: PyTorch's default guesses it


def _losses(torch, reduction, rng):
    """(tg module, torch module, input array, target array) for each loss module."""
    class_weight = rng.uniform(0.5, 2.0, 4)
    logits = rng.standard_normal((6, 4)) * 3
    classes = np.array([0, 3, 1, -100, 2, 3])
    probs = rng.uniform(0, 1, (6, 4))
    # beyond 709 exp() overflows float64: log(1 + exp(-x)) would give inf where torch does not
    big_logits = np.array([[-800.0, 800.0, 0.0, 3.0]] * 6) + rng.standard_normal((6, 4))
    elem_weight, pos_weight = rng.uniform(0.5, 2.0, (6, 1)), rng.uniform(0.5, 3.0, 4)
    return [
        (tg.nn.CrossEntropyLoss(weight=tg.tensor(class_weight, dtype="float64"), ignore_index=-100,
                                reduction=reduction),
         torch.nn.CrossEntropyLoss(weight=torch.from_numpy(class_weight), reduction=reduction),
         logits, classes),
        (tg.nn.CrossEntropyLoss(reduction=reduction), torch.nn.CrossEntropyLoss(reduction=reduction),
         logits, np.abs(classes) % 4),
        (tg.nn.MSELoss(reduction=reduction), torch.nn.MSELoss(reduction=reduction), logits, probs),
        (tg.nn.BCEWithLogitsLoss(reduction=reduction), torch.nn.BCEWithLogitsLoss(reduction=reduction),
         big_logits, probs),
        (tg.nn.BCEWithLogitsLoss(weight=tg.tensor(elem_weight, dtype="float64"), reduction=reduction,
                                 pos_weight=tg.tensor(pos_weight, dtype="float64")),
         torch.nn.BCEWithLogitsLoss(weight=torch.from_numpy(elem_weight), reduction=reduction,
                                    pos_weight=torch.from_numpy(pos_weight)),
         big_logits, probs),
    ]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_modules_compute_and_differentiate_as_torch_s(torch, reduction):
    for module, ref, x, target in _losses(torch, reduction, np.random.default_rng(3)):
        inputs = tg.tensor(x, dtype="float64", requires_grad=True)
        ref_inputs = torch.tensor(x, requires_grad=True)
        got = module(inputs, tg.tensor(target, dtype=target.dtype))
        expected = ref(ref_inputs, torch.from_numpy(target))
        np.testing.assert_allclose(got.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=type(module).__name__)
        upstream = np.random.default_rng(4).standard_normal(got.shape)
        got.backward(tg.tensor(upstream, dtype="float64"))
        expected.backward(torch.from_numpy(upstream))
        np.testing.assert_allclose(inputs.grad.numpy(), ref_inputs.grad.numpy(), rtol=1e-12,
                                   atol=1e-12, err_msg=type(module).__name__)


def test_loss_modules_are_their_functions_and_carry_weights_as_buffers():
    logits, target = tg.randn(5, 3), tg.tensor([0, 2, 1, 1, 0])
    class_weight = tg.tensor([1.0, 2.0, 0.5])
    np.testing.assert_array_equal(
        tg.nn.CrossEntropyLoss(weight=class_weight)(logits, target).numpy(),
        F.cross_entropy(logits, target, weight=class_weight.numpy()[target.numpy()]).numpy())
    probs = tg.rand(5, 3)
    np.testing.assert_array_equal(tg.nn.MSELoss()(logits, probs).numpy(), F.mse_loss(logits, probs).numpy())
    np.testing.assert_array_equal(tg.nn.BCEWithLogitsLoss()(logits, probs).numpy(),
                                  F.binary_cross_entropy_with_logits(logits, probs).numpy())
    assert list(tg.nn.CrossEntropyLoss(weight=class_weight).state_dict()) == ["weight"]
    assert list(tg.nn.BCEWithLogitsLoss(pos_weight=tg.ones(3)).state_dict()) == ["pos_weight"]
    with pytest.raises(ValueError, match="CrossEntropyLoss: 3 class weights for logits of 4 classes"):
        tg.nn.CrossEntropyLoss(weight=class_weight)(tg.randn(5, 4), target)
    with pytest.raises(IndexError, match="target value 7 is out of range for 3 classes"):
        tg.nn.CrossEntropyLoss(weight=class_weight)(logits, tg.tensor([0, 7, 1, 1, 0]))


def test_binary_cross_entropy_with_logits_errors():
    bce = F.binary_cross_entropy_with_logits
    with pytest.raises(ValueError, match=r"target of shape \(3,\) and input of shape \(2,\) differ"):
        bce(tg.zeros(2), tg.zeros(3))
    with pytest.raises(TypeError, match="target must hold floating-point probabilities, got int64"):
        bce(tg.zeros(2), tg.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3,\) does not broadcast"):
        bce(tg.zeros(2, 2), tg.zeros(2, 2), pos_weight=tg.ones(3))
    with pytest.raises(ValueError, match="reduction must be one of"):
        bce(tg.zeros(2), tg.zeros(2), reduction="avg")


# ---------------------------------------------------------------- unbatched sequences

LAYERS = [("RNN", dict(num_layers=2)), ("LSTM", dict(bidirectional=True)), ("GRU", dict(batch_first=True)),
          ("LSTM", dict(proj_size=2, num_layers=2))]


@pytest.mark.parametrize("kind, options", LAYERS, ids=lambda v: v if isinstance(v, str) else
                         ",".join(f"{k}={w}" for k, w in v.items()))
def test_an_unbatched_sequence_runs_as_in_torch(torch, kind, options):
    ref = getattr(torch.nn, kind)(3, 4, **options).double()
    layer = _load_from_torch(getattr(tg.nn, kind)(3, 4, **options).double(), ref)
    x = np.random.default_rng(5).standard_normal((6, 3))
    out, state = layer(tg.tensor(x, dtype="float64"))
    ref_out, ref_state = ref(torch.from_numpy(x))
    np.testing.assert_allclose(out.numpy(), ref_out.detach().numpy(), rtol=1e-12, atol=1e-13)
    parts, ref_parts = (state, ref_state) if kind == "LSTM" else ((state,), (ref_state,))
    for part, ref_part in zip(parts, ref_parts):
        assert part.shape == tuple(ref_part.shape)  # no batch axis
        np.testing.assert_allclose(part.numpy(), ref_part.detach().numpy(), rtol=1e-12, atol=1e-13)
    again, _ = layer(tg.tensor(x, dtype="float64"), state)  # the state goes back in as it came
    ref_again, _ = ref(torch.from_numpy(x), ref_state)
    np.testing.assert_allclose(again.numpy(), ref_again.detach().numpy(), rtol=1e-12, atol=1e-13)


def test_an_unbatched_sequence_through_recurrent_is_a_batch_of_one():
    layer = tg.nn.Recurrent([tg.nn.LSTMCell(3, 4), tg.nn.GRUCell(4, 5)])
    x = tg.randn(6, 3)
    out, state = layer(x)
    batched, batched_state = layer(x.unsqueeze(1))
    np.testing.assert_array_equal(out.numpy(), batched.numpy()[:, 0])
    assert [p.shape for p in state[0]] == [(4,), (4,)] and state[1].shape == (5,)
    np.testing.assert_array_equal(state[1].numpy(), batched_state[1].numpy()[0])
    layer(x, state)


def test_an_unbatched_sequence_refuses_lengths_and_batched_states():
    gru = tg.nn.GRU(3, 4)
    with pytest.raises(ValueError, match="GRU: lengths are for a batch of sequences"):
        gru(tg.randn(5, 3), lengths=[5])
    with pytest.raises(ValueError, match=r"each state tensor has no batch axis \(2-D\), got shape \(1, 1, 4\)"):
        gru(tg.randn(5, 3), tg.zeros(1, 1, 4))
    with pytest.raises(ValueError, match=r"Recurrent: .*no batch axis \(1-D\), got shape \(1, 4\)"):
        tg.nn.Recurrent([tg.nn.GRUCell(3, 4)])(tg.randn(5, 3), [tg.zeros(1, 4)])


# ---------------------------------------------------------------- clip_grad_norm_

def test_nn_utils_clip_grad_norm_has_torch_s_signature_and_return(torch):
    ours = inspect.signature(tg.nn.utils.clip_grad_norm_).parameters
    theirs = inspect.signature(torch.nn.utils.clip_grad_norm_).parameters
    assert list(ours) == list(theirs)
    assert [p.default for p in ours.values()][2:] == [p.default for p in theirs.values()][2:]
    grads = [np.array([3.0, 4.0], dtype=np.float32), np.array([[12.0]], dtype=np.float32)]
    params, ref_params = [], []
    for g in grads:
        p = tg.nn.Parameter(tg.zeros(*g.shape))
        p.grad = tg.tensor(g)
        params.append(p)
        r = torch.zeros(*g.shape, requires_grad=True)
        r.grad = torch.from_numpy(g.copy())
        ref_params.append(r)
    norm = tg.nn.utils.clip_grad_norm_(iter(params), max_norm=6.5)  # a generator, read once
    ref_norm = torch.nn.utils.clip_grad_norm_(ref_params, max_norm=6.5)
    assert isinstance(norm, tg.Tensor) and norm.shape == () and norm.dtype == np.float32
    assert norm.item() == ref_norm.item() == 13.0
    for p, r in zip(params, ref_params):
        assert_close(p.grad.numpy(), r.grad.numpy(), terms=4)
    assert tg.nn.utils.clip_grad_value_ is tg.optim.clip_grad_value_
    with pytest.raises(TypeError, match="clip_grad_norm_: parameters must be a tensor or an iterable"):
        tg.nn.utils.clip_grad_norm_(3, 1.0)
