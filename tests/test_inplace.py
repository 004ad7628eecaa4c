"""In-place ops and the versions of memory: values, gradients and refusals as in PyTorch, and a
backward that raises, naming the op, when it would read values changed after they were saved."""
import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import versions


def _pair(torch, values, requires_grad=False):
    return (tg.tensor(values, dtype="float64", requires_grad=requires_grad),
            torch.tensor(values, dtype=torch.float64, requires_grad=requires_grad))


# ---------------------------------------------------------------- values and versions

def test_inplace_ops_write_the_values_and_count_versions_as_torch(torch, device):
    x = tg.tensor([1.0, -2.0, 3.0], dtype="float64", device=device)
    ref = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    calls = [("add_", (2.0,), {}), ("add_", (0.5,), {"alpha": 3}), ("add_", ([1.0, 2.0, 3.0],), {"alpha": -0.5}), ("mul_", (3.0,), {}),
             ("mul_", ([2.0, 0.5, -1.0],), {}), ("fill_", (7.0,), {}), ("zero_", (), {}),
             ("copy_", ([4.0, 5.0, 6.0],), {}), ("copy_", ([9.0],), {})]
    for name, args, kwargs in calls:
        ours = [tg.tensor(a, dtype="float64", device=device) if isinstance(a, list) else a for a in args]
        theirs = [torch.tensor(a, dtype=torch.float64) if isinstance(a, list) else a for a in args]
        assert getattr(x, name)(*ours, **kwargs) is x
        getattr(ref, name)(*theirs, **kwargs)
        assert x.tolist() == ref.tolist(), name
        assert x._version == ref._version, name
    assert x.reshape(3, 1)._version == x.detach()._version == x._version  # one memory, one count


def test_a_tensor_sees_in_place_changes_through_every_tensor_sharing_its_memory(device):
    x = tg.zeros(2, 3, device=device)
    view, detached = x[0], x.detach()
    with tg.no_grad():
        view.fill_(1.0)  # torch's habit: emb.weight[pad].fill_(0) inside no_grad
    detached[1].add_(2.0)
    assert x.tolist() == [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]
    assert x._version == 2


def test_dtype_and_broadcast_rules_are_torch_s(torch):
    assert torch.zeros(3).add_(torch.ones(3, dtype=torch.float64)).dtype == torch.float32
    x = tg.zeros(3)
    assert x.add_(tg.ones(3, dtype="float64")).dtype == np.float32 and x.tolist() == [1.0] * 3
    for refused in (lambda t, lib: t.add_(1.5), lambda t, lib: t.mul_(lib.ones(3))):
        assert _raises(lambda: refused(torch.zeros(3, dtype=torch.int64), torch))
        with pytest.raises(RuntimeError, match=r"_: the result is float\d\d, which cannot be written "
                                               r"into a tensor of int64 in place"):
            refused(tg.zeros(3, dtype="int64"), tg)
    assert _raises(lambda: torch.zeros(3).add_(torch.ones(2, 3)))
    with pytest.raises(RuntimeError, match=r"add_: the result has shape \(2, 3\), which does not fit "
                                           r"the tensor of shape \(3,\)"):
        tg.zeros(3).add_(tg.ones(2, 3))
    with pytest.raises(RuntimeError, match=r"copy_: src of shape \(2,\) does not broadcast"):
        tg.zeros(3).copy_(tg.ones(2))
    assert tg.zeros(3, dtype="int64").copy_(tg.tensor([1.7, -2.7, 3.0])).tolist() == \
        torch.zeros(3, dtype=torch.int64).copy_(torch.tensor([1.7, -2.7, 3.0])).tolist()
    with pytest.raises(ValueError, match="copy_: cannot convert nan to int64"):
        tg.zeros(1, dtype="int64").copy_(tg.tensor([float("nan")]))
    with pytest.raises(ValueError, match=r"fill_: value must be a number or a 0-d tensor, got a tensor"):
        tg.zeros(3).fill_(tg.ones(2))
    with pytest.raises(TypeError, match="copy_: src must be a Tensor, got list"):
        tg.zeros(3).copy_([1.0, 2.0, 3.0])


def _raises(call):
    try:
        call()
    except Exception:  # noqa: BLE001 - torch's refusal, whatever its type
        return True
    return False


def test_memory_that_elements_share_is_refused_as_in_torch(torch, device):
    assert _raises(lambda: torch.ones(1).expand(3).add_(1))
    with pytest.raises(RuntimeError, match="add_: the tensor's memory is read-only or several of its "
                                           "elements share one memory location"):
        tg.ones(1, device=device).expand(3).add_(1.0)
    frozen = np.zeros(3)
    frozen.flags.writeable = False
    with pytest.raises(RuntimeError, match="zero_: the tensor's memory is read-only"):
        tg.from_numpy(frozen).zero_()


# ---------------------------------------------------------------- autograd

def test_a_leaf_that_requires_grad_is_refused_outside_no_grad_as_in_torch(torch, device):
    ref = torch.ones(3, requires_grad=True)
    assert _raises(lambda: ref.add_(1))
    w = tg.ones(3, device=device, requires_grad=True)
    for name, args in [("add_", (1.0,)), ("mul_", (2.0,)), ("fill_", (0.0,)), ("zero_", ()),
                       ("copy_", (tg.zeros(3, device=device),))]:
        with pytest.raises(RuntimeError, match=rf"{name}: a leaf tensor that requires grad \(shape "
                                               rf"\(3,\)\) is used in an in-place operation"):
            getattr(w, name)(*args)
    assert w.tolist() == [1.0, 1.0, 1.0] and w._version == 0  # refused before anything changed
    with tg.no_grad():
        w.mul_(3.0)
    assert w.tolist() == [3.0, 3.0, 3.0] and w.is_leaf and w.requires_grad


