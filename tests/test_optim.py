"""Optimizers against the textbook formulas written out in NumPy here (and against torch.optim
when PyTorch is installed), plus state dicts and bad input. Clipping and schedules:
test_clip_and_schedules.py."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from tinygrad_seq import Tensor
from tinygrad_seq.nn import Parameter
from tinygrad_seq.optim import SGD, Adam, AdamW, RMSprop, Adagrad

from optim_cases import assert_plain, parameter

STEPS = 6


# ---------------------------------------------------------------- NumPy references (one parameter)
# Each runs `steps` updates of one parameter array p, where grad_fn(t, p) is the gradient at
# step t; returns p after each step. Defaults are PyTorch's.

def sgd_reference(p, grad_fn, steps, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                  nesterov=False):
    out, velocity = [], None
    for t in range(steps):
        g = grad_fn(t, p) + weight_decay * p
        if momentum:
            velocity = g if velocity is None else momentum * velocity + (1 - dampening) * g
            g = g + momentum * velocity if nesterov else velocity
        p = p - lr * g
        out.append(p)
    return out


def adam_reference(p, grad_fn, steps, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                   amsgrad=False, decoupled=False):
    beta1, beta2 = betas
    m = v = v_max = np.zeros_like(p)
    out = []
    for t in range(1, steps + 1):
        g = grad_fn(t - 1, p)
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = np.maximum(v_max, v)
        m_hat = m / (1 - beta1 ** t)
        v_hat = (v_max if amsgrad else v) / (1 - beta2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


def adamw_reference(p, grad_fn, steps, weight_decay=1e-2, **options):
    return adam_reference(p, grad_fn, steps, weight_decay=weight_decay, decoupled=True, **options)


def rmsprop_reference(p, grad_fn, steps, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                      momentum=0.0, centered=False):
    square_avg = grad_avg = velocity = np.zeros_like(p)
    out = []
    for t in range(steps):
        g = grad_fn(t, p) + weight_decay * p
        square_avg = alpha * square_avg + (1 - alpha) * g * g
        grad_avg = alpha * grad_avg + (1 - alpha) * g
        variance = square_avg - grad_avg ** 2 if centered else square_avg
        denom = np.sqrt(variance) + eps
        if momentum > 0:
            velocity = momentum * velocity + g / denom
            p = p - lr * velocity
        else:
            p = p - lr * g / denom
        out.append(p)
    return out


def adagrad_reference(p, grad_fn, steps, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                      initial_accumulator_value=0.0, eps=1e-10):
    total = np.full_like(p, initial_accumulator_value)
    out = []
    for t in range(1, steps + 1):
        g = grad_fn(t - 1, p) + weight_decay * p
        total = total + g * g
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(total) + eps)
        out.append(p)
    return out


REFERENCES = {SGD: sgd_reference, Adam: adam_reference, AdamW: adamw_reference,
              RMSprop: rmsprop_reference, Adagrad: adagrad_reference}

# Every option of every optimizer, alone and together; the first case of a class is its base.
CASES = [
    (SGD, dict(lr=0.1)),
    (SGD, dict(lr=0.1, momentum=0.9)),
    (SGD, dict(lr=0.1, momentum=0.9, dampening=0.3)),
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (SGD, dict(lr=0.1, weight_decay=0.1)),
    (SGD, dict(lr=0.05, momentum=0.8, weight_decay=0.05, nesterov=True)),
    (Adam, dict(lr=0.1)),
    (Adam, dict(lr=0.1, betas=(0.5, 0.9), eps=1e-2)),
    (Adam, dict(lr=0.1, weight_decay=0.1)),
    (Adam, dict(lr=0.1, amsgrad=True)),
    (Adam, dict(lr=0.1, amsgrad=True, weight_decay=0.05)),
    (AdamW, dict(lr=0.1)),
    (AdamW, dict(lr=0.1, weight_decay=0.3, amsgrad=True)),
    (RMSprop, dict(lr=0.01)),
    (RMSprop, dict(lr=0.01, alpha=0.9, eps=1e-2)),
    (RMSprop, dict(lr=0.01, centered=True)),
    (RMSprop, dict(lr=0.01, momentum=0.9)),
    (RMSprop, dict(lr=0.01, weight_decay=0.1)),
    (RMSprop, dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1)),
    (Adagrad, dict(lr=0.1)),
    (Adagrad, dict(lr=0.1, lr_decay=0.5)),
    (Adagrad, dict(lr=0.1, weight_decay=0.1)),
    (Adagrad, dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-3)),
]
CASE_IDS = [f"{cls.__name__}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for cls, kw in CASES]
SHAPES = [(3,), (2, 3), (4, 1, 2)]


def problem(seed, shapes=((3,), (2, 2)), dtype=np.float64):
    """Initial values and grad_fn(k, t, p) of a noisy quadratic per parameter: the gradient
    depends on p (so state and weight decay matter) and its size shrinks after the first step
    (so amsgrad's maximum matters)."""
    rng = np.random.default_rng(seed)
    initial = [rng.standard_normal(s) for s in shapes]
    curvature = [rng.uniform(0.5, 2.0, s) for s in shapes]
    noise = [[rng.standard_normal(s) * (3.0 if t == 0 else 1.0) for t in range(STEPS)]
             for s in shapes]

    def grad_fn(k, t, p):
        return (curvature[k] * p + noise[k][t]).astype(dtype)

    return [a.astype(dtype) for a in initial], grad_fn


def run_tg(cls, kwargs, initial, grad_fn, steps=STEPS, device="cpu"):
    """p of every parameter after each step: list (steps) of lists (parameters) of arrays."""
    params = [parameter(a, a.dtype, device) for a in initial]
    opt = cls(params, **kwargs)
    trajectory = []
    for t in range(steps):
        for k, p in enumerate(params):
            p.grad = tg.tensor(grad_fn(k, t, p.numpy()), dtype=p.dtype, device=device)
        opt.step()
        trajectory.append([p.numpy() for p in params])
    return trajectory


def run_reference(cls, kwargs, initial, grad_fn, steps=STEPS):
    per_param = [REFERENCES[cls](a, lambda t, p, k=k: grad_fn(k, t, p), steps, **kwargs)
                 for k, a in enumerate(initial)]
    return [list(step) for step in zip(*per_param)]


def assert_trajectories_close(actual, expected, **tolerance):
    for t, (got, want) in enumerate(zip(actual, expected)):
        for k, (a, b) in enumerate(zip(got, want)):
            np.testing.assert_allclose(a, b, **tolerance, err_msg=f"step {t}, parameter {k}")


@pytest.mark.parametrize("cls, kwargs", CASES, ids=CASE_IDS)
@given(seed=st.integers(0, 2 ** 32 - 1), shapes=st.lists(st.sampled_from(SHAPES), min_size=1,
                                                          max_size=3))
def test_matches_numpy_reference(cls, kwargs, seed, shapes):
    initial, grad_fn = problem(seed, shapes)
    assert_trajectories_close(run_tg(cls, kwargs, initial, grad_fn),
                              run_reference(cls, kwargs, initial, grad_fn), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls, kwargs", [c for c in CASES if c[1] != dict(lr=c[1]["lr"])],
                         ids=[i for c, i in zip(CASES, CASE_IDS) if c[1] != dict(lr=c[1]["lr"])])
def test_every_option_changes_the_trajectory(cls, kwargs):
    # otherwise the reference test above would not be testing the option
    initial, grad_fn = problem(0)
    base = run_tg(cls, dict(lr=kwargs["lr"]), initial, grad_fn)
    with_option = run_tg(cls, kwargs, initial, grad_fn)
    assert not np.allclose(base[-1][0], with_option[-1][0], rtol=1e-6, atol=0)


@pytest.mark.parametrize("cls, kwargs", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_torch_optim(cls, kwargs, seed, torch):
    initial, grad_fn = problem(seed, dtype=np.float32)
    params = [torch.tensor(a, requires_grad=True) for a in initial]
    opt = getattr(torch.optim, cls.__name__)(params, **kwargs)
    expected = []
    for t in range(STEPS):
        for k, p in enumerate(params):
            p.grad = torch.from_numpy(grad_fn(k, t, p.detach().numpy()))
        opt.step()
        expected.append([p.detach().numpy().copy() for p in params])
    assert_trajectories_close(run_tg(cls, kwargs, initial, grad_fn), expected, rtol=1e-6,
                              atol=1e-6)


@pytest.mark.parametrize("cls, kwargs", [(SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
                                         (Adam, dict(lr=0.1, amsgrad=True, weight_decay=0.1)),
                                         (RMSprop, dict(lr=0.01, momentum=0.5, centered=True))],
                         ids=["SGD", "Adam", "RMSprop"])
def test_matches_reference_on_device(device, cls, kwargs):
    initial, grad_fn = problem(3)
    assert_trajectories_close(run_tg(cls, kwargs, initial, grad_fn, device=device),
                              run_reference(cls, kwargs, initial, grad_fn), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- stepping

def test_step_updates_the_parameter_arrays_in_place():
    model = tg.nn.Linear(3, 2)
    data = model.weight.data
    before = data.copy()
    opt = SGD(model.parameters(), lr=0.1)
    model(tg.ones(4, 3)).sum().backward()
    opt.step()
    assert model.weight.data is data and not np.array_equal(data, before)


def test_parameters_without_grad_are_skipped():
    a, b = Parameter(tg.ones(2)), Parameter(tg.ones(3))
    opt = Adam([a, b], lr=0.1)
    a.grad = tg.ones(2)
    opt.step()
    assert b.tolist() == [1.0, 1.0, 1.0] and list(opt.state_dict()["state"]) == ["0"]
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_param_groups_and_lr_written_between_steps():
    a, b = parameter([0.0], "float64"), parameter([0.0], "float64")
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad = b.grad = tg.ones(1, dtype="float64")
    opt.step()
    assert (a.item(), b.item()) == (-0.1, -0.5)
    opt.param_groups[0]["lr"] = 2.0  # what a schedule does
    opt.step()
    assert (a.item(), b.item()) == (-2.1, -1.0)
    c = parameter([0.0], "float64")
    opt.add_param_group({"params": c, "lr": 3.0})
    c.grad = tg.ones(1, dtype="float64")
    opt.step()
    assert c.item() == -3.0 and opt.param_groups[2]["momentum"] == 0.0


def test_step_with_closure_returns_its_loss():
    w = Parameter(tg.tensor([1.0]))
    opt = SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with tg.no_grad():  # the closure still records its graph
        loss = opt.step(closure)
    assert loss.item() == 1.0 and w.item() == 0.5


def test_bad_gradient_on_second_parameter_changes_nothing():
    first, second = Parameter(tg.ones(3)), Parameter(tg.ones(2, 2))
    opt = Adam([first, second], lr=0.1)
    first.grad, second.grad = tg.ones(3), tg.ones(4)
    with pytest.raises(ValueError, match=r"Adam.step: parameter 1: the gradient has shape "
                                         r"\(4,\) but the parameter \(2, 2\); nothing was updated"):
        opt.step()
    assert first.tolist() == [1.0, 1.0, 1.0] and opt.state_dict()["state"] == {}
    second.grad = tg.ones(2, 2, dtype="float64")
    with pytest.raises(TypeError, match="parameter 1: the gradient is float64 but the "
                                        "parameter float32"):
        opt.step()
    second.grad = np.ones((2, 2), np.float32)
    with pytest.raises(TypeError, match="parameter 1: .grad is a ndarray, not a Tensor"):
        opt.step()
    second.grad = Tensor._make(np.ones((2, 2), np.float32), "cuda:0", None, 0)  # no GPU needed
    with pytest.raises(RuntimeError, match="parameter 1: the gradient is on 'cuda:0' but the "
                                           "parameter on 'cpu'"):
        opt.step()
    assert first.tolist() == [1.0, 1.0, 1.0] and opt.state_dict()["state"] == {}


def test_state_of_a_parameter_cast_after_stepping_is_an_error():
    model = tg.nn.Linear(2, 1)
    opt = Adam(model.parameters())
    model(tg.ones(1, 2)).sum().backward()
    opt.step()
    model.double()
    before = model.weight.numpy()
    with pytest.raises(RuntimeError, match="parameter 0: state 'exp_avg' is float32.*parameter "
                                           "is float64.*moved or cast"):
        opt.step()
    np.testing.assert_array_equal(model.weight.numpy(), before)


# ---------------------------------------------------------------- construction errors

def _p():
    return Parameter(tg.ones(2))


@pytest.mark.parametrize("make, error, match", [
    (lambda p: SGD([p, p]), ValueError, "SGD: parameter 1 .* listed twice"),
    (lambda p: SGD([{"params": [p]}, {"params": [p]}]), ValueError,
     r"param group 1\): parameter 0 .* listed twice .*param group 0"),
    (lambda p: SGD([tg.ones(2, requires_grad=True)]), TypeError, "Tensor, not a tg.nn.Parameter"),
    (lambda p: SGD([Parameter(tg.tensor([1, 2]), requires_grad=False)]), TypeError,
     "dtype int64; only floating-point"),
    (lambda p: SGD({p}), TypeError, "a set has no stable order"),
    (lambda p: SGD([]), ValueError, "empty parameter list"),
    (lambda p: SGD(p), TypeError, "got a single Parameter"),
    (lambda p: SGD([{"lr": 0.1}]), ValueError, "no 'params' entry"),
    (lambda p: SGD([{"params": [p], "lr": -1.0}]), ValueError,
     r"SGD \(param group 0\): lr must be in \[0, inf\), got -1.0"),
    (lambda p: SGD([{"params": [p], "tag": object()}]), TypeError, "entry 'tag'"),
    (lambda p: SGD([p], lr=-0.1), ValueError, r"SGD: lr must be in \[0, inf\), got -0.1"),
    (lambda p: SGD([p], lr=math.nan), ValueError, "SGD: lr must be in"),
    (lambda p: SGD([p], lr=math.inf), ValueError, "SGD: lr must be in"),
    (lambda p: SGD([p], lr="0.1"), TypeError, "lr must be a real number, got str"),
    (lambda p: SGD([p], momentum=-0.9), ValueError, "momentum must be in"),
    (lambda p: SGD([p], dampening=1.5), ValueError, r"dampening must be in \[0, 1\]"),
    (lambda p: SGD([p], weight_decay=-1), ValueError, "weight_decay must be in"),
    (lambda p: SGD([p], nesterov=True), ValueError, "nesterov momentum needs momentum > 0"),
    (lambda p: SGD([p], momentum=0.9, dampening=0.1, nesterov=True), ValueError, "dampening 0"),
    (lambda p: SGD([p], nesterov=1), TypeError, "nesterov must be True or False"),
    (lambda p: Adam([p], lr=-1e-3), ValueError, "Adam: lr must be in"),
    (lambda p: Adam([p], betas=(1.0, 0.999)), ValueError, r"betas\[0\] must be in \[0, 1\)"),
    (lambda p: Adam([p], betas=(0.9, -0.1)), ValueError, r"betas\[1\] must be in \[0, 1\)"),
    (lambda p: Adam([p], betas=0.9), TypeError, r"betas must be a pair"),
    (lambda p: Adam([p], eps=-1e-8), ValueError, "eps must be in"),
    (lambda p: Adam([p], amsgrad="yes"), TypeError, "amsgrad must be True or False"),
    (lambda p: AdamW([p], weight_decay=-0.01), ValueError, "AdamW: weight_decay must be in"),
    (lambda p: RMSprop([p], alpha=1.5), ValueError, r"alpha must be in \[0, 1\]"),
    (lambda p: RMSprop([p], momentum=-0.5), ValueError, "momentum must be in"),
    (lambda p: RMSprop([p], eps=-1.0), ValueError, "eps must be in"),
    (lambda p: RMSprop([p], centered=None), TypeError, "centered must be True or False"),
    (lambda p: Adagrad([p], lr_decay=-1), ValueError, "lr_decay must be in"),
    (lambda p: Adagrad([p], initial_accumulator_value=-1), ValueError,
     "initial_accumulator_value must be in"),
    (lambda p: Adagrad([p], eps=math.nan), ValueError, "eps must be in"),
])
def test_bad_construction_is_a_clear_error(make, error, match):
    with pytest.raises(error, match=match):
        make(_p())


# ---------------------------------------------------------------- state dicts

STATEFUL = [(SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
            (Adam, dict(lr=0.1, amsgrad=True)),
            (AdamW, dict(lr=0.1, weight_decay=0.1)),
            (RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
            (Adagrad, dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.1))]


def grouped(cls, kwargs, values):
    """An optimizer of two groups (the second at half the lr) over Parameters of ``values``."""
    params = [parameter(v, v.dtype) for v in values]
    groups = [{"params": params[:1]}, {"params": params[1:], "lr": kwargs["lr"] / 2}]
    return params, cls(groups, **kwargs)


def train(params, opt, grad_fn, steps):
    for t in steps:
        for k, p in enumerate(params):
            p.grad = tg.tensor(grad_fn(k, t, p.numpy()), dtype=p.dtype)
        opt.step()


def snapshot(value):
    """A deep copy with Tensors as NumPy arrays, to compare state dicts."""
    if isinstance(value, dict):
        return {k: snapshot(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(snapshot(v) for v in value)
    return value.numpy() if isinstance(value, Tensor) else value


def assert_same(a, b):
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    else:
        assert a == b and type(a) is type(b)


@pytest.mark.parametrize("through_file", [False, True], ids=["in-memory", "tg.save"])
@pytest.mark.parametrize("cls, kwargs", STATEFUL, ids=[c.__name__ for c, _ in STATEFUL])
def test_state_dict_round_trip_resumes_exactly(cls, kwargs, through_file, tmp_path):
    initial, grad_fn = problem(7)
    params, opt = grouped(cls, kwargs, initial)
    train(params, opt, grad_fn, range(3))
    saved = opt.state_dict()
    assert_plain(saved)
    frozen = snapshot(saved)
    if through_file:
        if not hasattr(tg, "save"):
            pytest.skip("tg.save is not there yet")
        tg.save({"optimizer": saved}, tmp_path / "opt.safetensors")
        saved = tg.load(tmp_path / "opt.safetensors")["optimizer"]
    resumed_params, resumed = grouped(cls, {**kwargs, "lr": 123.0}, [p.numpy() for p in params])
    resumed.load_state_dict(saved)
    assert [g["lr"] for g in resumed.param_groups] == [kwargs["lr"], kwargs["lr"] / 2]
    train(params, opt, grad_fn, range(3, 6))
    train(resumed_params, resumed, grad_fn, range(3, 6))
    for p, q in zip(params, resumed_params):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert_same(snapshot(resumed.state_dict()), snapshot(opt.state_dict()))
    assert_same(snapshot(saved), frozen)  # neither training on nor loading wrote into it


def test_state_dict_layout_and_torch_style_int_keys():
    initial, grad_fn = problem(1)
    params, opt = grouped(Adam, dict(lr=0.1), initial)
    train(params, opt, grad_fn, range(2))
    saved = opt.state_dict()
    assert saved["param_groups"] == [
        {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False,
         "params": [0]},
        {"lr": 0.05, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False,
         "params": [1]}]
    assert list(saved["state"]) == ["0", "1"] and saved["state"]["1"]["step"] == 2
    assert saved["state"]["1"]["exp_avg"].shape == params[1].shape
    as_torch = {"state": {int(k): v for k, v in saved["state"].items()},
                "param_groups": saved["param_groups"]}
    params2, opt2 = grouped(Adam, dict(lr=0.1), initial)
    opt2.load_state_dict(as_torch)
    assert_same(snapshot(opt2.state_dict()), snapshot(saved))


def _set(path, value):
    def mutate(sd):
        *head, last = path
        target = sd
        for key in head:
            target = target[key]
        target[last] = value
    return mutate


def _pop(*path):
    def mutate(sd):
        target = sd
        for key in path[:-1]:
            target = target[key]
        target.pop(path[-1])
    return mutate


@pytest.mark.parametrize("mutate, match", [
    (_pop("param_groups", 1), "the state dict has 1 param groups, the optimizer 2"),
    (lambda sd: sd["param_groups"][1]["params"].append(9),
     "param group 1 has 2 parameters in the state dict, 1 in the optimizer"),
    (_set(("param_groups", 1, "params"), [0]), "parameter index 0 appears twice"),
    (_set(("param_groups", 0, "lr"), -1.0), r"param group 0: lr must be in \[0, inf\)"),
    (_set(("param_groups", 1, "betas"), (0.9, 1.0)), r"param group 1: betas\[1\] must be in"),
    (_pop("param_groups", 0, "eps"), r"param group 0: missing hyperparameters \['eps'\]"),
    (_set(("state", "0", "exp_avg"), tg.zeros(7, dtype="float64")),
     r"state of parameter 0: 'exp_avg' has shape \(7,\), the parameter \(3,\)"),
    (_pop("state", "1", "exp_avg_sq"), r"state of parameter 1: missing \['exp_avg_sq'\]"),
    (_set(("state", "1", "velocity"), tg.zeros(2, 2)), r"state of parameter 1: unknown "
                                                       r"\['velocity'\]"),
    (_set(("state", "1", "step"), -1), "step must be a non-negative integer"),
    (_set(("state", "1", "step"), 1.5), "step must be a non-negative integer"),
    (_set(("state", "0", "exp_avg"), "zeros"), "'exp_avg' must be a tensor or an array, got str"),
    (_set(("state", "9"), {}), r"state key '9' is not the index of a parameter \(0 to 1\)"),
    (_set(("state", "x"), {}), "state key 'x'"),
    (_set(("state", "0"), [1, 2]), "state of parameter 0 is a list, not a dict"),
    (_pop("state"), r"expected the keys 'state' and 'param_groups'"),
])
def test_bad_state_dict_is_refused_and_changes_nothing(mutate, match):
    initial, grad_fn = problem(2)
    params, opt = grouped(Adam, dict(lr=0.1), initial)
    train(params, opt, grad_fn, range(2))
    target_params, target = grouped(Adam, dict(lr=0.3), initial)
    train(target_params, target, grad_fn, range(1))
    before = snapshot(target.state_dict())
    bad = opt.state_dict()
    bad["param_groups"][0]["lr"] = 0.777  # a good change that must not be applied either
    mutate(bad)
    with pytest.raises(ValueError, match=match) as info:
        target.load_state_dict(bad)
    assert "nothing was loaded" in str(info.value)
    assert_same(snapshot(target.state_dict()), before)


def test_loaded_state_is_cast_to_the_parameters_dtype():
    initial, grad_fn = problem(4, dtype=np.float32)
    params, opt = grouped(RMSprop, dict(lr=0.01, centered=True), initial)
    train(params, opt, grad_fn, range(2))
    params64, opt64 = grouped(RMSprop, dict(lr=0.01, centered=True),
                              [a.astype(np.float64) for a in initial])
    opt64.load_state_dict(opt.state_dict())
    assert opt64.state_dict()["state"]["0"]["square_avg"].dtype == np.float64


def _torch_adam_after(torch, steps, initial, grad_fn, **kwargs):
    params = [torch.tensor(a, requires_grad=True) for a in initial]
    opt = torch.optim.Adam(params, **kwargs)
    for t in steps:
        for k, p in enumerate(params):
            p.grad = torch.from_numpy(grad_fn(k, t, p.detach().numpy()))
        opt.step()
    return params, opt


# PyTorch's Adam keeps `step` as a 0-d float tensor; its state dict, as it is or converted
_CONVERSIONS = {"torch": lambda v: v, "numpy": lambda v: v.numpy(),
                "tg": lambda v: tg.tensor(v.numpy(), dtype=v.numpy().dtype),
                "tg.save": lambda v: v.numpy()}


@pytest.mark.parametrize("conversion", list(_CONVERSIONS))
def test_a_torch_adam_state_dict_loads_and_the_next_step_matches_torch(conversion, tmp_path,
                                                                        torch):
    initial, grad_fn = problem(5, dtype=np.float32)
    torch_params, torch_opt = _torch_adam_after(torch, range(3), initial, grad_fn, lr=0.05,
                                                weight_decay=0.01)
    saved = torch_opt.state_dict()
    converted = {"state": {str(k) if conversion == "tg.save" else k:
                           {name: _CONVERSIONS[conversion](v) for name, v in entry.items()}
                           for k, entry in saved["state"].items()},
                 "param_groups": saved["param_groups"]}
    if conversion == "tg.save":  # (checkpoint dict keys are strings)
        tg.save(converted, tmp_path / "adam.safetensors")
        converted = tg.load(tmp_path / "adam.safetensors")
    params = [parameter(p.detach().numpy(), np.float32) for p in torch_params]
    opt = Adam(params, lr=123.0)
    opt.load_state_dict(converted)
    assert opt.param_groups[0]["lr"] == 0.05 and opt.state_dict()["state"]["1"]["step"] == 3
    train(params, opt, grad_fn, [3])
    for k, p in enumerate(torch_params):
        p.grad = torch.from_numpy(grad_fn(k, 3, p.detach().numpy()))
    torch_opt.step()
    for ours, theirs in zip(params, torch_params):
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-6, atol=1e-6)


def test_a_torch_state_dict_that_maximizes_is_refused(torch):
    initial, grad_fn = problem(5, dtype=np.float32)
    _, torch_opt = _torch_adam_after(torch, range(1), initial, grad_fn, maximize=True)
    opt = Adam([parameter(a, np.float32) for a in initial])
    with pytest.raises(ValueError, match="param group 0: maximize=True .* not implemented"):
        opt.load_state_dict(torch_opt.state_dict())
    assert opt.state == {}


# ---------------------------------------------------------------- end to end (smoke)

@pytest.mark.parametrize("cls, kwargs", [(SGD, dict(lr=0.1, momentum=0.9)), (Adam, dict(lr=0.05)),
                                         (AdamW, dict(lr=0.05)), (RMSprop, dict(lr=0.01)),
                                         (Adagrad, dict(lr=0.3))],
                         ids=["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_linear_model_fit_lowers_the_loss(cls, kwargs):
    tg.manual_seed(0)
    model = tg.nn.Linear(3, 1)
    x = tg.randn(32, 3)
    y = x @ tg.tensor([[2.0], [-1.0], [0.5]]) + 0.3
    opt = cls(model.parameters(), **kwargs)
    losses = []
    for _ in range(60):
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
