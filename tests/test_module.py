"""Module and Parameter: registration, traversal, containers, train/eval, to(), state dicts, repr."""
import re

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import backend
from tinygrad_seq.nn import (Dropout, Embedding, LayerNorm, Linear, Module, ModuleList, Parameter,
                             Sequential, Tanh)
from tinygrad_seq.testing import assert_close


class Holder(Module):
    """A module whose attributes are given as keyword arguments (in that order)."""

    def __init__(self, **attributes):
        super().__init__()
        for name, value in attributes.items():
            setattr(self, name, value)


class Encoder(Module):
    def __init__(self):
        super().__init__()
        self.embed = Embedding(10, 4)
        self.proj = Linear(4, 3)
        self.norm = LayerNorm(3)

    def forward(self, indices):
        return self.norm(self.proj(self.embed(indices)))


class Net(Module):
    def __init__(self):
        super().__init__()
        self.scale = Parameter(tg.ones(3))
        self.encoder = Encoder()
        self.head = Sequential(Linear(3, 5), Tanh(), Dropout(0.5), Linear(5, 2))

    def forward(self, indices):
        return self.head(self.encoder(indices) * self.scale)


NET_NAMES = ["scale", "encoder.embed.weight", "encoder.proj.weight", "encoder.proj.bias",
             "encoder.norm.weight", "encoder.norm.bias", "head.0.weight", "head.0.bias",
             "head.3.weight", "head.3.bias"]
INDICES = [[1, 2, 3], [4, 5, 9]]


def snapshot(model):
    return {name: p.numpy() for name, p in model.named_parameters()}


def assert_unchanged(model, before):
    after = snapshot(model)
    assert list(after) == list(before)
    for name in before:
        assert after[name].dtype == before[name].dtype, name
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)


# ---------------------------------------------------------------- Parameter

def test_parameter_is_a_leaf_that_requires_grad():
    p = Parameter(tg.tensor([[1.0, 2.0]]))
    assert isinstance(p, tg.Tensor)
    assert p.requires_grad and p.is_leaf and p.grad is None
    assert p.tolist() == [[1.0, 2.0]]
    assert not Parameter(tg.zeros(2), requires_grad=False).requires_grad
    assert Parameter(np.zeros((2, 3), dtype=np.float32)).shape == (2, 3)
    assert repr(p).startswith("Parameter containing:\n")


def test_parameter_keeps_the_dtype_of_a_tensor():
    """Wrapping a float64 tensor (a float64 model built by hand) must not downcast it."""
    source = tg.tensor([0.1, 1e-300], dtype="float64")
    p = Parameter(source)
    assert p.dtype == np.float64
    np.testing.assert_array_equal(p.numpy(), source.numpy())


# ---------------------------------------------------------------- registration

def test_assigning_before_super_init_is_a_clear_error():
    class Forgetful(Module):
        def __init__(self):
            self.weight = Parameter(tg.zeros(2))

    with pytest.raises(RuntimeError, match=r"Forgetful.*super\(\)\.__init__\(\)"):
        Forgetful()


def test_named_parameters_order_and_dotted_names():
    net = Net()
    assert [name for name, _ in net.named_parameters()] == NET_NAMES
    assert [id(p) for p in net.parameters()] == [id(p) for _, p in net.named_parameters()]
    assert net.encoder.proj.weight is dict(net.named_parameters())["encoder.proj.weight"]
    prefixed = [name for name, _ in net.encoder.named_parameters(prefix="enc")]
    assert prefixed[:2] == ["enc.embed.weight", "enc.proj.weight"]


def test_parameter_shared_by_two_submodules_is_listed_once_and_gets_both_gradients():
    first, second = Linear(3, 3), Linear(3, 3)
    second.weight = first.weight
    model = Holder(first=first, second=second)
    assert [name for name, _ in model.named_parameters()] == ["first.weight", "first.bias",
                                                             "second.bias"]
    assert len(list(model.parameters())) == 3
    x = tg.randn(2, 3)
    second(first(x)).sum().backward()
    # d/dW of sum(W (W x + b1) + b2), summed over both uses of W
    w, b1, xs = first.weight.numpy(), first.bias.numpy(), x.numpy()
    h = xs @ w.T + b1
    expected = np.ones((2, 3)).T @ h + (np.ones((2, 3)) @ w).T @ xs
    # float32: sums of 3 products forward, 3 back, 2 samples, and the two uses of W
    assert_close(first.weight.grad.numpy(), expected, terms=3 + 3 + 2 + 1)


