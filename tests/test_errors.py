"""Bad input raises an error whose message names what was wrong."""
import importlib.util
import re

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import Tensor


def shape_pattern(shape):
    """A regex for a shape as Python ('(2, 3)', '(4,)') or NumPy ('(2,3)') writes it."""
    shape = tuple(shape)
    inner = r",\s?".join(str(n) for n in shape)
    return r"\(" + inner + ("," if len(shape) == 1 else "") + r"\)"


def shapes_pattern(*shapes):
    """A regex that matches a message naming every shape in order, e.g. '(2, 3)' then '(4,)'."""
    return ".*".join(shape_pattern(s) for s in shapes)


def fake_cuda(values):
    """A tensor that claims to live on 'cuda:0' while holding a NumPy array: the device check of
    Function.apply compares device strings before touching any data, so no GPU is needed."""
    return Tensor._make(np.asarray(values, dtype=np.float32), "cuda:0", None, 0)


# ---------------------------------------------------------------- shapes

@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum"])
def test_elementwise_shape_mismatch_names_op_and_both_shapes(device, op):
    a, b = tg.zeros(2, 3, device=device), tg.ones(4, device=device)
    with pytest.raises(ValueError, match=shapes_pattern((2, 3), (4,))) as info:
        getattr(tg, op)(a, b)
    assert op in str(info.value)


def test_comparison_shape_mismatch(device):
    with pytest.raises(ValueError, match="less.*" + shapes_pattern((2, 3), (4,))):
        tg.zeros(2, 3, device=device) < tg.zeros(4, device=device)


@pytest.mark.parametrize("shape_a, shape_b", [
    ((2, 3), (4, 5)),
    ((3,), (4,)),
    ((2, 5, 3), (2, 2, 5)),
    ((2, 3), (2,)),
])
def test_matmul_mismatch_names_both_shapes(device, shape_a, shape_b):
    a, b = tg.zeros(*shape_a, device=device), tg.zeros(*shape_b, device=device)
    with pytest.raises(ValueError, match="matmul.*" + shapes_pattern(shape_a, shape_b)):
        a @ b


def test_matmul_of_a_scalar(device):
    with pytest.raises(ValueError, match=r"matmul.*at least one dimension.*\(\)"):
        tg.matmul(tg.tensor(2.0, device=device), tg.zeros(2, device=device))


def test_reshape_to_incompatible_shape(device):
    a = tg.zeros(2, 3, device=device)
    with pytest.raises(ValueError, match=r"reshape.*" + shapes_pattern((2, 3), (4, 2))):
        a.reshape(4, 2)
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\)"):
        a.reshape(-1, -1)
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\)"):
        a.reshape(4, -1)


@pytest.mark.parametrize("axis", [2, -3, (0, 5)])
def test_sum_bad_axis(device, axis):
    bad = axis if isinstance(axis, int) else 5
    with pytest.raises(ValueError, match=f"sum: axis {bad} is out of range.*2 dimensions"):
        tg.zeros(2, 3, device=device).sum(axis)


def test_sum_repeated_axis(device):
    with pytest.raises(ValueError, match="repeated axis"):
        tg.zeros(2, 3, device=device).sum((1, -1))


def test_other_shape_errors_name_the_shapes(device):
    with pytest.raises(ValueError, match=r"concatenate.*\(2, 3\).*\(3, 2\)"):
        tg.concatenate([tg.zeros(2, 3, device=device), tg.zeros(3, 2, device=device)])
    with pytest.raises(ValueError, match=r"stack.*\(2,\).*\(3,\)"):
        tg.stack([tg.zeros(2, device=device), tg.zeros(3, device=device)])
    with pytest.raises(ValueError, match=r"broadcast_to.*\(2,\).*\(3,\)"):
        tg.zeros(2, device=device).broadcast_to(3)
    with pytest.raises(ValueError, match=r"permute.*\(0, 0\).*\(2, 3\)"):
        tg.zeros(2, 3, device=device).permute(0, 0)
    with pytest.raises(ValueError, match=r"split.*\[1, 1\].*3"):
        tg.zeros(3, device=device).split([1, 1])


