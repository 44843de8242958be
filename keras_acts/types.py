"""Type aliases for the arguments that Keras resolves by name or by object."""

from __future__ import annotations

from typing import Any

import keras

Initializer = str | float | dict[str, Any] | keras.initializers.Initializer
Regularizer = str | dict[str, Any] | keras.regularizers.Regularizer | None
Constraint = str | dict[str, Any] | keras.constraints.Constraint | None