def test_module_used_twice_is_listed_once():
    shared = Linear(2, 2)
    model = Holder(a=shared, b=Sequential(shared, Tanh()))
    assert [name for name, _ in model.named_modules()] == ["", "a", "b", "b.1"]
    assert [name for name, _ in model.named_parameters()] == ["a.weight", "a.bias"]


def test_reassigning_an_attribute_to_a_non_parameter_unregisters_it():
    layer = Linear(3, 2)
    layer.bias = None
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    layer.weight = tg.zeros(2, 3, requires_grad=True)  # a plain tensor is not a parameter
    assert list(layer.named_parameters()) == []
    layer.weight = Parameter(tg.zeros(2, 3))
    assert [name for name, _ in layer.named_parameters()] == ["weight"]

    model = Holder(inner=Linear(2, 2), other=Linear(2, 1))
    model.inner = "not a module"
    assert [name for name, _ in model.named_children()] == ["other"]
    assert [name for name, _ in model.named_parameters()] == ["other.weight", "other.bias"]
    del model.other
    assert list(model.children()) == [] and list(model.parameters()) == []
    assert not hasattr(model, "other")


def test_a_parameter_replaced_by_a_module_and_back():
    model = Holder(x=Parameter(tg.zeros(1)))
    model.x = Linear(1, 1)
    assert [name for name, _ in model.named_parameters()] == ["x.weight", "x.bias"]
    model.x = Parameter(tg.zeros(4))
    assert [name for name, _ in model.named_parameters()] == ["x"]
    assert list(model.children()) == []


def test_children_are_the_direct_submodules_only():
    net = Net()
    assert list(net.children()) == [net.encoder, net.head]
    assert [name for name, _ in net.named_children()] == ["encoder", "head"]
    assert list(Linear(2, 2).children()) == []


def test_modules_walks_the_tree_depth_first_from_self():
    net = Net()
    names = [name for name, _ in net.named_modules()]
    assert names == ["", "encoder", "encoder.embed", "encoder.proj", "encoder.norm", "head",
                     "head.0", "head.1", "head.2", "head.3"]
    modules = list(net.modules())
    assert modules[0] is net and modules[2] is net.encoder.embed and modules[-1] is net.head[3]
    assert sum(isinstance(m, Dropout) for m in net.modules()) == 1


def test_module_without_forward_says_so():
    with pytest.raises(NotImplementedError, match="Holder"):
        Holder()(tg.zeros(1))


# ---------------------------------------------------------------- containers

def test_sequential_indexing_length_iteration_and_names():
    first, act, last = Linear(4, 3), Tanh(), Linear(3, 2)
    seq = Sequential(first, act, last)
    assert len(seq) == 3
    assert seq[0] is first and seq[1] is act and seq[-1] is last and seq[2] is last
    assert list(seq) == [first, act, last]
    assert [name for name, _ in seq.named_children()] == ["0", "1", "2"]
    assert [name for name, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight",
                                                           "2.bias"]
    x = tg.randn(5, 4)
    np.testing.assert_allclose(seq(x).numpy(), last(act(first(x))).numpy(), rtol=1e-6)
    nested = Sequential(seq, Linear(2, 1))
    assert [name for name, _ in nested.named_parameters()][-3:] == ["0.2.bias", "1.weight",
                                                                    "1.bias"]
    with pytest.raises(IndexError):
        seq[3]


def test_sequential_refuses_a_non_module():
    with pytest.raises(TypeError, match=r"item 1.*function"):
        Sequential(Tanh(), lambda x: x)


def test_module_list_appends_indexes_and_names():
    layers = ModuleList([Linear(2, 2)])
    assert layers.append(Linear(2, 3)) is layers
    assert len(layers) == 2 and layers[1].out_features == 3 and layers[-1] is layers[1]
    assert [m.out_features for m in layers] == [2, 3]
    model = Holder(layers=layers)
    assert [name for name, _ in model.named_parameters()] == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]
    assert [name for name, _ in model.named_modules()] == ["", "layers", "layers.0", "layers.1"]
    with pytest.raises(TypeError, match="ModuleList.*int"):
        layers.append(3)
    assert len(ModuleList()) == 0