# ---------------------------------------------------------------- backward

def test_backward_on_non_scalar_without_gradient(device):
    y = tg.ones(3, device=device, requires_grad=True) * 2.0
    with pytest.raises(RuntimeError, match=r"single-element.*shape \(3,\)"):
        y.backward()


def test_backward_twice_through_freed_graph(device):
    x = tg.ones(3, device=device, requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="already freed.*retain_graph"):
        loss.backward()


def test_backward_on_tensor_without_graph(device):
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.ones(3, device=device).sum().backward()


@pytest.mark.parametrize("bad_shape", [(4,), (3, 1), ()])
def test_backward_with_wrongly_shaped_gradient(device, bad_shape):
    y = tg.ones(3, device=device, requires_grad=True) * 2.0
    gradient = tg.ones(*bad_shape, device=device)
    with pytest.raises(ValueError, match=shapes_pattern(bad_shape, (3,))):
        y.backward(gradient)


def test_tg_grad_errors(device):
    x = tg.ones(3, device=device, requires_grad=True)
    y = x * 2.0
    with pytest.raises(ValueError, match="2 outputs but 1 grad_outputs"):
        tg.grad([y, y], [x], grad_outputs=[tg.ones(3, device=device)])
    with pytest.raises(ValueError, match=r"inputs\[0\] does not require grad"):
        tg.grad(y.sum(), [tg.ones(3, device=device)])
    with pytest.raises(ValueError, match=shapes_pattern((2,), (3,))):
        tg.grad(y, [x], grad_outputs=[tg.ones(2, device=device)])


# ---------------------------------------------------------------- devices

def test_mixing_devices_names_both():
    cpu = tg.zeros(3)
    gpu = fake_cuda([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match=r"add.*different devices.*'cpu'.*'cuda:0'"):
        cpu + gpu
    with pytest.raises(RuntimeError, match=r"mul.*different devices.*'cuda:0'.*'cpu'"):
        gpu * cpu
    with pytest.raises(RuntimeError, match=r"matmul.*different devices.*'cpu'.*'cuda:0'"):
        cpu @ gpu
    with pytest.raises(RuntimeError, match=r"less.*different devices.*'cpu'.*'cuda:0'"):
        cpu < gpu


def test_gradient_on_another_device():
    y = tg.ones(3, requires_grad=True) * 2.0
    with pytest.raises(RuntimeError, match=r"gradient is on 'cuda:0'.*'cpu'"):
        y.backward(fake_cuda([1.0, 1.0, 1.0]))


@pytest.mark.parametrize("bad", ["tpu", "cuda:x", "gpu", "cuda:", "cuda:-1", "CPU"])
def test_unknown_device_string(bad):
    with pytest.raises(ValueError, match=f"unknown device {re.escape(repr(bad))}"):
        tg.zeros(2, device=bad)
    with pytest.raises(ValueError, match="unknown device"):
        tg.tensor([1.0], device=bad)
    with pytest.raises(ValueError, match="unknown device"):
        tg.zeros(2).to(bad)


def test_device_that_is_not_a_string():
    with pytest.raises(TypeError, match="device must be a string"):
        tg.zeros(2, device=0)


@pytest.mark.skipif(tg.cuda_available() or importlib.util.find_spec("cupy") is not None,
                    reason="CuPy is installed: the install hint is only for a missing CuPy")
def test_cuda_without_cupy_says_how_to_install():
    with pytest.raises(RuntimeError, match=re.escape('pip install "tinygrad_seq[cuda12]"')):
        tg.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match=re.escape('pip install "tinygrad_seq[cuda12]"')):
        tg.tensor([1.0]).to("cuda")


