"""Gradient clipping and learning-rate schedules: the norms against NumPy, the schedules against
their closed forms (and torch.optim.lr_scheduler when PyTorch is installed)."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from tinygrad_seq.nn import Parameter
from tinygrad_seq.optim import SGD

from optim_cases import assert_plain, parameter

# ---------------------------------------------------------------- gradient clipping

def with_grads(arrays, dtype=np.float32, device="cpu"):
    params = []
    for a in arrays:
        p = parameter(np.zeros(np.shape(a)), dtype, device)
        p.grad = tg.tensor(a, dtype=dtype, device=device)
        params.append(p)
    return params


grad_lists = st.lists(st.lists(st.floats(-10, 10, width=32), min_size=0, max_size=6),
                      min_size=1, max_size=4)


@given(values=grad_lists, norm_type=st.sampled_from([1.0, 2.0, 3.0, math.inf]))
def test_clip_grad_norm_returns_the_norm_of_all_grads(values, norm_type):
    params = with_grads(values)
    flat = np.concatenate([np.asarray(v, np.float64) for v in values])
    expected = float(np.linalg.norm(flat, norm_type)) if flat.size else 0.0
    big = expected + 1.0
    originals = [p.grad for p in params]
    norm = tg.optim.clip_grad_norm_(params, max_norm=big, norm_type=norm_type)
    assert isinstance(norm, float) and norm == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert all(p.grad is g for p, g in zip(params, originals))  # below max_norm: untouched


@given(values=grad_lists, norm_type=st.sampled_from([1.0, 2.0, math.inf]))
def test_clip_grad_norm_clips_to_max_norm(values, norm_type):
    params = with_grads(values, np.float64)
    flat = np.concatenate([np.asarray(v, np.float64) for v in values])
    total = float(np.linalg.norm(flat, norm_type)) if flat.size else 0.0
    originals = [p.grad.numpy() for p in params]
    max_norm = total / 2
    tg.optim.clip_grad_norm_(params, max_norm=max_norm, norm_type=norm_type)
    clipped = np.concatenate([p.grad.numpy().ravel() for p in params])
    if total > 1e-3:
        assert np.linalg.norm(clipped, norm_type) == pytest.approx(max_norm, rel=1e-5)
        np.testing.assert_allclose(clipped * total, flat * max_norm, rtol=1e-5, atol=1e-12)
    for p, g in zip(params, originals):
        assert p.grad.dtype == np.float64 and p.grad.shape == g.shape


def test_clip_grad_norm_never_writes_into_gradient_arrays(device):
    shared = tg.tensor([3.0, 4.0], device=device)
    params = with_grads([[0.0, 0.0]], device=device)
    params[0].grad = shared
    norm = tg.optim.clip_grad_norm_(params, max_norm=1.0)
    assert norm == 5.0 and shared.tolist() == [3.0, 4.0]
    np.testing.assert_allclose(params[0].grad.numpy(), [0.6, 0.8], rtol=1e-5)
    assert params[0].grad is not shared and params[0].grad.device == shared.device


@pytest.mark.parametrize("magnitude", [1e30, 3e38, 1e-30])
def test_clip_grad_norm_of_huge_and_tiny_float32_grads_is_exact(magnitude):
    params = with_grads([[magnitude, -magnitude], [magnitude, magnitude]])
    exact = float(np.float32(magnitude)) * 2.0  # sqrt(4 m^2), beyond float32 for 3e38
    norm = tg.optim.clip_grad_norm_(params, max_norm=1.0)
    assert math.isfinite(norm) and norm == pytest.approx(exact, rel=1e-12)
    if magnitude > 1:
        clipped = np.concatenate([p.grad.numpy() for p in params])
        assert np.all(np.isfinite(clipped))
        assert np.linalg.norm(clipped.astype(np.float64)) == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_of_large_float32_grads_is_the_float64_norm():
    # several chunks of the float64 dot products, and a ragged last one
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(size) * scale for size, scale in ((150_001, 1e-3), (7, 50.0))]
    params = with_grads(values)
    exact = float(np.linalg.norm(np.concatenate([p.grad.numpy().astype(np.float64).ravel()
                                                 for p in params])))
    assert tg.optim.clip_grad_norm_(params, max_norm=math.inf) == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("bad, expected", [(math.inf, math.inf), (-math.inf, math.inf),
                                           (math.nan, math.nan)])
@pytest.mark.parametrize("norm_type", [2.0, math.inf])
def test_clip_grad_norm_nonfinite_leaves_grads_alone_or_raises(bad, expected, norm_type):
    params = with_grads([[1.0, 2.0], [bad, 0.5]])
    originals = [p.grad for p in params]
    norm = tg.optim.clip_grad_norm_(params, max_norm=1.0, norm_type=norm_type)
    assert (math.isnan(norm) if math.isnan(expected) else norm == expected)
    assert all(p.grad is g for p, g in zip(params, originals))
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm .* is (inf|nan)"):
        tg.optim.clip_grad_norm_(params, max_norm=1.0, norm_type=norm_type,
                                 error_if_nonfinite=True)
    assert all(p.grad is g for p, g in zip(params, originals))


def test_clip_grad_norm_inputs():
    params = with_grads([[3.0, 4.0]])
    assert tg.optim.clip_grad_norm_([Parameter(tg.ones(2))], 1.0) == 0.0  # no grads
    assert tg.optim.clip_grad_norm_(params[0], 10.0) == 5.0  # a single tensor
    with pytest.raises(ValueError, match=r"max_norm must be in \[0, inf\]"):
        tg.optim.clip_grad_norm_(params, -1.0)
    with pytest.raises(ValueError, match="norm_type must be > 0"):
        tg.optim.clip_grad_norm_(params, 1.0, norm_type=0)
    with pytest.raises(TypeError, match="item 1 of parameters is a list"):
        tg.optim.clip_grad_norm_([params[0], [1.0]], 1.0)
    assert params[0].grad.tolist() == [3.0, 4.0]


def test_clip_grad_value(device):
    params = with_grads([[-5.0, 0.5, 2.0], [math.nan, -0.25]], device=device)
    originals = [p.grad for p in params]
    tg.optim.clip_grad_value_(params, 1.0)
    assert params[0].grad.tolist() == [-1.0, 0.5, 1.0]
    assert math.isnan(params[1].grad.tolist()[0]) and params[1].grad.tolist()[1] == -0.25
    assert originals[0].tolist() == [-5.0, 0.5, 2.0] and params[0].grad.dtype == np.float32
    with pytest.raises(ValueError, match="clip_value must be in"):
        tg.optim.clip_grad_value_(params, -1.0)


# ---------------------------------------------------------------- schedules

def closed_form(name, base, epoch):
    if name == "StepLR":
        return base * 0.5 ** (epoch // 3)
    if name == "ExponentialLR":
        return base * 0.9 ** epoch
    return 0.01 + (base - 0.01) * (1 + math.cos(math.pi * epoch / 7)) / 2


SCHEDULES = {"StepLR": dict(step_size=3, gamma=0.5), "ExponentialLR": dict(gamma=0.9),
             "CosineAnnealingLR": dict(T_max=7, eta_min=0.01)}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_follows_its_closed_form_and_drives_the_optimizer(name):
    a, b = parameter([0.0], "float64"), parameter([0.0], "float64")
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.2}], lr=1.0)
    schedule = getattr(tg.optim, name)(opt, **SCHEDULES[name])
    assert schedule.base_lrs == [1.0, 0.2]
    for epoch in range(20):
        expected = [closed_form(name, base, epoch) for base in (1.0, 0.2)]
        assert schedule.get_last_lr() == pytest.approx(expected, rel=1e-12)
        assert [g["lr"] for g in opt.param_groups] == schedule.get_last_lr()
        before = a.item()
        a.grad = tg.ones(1, dtype="float64")
        opt.step()
        assert before - a.item() == pytest.approx(expected[0], rel=1e-9)
        schedule.step()


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_torch(name, torch):
    torch_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    torch_schedule = getattr(torch.optim.lr_scheduler, name)(torch_opt, **SCHEDULES[name])
    opt = SGD([Parameter(tg.zeros(1))], lr=0.3)
    schedule = getattr(tg.optim, name)(opt, **SCHEDULES[name])
    for _ in range(20):
        assert schedule.get_last_lr() == pytest.approx(torch_schedule.get_last_lr(), rel=1e-12)
        torch_opt.step()
        torch_schedule.step()
        schedule.step()


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_state_dict_round_trip(name):
    opt = SGD([Parameter(tg.zeros(1))], lr=0.3)
    schedule = getattr(tg.optim, name)(opt, **SCHEDULES[name])
    for _ in range(5):
        schedule.step()
    saved = schedule.state_dict()
    assert_plain(saved)
    fresh = getattr(tg.optim, name)(SGD([Parameter(tg.zeros(1))], lr=0.3), **SCHEDULES[name])
    fresh.load_state_dict(saved)
    assert fresh.last_epoch == 5 and fresh.get_last_lr() == schedule.get_last_lr()
    schedule.step()
    fresh.step()
    assert fresh.get_last_lr() == schedule.get_last_lr()
    bad = {**saved, "base_lrs": [0.3, 0.1]}
    with pytest.raises(ValueError, match="base_lrs must be a list of 1 lrs"):
        fresh.load_state_dict(bad)
    with pytest.raises(ValueError, match=r"missing \['last_epoch'\]"):
        fresh.load_state_dict({k: v for k, v in saved.items() if k != "last_epoch"})
    assert fresh.last_epoch == 6


@pytest.mark.parametrize("make, error, match", [
    (lambda opt: tg.optim.StepLR(opt, step_size=0), ValueError, "step_size must be at least 1"),
    (lambda opt: tg.optim.StepLR(opt, step_size=2.5), TypeError, "step_size must be an integer"),
    (lambda opt: tg.optim.ExponentialLR(opt, gamma=-0.5), ValueError, "gamma must be in"),
    (lambda opt: tg.optim.CosineAnnealingLR(opt, T_max=0), ValueError, "T_max must be at least 1"),
    (lambda opt: tg.optim.CosineAnnealingLR(opt, T_max=5, eta_min=-1), ValueError, "eta_min"),
    (lambda opt: tg.optim.StepLR("sgd", step_size=2), TypeError, "expected a tg.optim optimizer"),
])
def test_bad_schedule_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make(SGD([Parameter(tg.zeros(1))], lr=0.1))