def test_gradients_through_in_place_ops_are_torch_s(torch):
    values, weights = [0.5, -1.5, 2.0], [3.0, -2.0, 0.25]
    (x, rx), (w, rw) = _pair(torch, values, True), _pair(torch, weights, True)
    s, rs = tg.tensor(1.5, dtype="float64", requires_grad=True), torch.tensor(1.5, dtype=torch.float64,
                                                                                requires_grad=True)
    results = []
    for lib, a, b, c in ((tg, x, w, s), (torch, rx, rw, rs)):
        y = a * 2
        y.mul_(b)
        y.add_(a, alpha=3)
        z = a + 1.0
        z.copy_(c)             # z's old history gets no gradient; c gets the sum
        u = a * 1
        u.fill_(c)             # as copy_ from a 0-d tensor
        v = a * 1
        v.zero_()
        (y * y + z * b + u + v).sum().backward()
        results.append([t.grad.tolist() for t in (a, b, c)])
        assert y.requires_grad and z.requires_grad and u.requires_grad and v.requires_grad
    assert np.allclose(np.concatenate([np.ravel(r) for r in results[0]]),
                       np.concatenate([np.ravel(r) for r in results[1]]), rtol=1e-14, atol=0)


def test_fill_and_copy_send_nothing_to_the_values_they_replace():
    """The op that made the replaced values is not even visited (PyTorch visits it, and raises
    where it saved its output, as tanh does)."""
    a = tg.tensor([0.5, 1.0], requires_grad=True)
    s = tg.tensor(2.0, requires_grad=True)
    for overwrite in (lambda z: z.fill_(s), lambda z: z.copy_(s), lambda z: z.zero_()):
        z = a.tanh()
        overwrite(z)
        assert z.requires_grad
        (z * 3).sum().backward()
    assert a.grad is None and s.grad.item() == 12.0


def test_a_tensor_that_needs_no_grad_joins_the_graph_through_an_in_place_op(torch):
    w, rw = _pair(torch, [1.0, 2.0], True)
    z, rz = tg.zeros(2, dtype="float64"), torch.zeros(2, dtype=torch.float64)
    z.add_(w, alpha=2)
    rz.add_(rw, alpha=2)
    assert z.requires_grad and not z.is_leaf and rz.requires_grad and not rz.is_leaf
    (z * z).sum().backward()
    (rz * rz).sum().backward()
    assert w.grad.tolist() == rw.grad.tolist() == [8.0, 16.0]


@pytest.mark.parametrize("change", ["add_", "mul_", "fill_", "zero_", "copy_", "view", "detach",
                                    "no_grad", "numpy"])
def test_changing_a_saved_tensor_raises_at_backward_naming_the_op_as_torch(torch, change):
    def program(lib, x):
        y = x * 1
        out = y * y            # mul saves y
        if change == "view":
            with lib.no_grad():  # while recording, tg refuses to change a view in place
                y.reshape(3, 1)[0].mul_(2.0) if lib is tg else y.view(3, 1)[0].mul_(2.0)
        elif change == "detach":
            y.detach().add_(1.0)
        elif change == "no_grad":
            with lib.no_grad():
                y.add_(1.0)
        elif change == "numpy":
            if lib is torch:
                y.detach().numpy()[0] = 5.0  # torch shares memory with NumPy but counts nothing
                return out
            return out, y
        else:
            getattr(y, change)(*{"add_": (1.0,), "mul_": (2.0,), "fill_": (0.0,), "zero_": (),
                                 "copy_": (lib.ones(3, dtype=x.dtype),)}[change])
        return out

    x, rx = _pair(torch, [1.0, 2.0, 3.0], True)
    if change == "numpy":
        out, _ = program(tg, x)  # tg.from_numpy shares the other way: no counter to fool
        out.sum().backward()
        return
    with pytest.raises(RuntimeError, match="one of the variables needed for gradient computation"):
        program(torch, rx).sum().backward()
    with pytest.raises(RuntimeError, match=r"backward: one of the arrays that mul saved for its "
                                           r"gradient \(saved array 0, shape \(3,\), float64\) has "
                                           r"been modified by an in-place operation"):
        program(tg, x).sum().backward()


def test_an_op_s_own_output_changed_after_it_saved_it_raises():
    x = tg.tensor([0.5, 1.0], requires_grad=True)
    y = x.tanh()  # tanh's backward reads its output
    y.add_(1.0)
    with pytest.raises(RuntimeError, match=r"tanh saved .*modified by an in-place operation \(add_\).*"
                                           r"version 1"):
        y.sum().backward()


def test_changes_that_no_backward_needs_raise_nothing(torch):
    x, rx = _pair(torch, [1.0, 2.0], True)
    for lib, a in ((tg, x), (torch, rx)):
        y = a * 1
        out = y + 2.0          # add saves nothing
        y.mul_(5.0)
        before = a * 1
        before.add_(1.0)       # changed before any op saved it
        (out + before * before).sum().backward()
    assert x.grad.tolist() == rx.grad.tolist()


def test_a_view_cannot_change_in_place_while_the_graph_is_recorded():
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x * 1
    for view in (y[0], y.reshape(4), y.T, y.unbind(0)[1]):
        with pytest.raises(RuntimeError, match=r"mul_: the tensor \(shape .*\) views the memory of "
                                               r"another tensor"):
            view.mul_(2.0)
    assert y.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    y[0].clone().mul_(2.0)  # a copy can


def test_the_version_table_forgets_memory_that_is_freed():
    before = len(versions._written)
    for _ in range(50):
        tg.zeros(4).add_(1.0)
    assert len(versions._written) == before