# ---------------------------------------------------------------- zero_grad

def test_zero_grad_forgets_every_gradient():
    net = Net()
    net(tg.tensor(INDICES)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    first = net.head[0].weight.grad.numpy()
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.eval()  # no dropout, so the second gradient is comparable to a fresh one
    net(tg.tensor(INDICES)).sum().backward()
    again = net.head[0].weight.grad.numpy()
    net.zero_grad()
    net(tg.tensor(INDICES)).sum().backward()
    np.testing.assert_array_equal(net.head[0].weight.grad.numpy(), again)  # not accumulated
    assert first.shape == again.shape


# ---------------------------------------------------------------- train / eval

def test_eval_and_train_set_the_module_and_its_children_only():
    """Each module has its own flag, as in PyTorch: eval() on one model leaves another (a
    student beside a frozen teacher) in train mode, and a child can be switched alone."""
    model_a = Sequential(Linear(4, 4), Dropout(0.5))
    model_b = Holder(drop=Dropout(0.9), inner=Sequential(Dropout(0.3)))
    x = tg.ones(200, 4)
    assert all(m.training for m in list(model_a.modules()) + list(model_b.modules()))

    assert model_a.eval() is model_a
    assert all(not m.training for m in model_a.modules())
    assert all(m.training for m in model_b.modules())            # the other model is untouched
    np.testing.assert_array_equal(model_a[1](x).numpy(), x.numpy())
    assert (model_b.drop(x).numpy() == 0).any()

    model_b.inner.eval()                                          # a child alone
    assert model_b.training and model_b.drop.training and not model_b.inner[0].training
    np.testing.assert_array_equal(model_b.inner[0](x).numpy(), x.numpy())
    assert (model_b.drop(x).numpy() == 0).any()

    assert model_b.train() is model_b and all(m.training for m in model_b.modules())
    assert not model_a.training
    assert model_a.train(False) is model_a and not model_a[1].training


def test_a_shared_submodule_follows_the_last_call():
    shared = Dropout(0.5)
    first, second = Holder(drop=shared), Holder(drop=shared)
    first.eval()
    assert not second.drop.training
    second.train()
    assert first.drop.training and not first.training


def test_train_mode_must_be_a_bool():
    with pytest.raises(TypeError, match="mode must be True or False, got 'no'"):
        Linear(1, 1).train("no")


# ---------------------------------------------------------------- to()

def test_to_float64_casts_parameters_and_grads_in_place():
    net = Net()
    net(tg.tensor(INDICES)).sum().backward()
    held = list(net.parameters())  # what an optimizer holds
    values = [p.numpy() for p in held]
    grads = [p.grad.numpy() for p in held]
    assert net.to(dtype="float64") is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in held]
    for p, value, grad in zip(held, values, grads):
        assert p.dtype == np.float64 and p.grad.dtype == np.float64 and p.requires_grad
        np.testing.assert_array_equal(p.numpy(), value.astype(np.float64))
        np.testing.assert_array_equal(p.grad.numpy(), grad.astype(np.float64))
    net.eval()
    net.zero_grad()
    out = net(tg.tensor(INDICES))
    assert out.dtype == np.float64
    out.sum().backward()
    # an SGD step through the held objects changes the model
    before = net(tg.tensor(INDICES)).numpy()
    for p in held:
        assert p.grad.dtype == np.float64
        p.data = p.data - 0.1 * p.grad.data
    assert not np.allclose(net(tg.tensor(INDICES)).numpy(), before, rtol=0, atol=1e-6)


def test_double_and_float_shortcuts():
    layer = Linear(3, 2)
    assert layer.double() is layer and layer.weight.dtype == np.float64
    assert layer.float() is layer and layer.weight.dtype == np.float32 == layer.bias.dtype


def test_float64_layer_passes_gradcheck_module():
    from tinygrad_seq.testing import gradcheck_module
    layer = Sequential(Linear(3, 4), Tanh(), Linear(4, 2)).to(dtype=tg.float64)
    assert gradcheck_module(lambda x: layer(x), layer, tg.randn(5, 3, dtype="float64"))


