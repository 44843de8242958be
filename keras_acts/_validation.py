"""Argument checks shared by every public object.

Each returns the value in its plain Python type (a NumPy integer becomes an
`int`, a NumPy float a `float`) or raises a ValueError in Keras's style,
naming the argument, what was expected and the value received.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np


def _refuse(name: str, expected: str, value: Any) -> ValueError:
    return ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")


def integer(name: str, value: Any, minimum: int | None = None) -> int:
    """An integer (Python or NumPy, never a bool) of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        expected = "an integer"
        if minimum == 1:
            expected = "a positive integer"
        elif minimum is not None:
            expected = f"an integer of at least {minimum}"
        raise _refuse(name, expected, value)
    value = int(value)
    if minimum is not None and value < minimum:
        expected = (
            "a positive integer"
            if minimum == 1
            else f"an integer of at least {minimum}"
        )
        raise _refuse(name, expected, value)
    return value


def positive_integer(name: str, value: Any) -> int:
    return integer(name, value, minimum=1)


def boolean(name: str, value: Any) -> bool:
    """`True` or `False` (a NumPy bool too), not a truthy string or number."""
    # np.bool_ is not a subclass of bool (and its class name is "bool" in
    # NumPy 2); integers, 0 and 1 included, are refused.
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise _refuse(name, "True or False", value)


def is_real(value: Any) -> bool:
    """Whether `value` is a real number: Python's, NumPy's, or a 0-d NumPy
    array of one (`np.array(0.3)`, what NumPy reductions and indexing of
    arrays often give); never a bool."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def real(
    name: str,
    value: Any,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
) -> float:
    """A finite real number (as `is_real` takes them), optionally
    strictly positive, or within `[minimum, maximum]`."""
    expected = "a finite number"
    if positive:
        expected = "a finite positive number"
    if minimum is not None and maximum is not None:
        expected = f"a number between {minimum:g} and {maximum:g}"
    elif minimum is not None:
        expected = f"a finite number of at least {minimum:g}"
    if not is_real(value):
        raise _refuse(name, expected, value)
    number = float(value)
    if (
        not math.isfinite(number)
        or (positive and number <= 0)
        or (minimum is not None and number < minimum)
        or (maximum is not None and number > maximum)
    ):
        raise _refuse(name, expected, value)
    return number


def one_of(name: str, value: Any, choices: Iterable[Any]) -> Any:
    choices = tuple(choices)
    if isinstance(value, str) and value in choices:
        return value
    if not isinstance(value, str) and any(
        value is choice or (type(value) is type(choice) and value == choice)
        for choice in choices
    ):
        return value
    raise _refuse(name, f"one of {choices}", value)


def keras_object(name: str, value: Any, getter: Callable[[Any], Any]) -> Any:
    """`getter(value)` (`keras.initializers.get` and the like), with an error
    that names the argument when it cannot resolve the value."""
    try:
        return getter(value)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"`{name}` must be an object or name that {getter.__module__}."
            f"{getter.__name__} resolves ({error}). Received: {name}={value!r}"
        ) from None