@pytest.mark.skipif(tg.cuda_available(), reason="a GPU is available")
def test_cuda_unavailable_is_a_clear_runtime_error():
    with pytest.raises(RuntimeError, match="device 'cuda'"):
        tg.randn(2, device="cuda:0")


# ---------------------------------------------------------------- dtypes and data

def test_integer_tensor_cannot_require_grad(device):
    with pytest.raises(TypeError, match="floating-point.*int64"):
        tg.tensor([1, 2], device=device, requires_grad=True)
    with pytest.raises(TypeError, match="floating-point.*int64"):
        tg.zeros(2, dtype="int64", device=device, requires_grad=True)
    with pytest.raises(TypeError, match="floating-point.*bool"):
        tg.tensor([True], device=device).requires_grad_()


@pytest.mark.parametrize("dtype", ["str", object, "U3", "S2", "datetime64[s]", "complex64"])
def test_dtype_that_is_not_a_number(device, dtype):
    with pytest.raises(TypeError, match="not a numeric dtype"):
        tg.zeros(2, dtype=dtype, device=device)
    with pytest.raises(TypeError, match="not a numeric dtype"):
        tg.tensor([1.0], dtype=dtype, device=device)
    with pytest.raises(TypeError, match="not a numeric dtype"):
        tg.ones(2, device=device).astype(dtype)


def test_dtype_that_is_not_a_dtype():
    with pytest.raises(TypeError, match="not a numeric dtype"):
        tg.zeros(2, dtype="float99")


@pytest.mark.parametrize("data", [["a", "b"], [1, "a"], None, [{"x": 1}], "12"])
def test_non_numeric_data(device, data):
    with pytest.raises(TypeError, match="not numeric"):
        tg.tensor(data, device=device)


def test_ragged_data(device):
    with pytest.raises(TypeError, match="cannot make a tensor from list"):
        tg.tensor([[1.0, 2.0], [3.0]], device=device)


def test_random_factories_need_float_dtypes(device):
    with pytest.raises(TypeError, match="rand: dtype must be float32 or float64"):
        tg.rand(2, dtype="int64", device=device)
    with pytest.raises(TypeError, match="randn: dtype must be float32 or float64"):
        tg.randn(2, dtype="bool", device=device)


def test_negative_shape(device):
    with pytest.raises(ValueError, match=r"\(2, -1\).*negative"):
        tg.zeros(2, -1, device=device)


# ---------------------------------------------------------------- indexing

@pytest.mark.parametrize("index, bad", [(5, 5), (-4, -4), ([0, 7], 7), ((0, 3), 3)])
def test_getitem_out_of_range(device, index, bad):
    a = tg.zeros(3, 3, device=device)
    if isinstance(index, list):
        index = tg.tensor(index, device=device)
    with pytest.raises(IndexError, match=f"getitem.*index {bad}.*size 3"):
        a[index]


def test_getitem_with_a_float_index(device):
    with pytest.raises(IndexError, match="getitem"):
        tg.zeros(3, device=device)[1.5]


@pytest.mark.parametrize("bad", [3, -4, 100])
def test_take_out_of_range(device, bad):
    a = tg.zeros(3, 2, device=device)
    with pytest.raises(IndexError, match=f"take.*index {bad}.*size 3"):
        a.take(tg.tensor([0, bad], device=device), axis=0)
    with pytest.raises(IndexError, match=f"take.*index {bad}.*size 3"):
        tg.zeros(3, device=device).take([bad])  # axis=None: the flattened tensor


def test_take_with_float_indices(device):
    with pytest.raises(TypeError, match="take: indices must be integers"):
        tg.zeros(3, device=device).take(tg.tensor([1.0], device=device))