@pytest.mark.parametrize("dtype", ["int64", "bool", "not-a-dtype", object])
def test_to_a_bad_dtype_raises_and_leaves_the_model_unchanged(dtype):
    net = Net()
    net(tg.tensor(INDICES)).sum().backward()
    before = snapshot(net)
    grads = {name: p.grad.numpy() for name, p in net.named_parameters()}
    with pytest.raises(TypeError, match="dtype"):
        net.to(dtype=dtype)
    assert_unchanged(net, before)
    for name, p in net.named_parameters():
        assert p.device == "cpu"
        np.testing.assert_array_equal(p.grad.numpy(), grads[name])


def test_to_a_bad_device_raises_and_leaves_the_model_unchanged():
    net = Net()
    before = snapshot(net)
    with pytest.raises(ValueError, match="tpu"):
        net.to(device="tpu", dtype="float64")
    assert_unchanged(net, before)
    assert all(p.device == "cpu" for p in net.parameters())


@pytest.mark.skipif(backend.cuda_available(), reason="needs a machine without a GPU")
def test_to_cuda_without_a_gpu_raises_and_leaves_the_model_unchanged():
    net = Net()
    before = snapshot(net)
    with pytest.raises(RuntimeError, match="cuda"):
        net.to("cuda")
    assert_unchanged(net, before)


def test_to_device_moves_parameters_and_grads(device):
    net = Net()
    net(tg.tensor(INDICES)).sum().backward()
    held = list(net.parameters())
    values = snapshot(net)
    assert net.to(device) is net
    target = backend.canonical_device(device)
    assert [id(p) for p in net.parameters()] == [id(p) for p in held]
    for name, p in net.named_parameters():
        assert p.device == target and p.grad.device == target, name
        np.testing.assert_array_equal(p.numpy(), values[name])
    net.eval()
    out = net(tg.tensor(INDICES, device=device))
    assert out.device == target
    out.sum().backward()
    net.to("cpu")
    assert all(p.device == "cpu" and p.grad.device == "cpu" for p in net.parameters())


# ---------------------------------------------------------------- Module.device

def test_device_is_the_device_of_the_parameters_and_follows_to(device):
    net = Net()
    assert net.device == "cpu" and net.head.device == "cpu"
    assert net.to(device).device == backend.canonical_device(device)
    assert net.head[0].device == backend.canonical_device(device)  # every submodule moved
    assert net.to("cpu").device == "cpu"


def test_a_module_without_parameters_is_on_the_cpu_and_buffers_count():
    assert Tanh().device == "cpu" and Sequential().device == "cpu" and Dropout(0.5).device == "cpu"
    holder = Holder()
    holder.register_buffer("mask", tg.ones(2))
    holder.mask.device = "cuda:3"  # by hand: where .to() would put it on a machine with 4 GPUs
    assert holder.device == "cuda:3"


def test_tensors_on_two_devices_are_an_error_naming_both():
    net = Net()
    net.head[3].weight.device = "cuda:1"  # by hand: this machine need not have a GPU
    with pytest.raises(RuntimeError, match=r"Net has tensors on two devices: 'scale' on cpu and "
                                           r"'head\.3\.weight' on cuda:1; move the whole module "
                                           r"with \.to\(device\)"):
        net.device
    holder = Holder(weight=Parameter(tg.ones(2)))
    holder.register_buffer("steps", tg.zeros(1))
    holder.steps.device = "cuda:0"
    with pytest.raises(RuntimeError, match="'weight' on cpu and 'steps' on cuda:0"):
        holder.device


def test_device_is_read_only():
    net = Net()
    with pytest.raises(AttributeError, match=r"Net\.device is read-only.*\.to\('cuda'\)"):
        net.device = "cuda"
    assert net.device == "cpu" and "device" not in net.__dict__


# ---------------------------------------------------------------- state dicts

def test_state_dict_names_values_and_detachment():
    net = Net()
    state = net.state_dict()
    assert list(state) == NET_NAMES
    for name, p in net.named_parameters():
        assert not state[name].requires_grad and state[name].is_leaf
        np.testing.assert_array_equal(state[name].numpy(), p.numpy())


