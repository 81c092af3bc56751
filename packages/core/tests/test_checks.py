"""relnet_core.checks: numbers (numpy scalars too), choices and tensors, errors that name
the argument and the value."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from relnet_core.checks import check_choice, check_float, check_int, check_tensor


@pytest.mark.parametrize("value", [5, np.int64(5), np.int32(5), np.uint8(5)])
def test_check_int_accepts_python_and_numpy_ints(value: object) -> None:
    out = check_int("first_n", value, low=1)
    assert out == 5
    assert type(out) is int


@pytest.mark.parametrize("value", [True, np.bool_(True), 5.0, np.float32(5.0), "5", None, [5]])
def test_check_int_refuses_everything_else(value: object) -> None:
    with pytest.raises(ValueError, match=r"first_n must be an int, got .*"):
        check_int("first_n", value)


def test_check_int_range_names_the_value() -> None:
    with pytest.raises(ValueError, match=r"epochs must be an int >= 1, got 0"):
        check_int("epochs", 0, low=1)
    with pytest.raises(ValueError, match=r"k must be an int in \[1, 3\], got 4"):
        check_int("k", np.int64(4), low=1, high=3)
    with pytest.raises(ValueError, match=r"k must be an int <= 3, got 4"):
        check_int("k", 4, high=3)


@pytest.mark.parametrize("value", [0.7, np.float32(0.7), np.float64(0.7), 1, np.int64(1)])
def test_check_float_accepts_numbers_and_numpy_scalars(value: object) -> None:
    out = check_float("eta", value, low=0.0, high=1.0)
    assert type(out) is float
    assert out == pytest.approx(float(value))  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, np.bool_(False), "0.1", None, torch.tensor(0.1)])
def test_check_float_refuses_non_numbers(value: object) -> None:
    with pytest.raises(ValueError, match=r"score_threshold must be a number, got .*"):
        check_float("score_threshold", value)


def test_check_float_interval_and_nan() -> None:
    with pytest.raises(ValueError, match=r"lr must be a number in \(0.0, inf\), got nan"):
        check_float("lr", math.nan, low=0.0, low_open=True, high_open=True)
    with pytest.raises(ValueError, match=r"lr must be a number in \(0.0, inf\), got inf"):
        check_float("lr", math.inf, low=0.0, low_open=True, high_open=True)
    with pytest.raises(ValueError, match=r"lr must be a number in \(0.0, inf\), got 0.0"):
        check_float("lr", 0, low=0.0, low_open=True, high_open=True)
    with pytest.raises(ValueError, match=r"w must be a number in \[0.0, inf\], got -1.0"):
        check_float("w", -1, low=0.0)
    assert check_float("x", math.inf) == math.inf  # closed default interval
    assert check_float("x", 1.0, high=1.0) == 1.0
    with pytest.raises(ValueError, match=r"x must be a number in \[-inf, 1.0\), got 1.0"):
        check_float("x", 1.0, high=1.0, high_open=True)


def test_check_choice() -> None:
    assert check_choice("method", "linear", ("gaussian", "linear")) == "linear"
    for bad in ("Linear", 1, None):
        with pytest.raises(ValueError, match=r"method must be one of \('gaussian', 'linear'\)"):
            check_choice("method", bad, ("gaussian", "linear"))


def test_check_tensor_type_dtype_shape() -> None:
    t = torch.zeros(3, 4)
    assert check_tensor("boxes", t, shape=(None, 4)) is t
    with pytest.raises(ValueError, match=r"boxes must be a torch.Tensor, got \[1, 2\] \(list\)"):
        check_tensor("boxes", [1, 2])
    with pytest.raises(ValueError, match=r"boxes must be a floating tensor, got dtype torch.int64"):
        check_tensor("boxes", torch.zeros(3, 4, dtype=torch.long))
    assert check_tensor("ids", torch.zeros(3, dtype=torch.long), floating=False).dtype == torch.long
    with pytest.raises(ValueError, match=r"boxes must have shape \[\*, 4\], got \(3, 5\)"):
        check_tensor("boxes", torch.zeros(3, 5), shape=(None, 4))
    with pytest.raises(ValueError, match=r"boxes must have shape \[\*, 4\], got \(4,\)"):
        check_tensor("boxes", torch.zeros(4), shape=(None, 4))


def test_check_tensor_names_the_first_non_finite_element() -> None:
    t = torch.zeros(3, 4)
    t[1, 2], t[2, 0] = math.inf, math.nan
    with pytest.raises(ValueError, match=r"boxes holds NaN or inf, first at index \(1, 2\): inf"):
        check_tensor("boxes", t)
    v = torch.tensor([0.0, 1.0, math.nan])
    with pytest.raises(ValueError, match=r"scores holds NaN or inf, first at index 2: nan"):
        check_tensor("scores", v)
    with pytest.raises(ValueError, match=r"x holds NaN or inf, first at index \(\): nan"):
        check_tensor("x", torch.tensor(math.nan))
    assert check_tensor("scores", v, finite=False) is v


def test_check_tensor_finite_values_whose_sum_overflows() -> None:
    """The one-pass finite-sum shortcut must not refuse large finite values."""
    from relnet_core.checks import check_tensor

    big = torch.full((4,), 3e38)  # float32: the sum overflows to inf
    assert check_tensor("x", big) is big
    big[2] = float("nan")
    with pytest.raises(ValueError, match=r"x holds NaN or inf, first at index 2"):
        check_tensor("x", big)
    halves = torch.tensor([60000.0, 60000.0], dtype=torch.float16)  # summed in float32
    assert check_tensor("x", halves) is halves