def test_gather_out_of_range(device):
    a = tg.zeros(2, 3, device=device)
    with pytest.raises(IndexError, match="gather.*index 3.*size 3"):
        a.gather(1, tg.tensor([[0, 3], [1, 2]], device=device))
    with pytest.raises(ValueError, match=r"gather.*\(2,\).*\(2, 3\)"):
        a.gather(1, tg.tensor([0, 1], device=device))


@pytest.mark.parametrize("indices", [[0, 3], [-1, 1]])
def test_one_hot_out_of_range(device, indices):
    with pytest.raises(IndexError, match=r"one_hot.*\[0, 3\)"):
        tg.one_hot(tg.tensor(indices, device=device), 3)


def test_index_on_another_device():
    with pytest.raises(RuntimeError, match="take.*'cuda:0'.*'cpu'"):
        tg.zeros(3).take(Tensor._make(np.array([0]), "cuda:0", None, 0))


def test_permute_and_transpose_reject_axes_out_of_range(device):
    x = tg.ones(2, 3, device=device)
    with pytest.raises(ValueError, match="axis 5 is out of range"):
        tg.permute(x, 0, 5)
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        x.transpose(3, 0)
    with pytest.raises(ValueError, match="not a permutation"):
        tg.permute(x, 0, 0)


def test_gather_rejects_indices_that_differ_off_the_axis(device):
    x = tg.ones(3, 4, device=device)
    with pytest.raises(ValueError, match=r"\(1, 2\).*\(3, 4\).*but axis 1"):
        tg.gather(x, 1, tg.tensor([[0, 1]], device=device))


def test_softmax_needs_one_axis(device):
    with pytest.raises(ValueError, match="softmax: needs one axis"):
        tg.softmax(tg.ones(2, 2, device=device), axis=None)


def test_max_over_an_empty_axis(device):
    assert tg.zeros(0, 3, device=device).max(axis=1).shape == (0,)
    with pytest.raises(ValueError, match="max over an empty axis"):
        tg.zeros(0, 3, device=device).max(axis=0)


def test_a_non_numeric_operand_is_named(device):
    with pytest.raises(TypeError, match="cannot use str 'a' as an operand"):
        tg.ones(2, device=device) + "a"


# ---------------------------------------------------------------- recurrent layer constructors

SEQUENCE_LAYERS = {"RNN": tg.nn.RNN, "LSTM": tg.nn.LSTM, "GRU": tg.nn.GRU}


@pytest.mark.parametrize("layer", sorted(SEQUENCE_LAYERS))
@pytest.mark.parametrize("argument, value, error, expected", [
    ("bidirectional", "no", TypeError, "True or False, got str 'no'"),
    ("bidirectional", 1, TypeError, "True or False, got int 1"),
    ("batch_first", None, TypeError, "True or False, got NoneType None"),
    ("bias", "False", TypeError, "True or False, got str 'False'"),
    ("variational_dropout", 1.0, TypeError, r"True or False, got float 1\.0"),
    ("num_layers", 2.0, TypeError, r"an integer, got float 2\.0"),
    ("num_layers", True, TypeError, "an integer, got bool True"),
    ("num_layers", -1, ValueError, "at least 1, got -1"),
    ("dropout", "a", TypeError, "a real number, got str 'a'"),
    ("dropout", True, TypeError, "a real number, got bool True"),
    ("dropout", float("nan"), ValueError, r"in \[0, 1\], got nan"),
    ("dropout", -0.1, ValueError, r"in \[0, 1\], got -0\.1"),
    ("input_size", 3.0, TypeError, r"an integer, got float 3\.0"),
    ("input_size", -3, ValueError, "at least 1, got -3"),
    ("input_size", 0, ValueError, "at least 1, got 0"),
    ("hidden_size", "4", TypeError, "an integer, got str '4'"),
    ("hidden_size", 4.5, TypeError, r"an integer, got float 4\.5"),
    ("hidden_size", -4, ValueError, "at least 1, got -4"),
])
def test_sequence_layer_constructor_names_the_bad_argument(layer, argument, value, error, expected):
    """Each argument of RNN/LSTM/GRU is checked by type (bools only True/False, ints never
    floats or bools) and range, and the error names the layer, the argument, what it expected
    and what it got: LSTM(bidirectional="no") must not build a bidirectional layer."""
    arguments = dict(input_size=3, hidden_size=4, num_layers=2)
    arguments[argument] = value
    with pytest.raises(error, match=rf"^{layer}: {argument} must be {expected}$"):
        SEQUENCE_LAYERS[layer](**arguments)