def test_state_dict_round_trip_gives_identical_outputs():
    tg.manual_seed(1)
    source = Net()
    tg.manual_seed(2)
    target = Net()
    source.eval(), target.eval()   # each model its own mode: both deterministic
    x = tg.tensor(INDICES)
    assert not np.array_equal(source(x).numpy(), target(x).numpy())
    assert target.load_state_dict(source.state_dict()) == ([], [])
    np.testing.assert_array_equal(target(x).numpy(), source(x).numpy())
    # loaded values are copies: changing the source afterwards leaves the target alone
    expected = target(x).numpy()
    source.head[0].weight.data[...] = 0.0
    np.testing.assert_array_equal(target(x).numpy(), expected)


def test_load_state_dict_of_numpy_arrays_casts_to_the_parameter_dtype():
    source = Net()
    arrays = {name: p.numpy().astype(np.float64) for name, p in source.named_parameters()}
    target = Net()
    target.load_state_dict(arrays)
    for name, p in target.named_parameters():
        assert p.dtype == np.float32, name
        np.testing.assert_array_equal(p.numpy(), arrays[name].astype(np.float32))
    double = Net().double()
    double.load_state_dict({name: p.numpy() for name, p in source.named_parameters()})
    assert all(p.dtype == np.float64 for p in double.parameters())


def _state_with(problem):
    """A state dict of a fresh Net with one problem; returns it and the names it must mention."""
    state = {name: t.numpy() + 1.0 for name, t in Net().state_dict().items()}
    if problem == "missing":
        del state["encoder.proj.bias"]
        return state, ["encoder.proj.bias"]
    if problem == "unexpected":
        state["encoder.extra.weight"] = np.zeros(3, dtype=np.float32)
        return state, ["encoder.extra.weight"]
    if problem == "shape":
        state["head.3.weight"] = np.zeros((5, 2), dtype=np.float32)
        return state, ["head.3.weight", "(5, 2)", "(2, 5)"]
    assert problem == "all"
    del state["scale"], state["head.0.bias"]
    state["stray"] = np.zeros(1, dtype=np.float32)
    state["encoder.embed.weight"] = np.zeros((9, 4), dtype=np.float32)
    return state, ["scale", "head.0.bias", "stray", "encoder.embed.weight", "(9, 4)", "(10, 4)"]