@pytest.mark.parametrize("make, error, message", [
    (lambda: tg.nn.LSTM(3, 4, proj_size=2.0), TypeError, r"^LSTM: proj_size must be an integer, got float 2\.0$"),
    (lambda: tg.nn.LSTM(3, 4, proj_size=-1), ValueError, r"^LSTM: proj_size must be at least 0, got -1$"),
    (lambda: tg.nn.LSTM(3, 4, proj_size=4), ValueError,
     r"^LSTM: proj_size must be in \[0, hidden_size=4\), got 4$"),
    (lambda: tg.nn.LSTM(3, 4, peephole="no"), TypeError,
     r"^LSTM: peephole must be True or False, got str 'no'$"),
    (lambda: tg.nn.LSTM(3, 4, forget_gate=0), TypeError,
     r"^LSTM: forget_gate must be True or False, got int 0$"),
    (lambda: tg.nn.LSTM(3, 4, forget_bias="1.0"), TypeError,
     r"^LSTM: forget_bias must be a real number, got str '1\.0'$"),
    (lambda: tg.nn.LSTM(3, 4, forget_gate=False, forget_bias=1.0), ValueError,
     r"^LSTM: forget_bias needs the forget gate"),
    (lambda: tg.nn.GRU(3, 4, reset_after="no"), TypeError,
     r"^GRU: reset_after must be True or False, got str 'no'$"),
    (lambda: tg.nn.RNN(3, 4, nonlinearity="sigmoid"), ValueError,
     r"^RNN: nonlinearity must be 'tanh' or 'relu', got 'sigmoid'$"),
    (lambda: tg.nn.Recurrent([tg.nn.GRUCell(3, 4)], batch_first="yes"), TypeError,
     r"^Recurrent: batch_first must be True or False, got str 'yes'$"),
    (lambda: tg.nn.Recurrent([tg.nn.GRUCell(3, 4)], dropout="0.5"), TypeError,
     r"^Recurrent: dropout must be a real number, got str '0\.5'$"),
    (lambda: tg.nn.Recurrent([tg.nn.GRUCell(3, 4)], variational_dropout=1), TypeError,
     r"^Recurrent: variational_dropout must be True or False, got int 1$"),
], ids=["proj_size_float", "proj_size_negative", "proj_size_too_big", "peephole_str",
        "forget_gate_int", "forget_bias_str", "forget_bias_without_gate", "reset_after_str",
        "nonlinearity", "recurrent_batch_first", "recurrent_dropout", "recurrent_variational"])
def test_sequence_layer_variant_arguments_name_the_layer(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_sequence_layers_take_numpy_integers_and_bools_and_store_python_ones():
    lstm = tg.nn.LSTM(np.int64(3), np.int32(4), num_layers=np.int64(2), proj_size=np.int16(2),
                      bidirectional=np.bool_(True), batch_first=np.True_, dropout=np.float32(0.25))
    stored = (lstm.input_size, lstm.hidden_size, lstm.num_layers, lstm.proj_size,
              lstm.bidirectional, lstm.batch_first, lstm.dropout)
    assert [type(v) for v in stored] == [int, int, int, int, bool, bool, float]
    out, (h, c) = lstm(tg.randn(2, 5, 3))
    assert (out.shape, h.shape, c.shape) == ((2, 5, 4), (4, 2, 2), (4, 2, 4))