@pytest.mark.parametrize("problem", ["missing", "unexpected", "shape", "all"])
def test_load_state_dict_names_every_problem_and_loads_nothing(problem):
    net = Net()
    before = snapshot(net)
    state, names = _state_with(problem)
    with pytest.raises(ValueError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    for name in names:
        assert name in message, (name, message)
    if problem in ("missing", "all"):
        assert "missing" in message
    if problem in ("unexpected", "all"):
        assert "unexpected" in message
    assert_unchanged(net, before)


def test_load_state_dict_non_strict_loads_the_rest_and_reports():
    net = Net()
    before = snapshot(net)
    state, _ = _state_with("all")
    del state["encoder.embed.weight"]  # wrong shapes are never allowed; drop that one
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert missing == ["scale", "encoder.embed.weight", "head.0.bias"]
    assert unexpected == ["stray"]
    after = snapshot(net)
    for name in NET_NAMES:
        if name in missing:
            np.testing.assert_array_equal(after[name], before[name], err_msg=name)
        else:
            np.testing.assert_array_equal(after[name], state[name], err_msg=name)


def test_load_state_dict_non_strict_still_refuses_wrong_shapes():
    net = Net()
    before = snapshot(net)
    state, names = _state_with("shape")
    del state["scale"]
    with pytest.raises(ValueError, match=re.escape("head.3.weight")):
        net.load_state_dict(state, strict=False)
    assert_unchanged(net, before)


def test_load_state_dict_refuses_unreadable_values_and_loads_nothing():
    net = Net()
    before = snapshot(net)
    state = {name: t.numpy() for name, t in Net().state_dict().items()}
    state["encoder.norm.bias"] = np.array(["a", "b", "c"])
    with pytest.raises(ValueError, match=re.escape("encoder.norm.bias")):
        net.load_state_dict(state)
    assert_unchanged(net, before)


def test_load_state_dict_keeps_parameters_on_their_device(device):
    source = Net()
    target = Net().to(device)
    held = list(target.parameters())
    target.load_state_dict(source.state_dict())
    assert [id(p) for p in target.parameters()] == [id(p) for p in held]
    for (name, p), q in zip(target.named_parameters(), source.parameters()):
        assert p.device == backend.canonical_device(device), name
        np.testing.assert_array_equal(p.numpy(), q.numpy())


# ---------------------------------------------------------------- repr

def test_repr_is_a_readable_tree():
    class Tagger(Module):
        def __init__(self):
            super().__init__()
            self.encoder = Sequential(Embedding(10, 4, padding_idx=0), Linear(4, 3))
            self.norm = LayerNorm(3)
            self.layers = ModuleList([Linear(3, 3, bias=False)])
            self.drop = Dropout(0.25)
            self.act = Tanh()
            self.scale = Parameter(tg.ones(3))  # parameters are not part of the tree

    assert repr(Tagger()) == (
        "Tagger(\n"
        "  (encoder): Sequential(\n"
        "    (0): Embedding(10, 4, padding_idx=0)\n"
        "    (1): Linear(4, 3, bias=True)\n"
        "  )\n"
        "  (norm): LayerNorm((3,), eps=1e-05)\n"
        "  (layers): ModuleList(\n"
        "    (0): Linear(3, 3, bias=False)\n"
        "  )\n"
        "  (drop): Dropout(p=0.25)\n"
        "  (act): Tanh()\n"
        ")")
    assert repr(Linear(2, 5)) == "Linear(2, 5, bias=True)"
    assert repr(Sequential()) == "Sequential()"


def test_tied_weights_appear_under_every_name_in_the_state_dict():
    """As in PyTorch: a language model whose output layer shares the embedding's matrix saves
    and loads both names, so a PyTorch state dict of a tied model loads strictly."""
    class Tied(Module):
        def __init__(self):
            super().__init__()
            self.embed = tg.nn.Embedding(5, 3)
            self.head = tg.nn.Linear(3, 5, bias=False)
            self.head.weight = self.embed.weight

    model = Tied()
    assert [name for name, _ in model.named_parameters()] == ["embed.weight"]
    assert list(model.state_dict()) == ["embed.weight", "head.weight"]
    values = np.arange(15.0).reshape(5, 3)
    fresh = Tied()
    fresh.load_state_dict({"embed.weight": values, "head.weight": values})
    assert fresh.head.weight is fresh.embed.weight
    np.testing.assert_array_equal(fresh.embed.weight.numpy(), values)
    with pytest.raises(ValueError, match="missing: head.weight"):
        Tied().load_state_dict({"embed.weight": values})


def test_to_that_fails_on_a_later_parameter_changes_nothing(monkeypatch):
    """Module.to converts every parameter before it assigns any: a failure on the last one
    (here simulated) leaves the first ones as they were."""
    import tinygrad_seq.nn.module as module_file
    net = tg.nn.Sequential(tg.nn.Linear(2, 3), tg.nn.Linear(3, 1))
    before = [(p.data, p.dtype) for p in net.parameters()]
    real, calls = module_file._converted, []

    def failing_on_the_last(t, device, dtype):
        calls.append(t)
        if len(calls) == len(before):
            raise RuntimeError("simulated failure")
        return real(t, device, dtype)

    monkeypatch.setattr(module_file, "_converted", failing_on_the_last)
    with pytest.raises(RuntimeError, match="simulated"):
        net.to(dtype="float64")
    assert all(p.data is data and p.dtype == dtype
               for p, (data, dtype) in zip(net.parameters(), before))


@pytest.mark.parametrize("state", [None, [("weight", 1)], "weights.safetensors", 3])
def test_load_state_dict_of_a_non_mapping_names_what_it_got(state):
    net = Linear(2, 2)
    before = net.weight.numpy().copy()
    with pytest.raises(TypeError, match=f"state_dict must be a mapping.*got {type(state).__name__}"):
        net.load_state_dict(state)
    np.testing.assert_array_equal(net.weight.numpy(), before)


def test_load_state_dict_with_a_non_string_key_reports_it():
    net = Linear(2, 2)
    state = dict(net.state_dict(), **{"bias": net.bias})
    state[0] = tg.zeros(2)
    with pytest.raises(ValueError, match="unexpected: 0"):
        net.load_state_dict(state)
