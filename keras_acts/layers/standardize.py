"""Zero-centering and scaling of inputs, with a streaming, exact `adapt`."""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_acts import _validation
from keras_acts.layers import _adapt_data, _moments
from keras_acts.layers._ops import floating


def standard_deviation(variance, epsilon: float):
    """`sqrt(variance)` floored at `epsilon`, as `keras.layers.Normalization`
    floors it (adding epsilon to the variance instead would shrink the outputs
    of data whose standard deviation is near sqrt(epsilon): to 0.3 at 1e-4);
    1 for a constant channel (variance 0), which is then only centered.
    Works on NumPy arrays (the tf.data path) and backend tensors."""
    if isinstance(variance, np.ndarray):
        return np.where(variance > 0, np.maximum(np.sqrt(variance), epsilon), 1.0)
    # A where, not ops.maximum: Keras's maximum computes float64 tensors in
    # float32 on PyTorch.
    root = ops.sqrt(variance)
    floored = ops.where(root < epsilon, ops.full_like(root, epsilon), root)
    return ops.where(variance > 0, floored, ops.ones_like(variance))


@keras.saving.register_keras_serializable(package="keras_acts")
class Standardize(keras.layers.Layer):
    """Zero-centers and scales inputs with statistics learned by `adapt`.

    Computes `(x - mean) / max(sqrt(variance), epsilon)`, with one mean and
    variance per index of `axis` (per channel with the default `axis=-1`), or
    a single pair over everything with `axis=None`. `center=False` skips the
    subtraction and `scale=False` the division; `invert=True` maps
    standardized values back.

    `adapt(data)` computes the statistics in one pass over the data, in
    float64, combining per-batch moments with the parallel formula of Chan et
    al., so its memory does not grow with the data and it stays exact for data
    far from zero (float32 data with mean 1e4 and standard deviation 1e-2 gets
    its variance right; `E[x^2] - E[x]^2` does not).

    The standard deviation is floored at `epsilon`, as
    `keras.layers.Normalization` does, rather than `epsilon` being added to
    the variance: data with a standard deviation of 1e-4 comes out with a
    standard deviation of 1 (`sqrt(variance + 1e-7)` would give 0.3). A
    channel whose variance is 0 (a constant) is centered and not scaled: it
    becomes 0 rather than NaN.

    The statistics are non-trainable weights named `mean` and `variance`,
    saved with the model, in float32 or in the layer's dtype where that is
    wider (float64): never in float16, which would lose small variances to 0
    and large ones to inf. A `dtype="float64"` layer computes in float64
    throughout. Until `adapt` (or `mean` and `variance`) sets them they hold
    NaN, so a layer without statistics raises when called, also after saving
    and loading, instead of passing for an identity.

    Under a `mixed_float16` policy the layer computes in float16, as
    `keras.layers.Normalization` does, and float16 values near 1000 are 0.5
    apart: inputs far from zero lose their small differences before the mean
    is subtracted (data with mean 1000 and standard deviation 0.5 comes out
    as about 7 distinct values). In a mixed-precision model whose inputs are
    far from zero, use `Standardize(dtype="float32")`: it standardizes in
    float32, and the float16 layers after it get values near zero.

    Args:
        axis: The axis or axes that keep one statistic per index, like
            `keras.layers.Normalization`; `None` for one global mean and
            variance. The batch axis cannot be one of them. Defaults to `-1`.
        center: Whether to subtract the mean. Defaults to `True`.
        scale: Whether to divide by the standard deviation. Defaults to `True`.
        mean: The mean, if known: a number or an array broadcastable to the
            statistics' shape. Given with `variance`, it makes `adapt`
            unnecessary. Defaults to `None`.
        variance: The variance, if known, as `mean`. Defaults to `None`.
        epsilon: The smallest standard deviation divided by: a smaller
            non-zero one is raised to it, as in `keras.layers.Normalization`.
            Defaults to `1e-7`.
        invert: Whether to map standardized values back to the data's scale.
            Defaults to `False`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        Any tensor of rank >= 2, `(batch, ...)`, with known sizes on `axis`.
        Integer inputs (images in uint8, say) are cast to the compute dtype.
        TensorFlow tensors in a `tf.data` pipeline are standardized with
        TensorFlow ops on every backend; map the layer after `.batch()`: a
        single example, without its batch axis, raises a ValueError (where
        `keras.layers.Normalization` makes it a batch of one).

    Output shape:
        Same as the input.

    Example:
        ```python
        images = np.random.default_rng(0).uniform(0, 255, size=(100, 8, 8, 3))
        layer = keras_acts.Standardize()          # one mean and variance per channel
        layer.adapt(images)
        print(np.round(keras.ops.convert_to_numpy(layer.mean), 2))
        outputs = keras.ops.convert_to_numpy(layer(images))
        print(np.abs(outputs.mean(axis=(0, 1, 2))).round(6))  # |mean| per channel: 0
        print(outputs.std(axis=(0, 1, 2)).round(3))  # standard deviation: 1
        ```

        ```text
        [129.26 127.91 127.13]
        [0. 0. 0.]
        [1. 1. 1.]
        ```

    References:
        - [Chan, Golub and LeVeque, 1979, Updating Formulae and a Pairwise
          Algorithm for Computing Sample Variances](
          https://doi.org/10.1007/978-3-642-51461-6_3)
    """

    def __init__(
        self,
        axis: int | tuple[int, ...] | list[int] | None = -1,
        center: bool = True,
        scale: bool = True,
        mean: float | np.ndarray | list | None = None,
        variance: float | np.ndarray | list | None = None,
        epsilon: float = 1e-7,
        invert: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if axis is None:
            axes = None
        else:
            many = isinstance(axis, (list, tuple))
            try:
                if many and not axis:
                    raise ValueError
                axes = tuple(
                    _validation.integer("axis", a) for a in (axis if many else [axis])
                )
            except ValueError:
                raise ValueError(
                    "`axis` must be an integer, a non-empty tuple of integers or "
                    f"None. Received: axis={axis!r}"
                ) from None
            axis = axes[0] if not many else list(axes)
        center = _validation.boolean("center", center)
        scale = _validation.boolean("scale", scale)
        invert = _validation.boolean("invert", invert)
        if not center and not scale:
            raise ValueError(
                "Standardize with center=False and scale=False does nothing. "
                "Received: center=False, scale=False"
            )
        if (mean is None) != (variance is None):
            raise ValueError(
                "Pass both `mean` and `variance`, or neither. "
                f"Received: mean={mean!r}, variance={variance!r}"
            )
        for name, value in (("mean", mean), ("variance", variance)):
            if value is not None:
                try:
                    array = np.asarray(value, np.float64)
                except (TypeError, ValueError):
                    array = np.array([np.nan])
                if not np.all(np.isfinite(array)):
                    raise ValueError(
                        f"`{name}` must be finite numbers. Received: {name}={value!r}"
                    )
        if variance is not None and np.any(np.asarray(variance) < 0):
            raise ValueError(
                f"`variance` must be non-negative. Received: variance={variance!r}"
            )
        epsilon = _validation.real("epsilon", epsilon, minimum=0.0)
        self.axis = axis
        self._axes = axes
        self.center = center
        self.scale = scale
        # Keras's Normalization convention: the arguments as `input_mean` and
        # `input_variance`, the weights as `mean` and `variance`.
        self.input_mean = mean
        self.input_variance = variance
        self.epsilon = epsilon
        self.invert = invert
        self.supports_masking = True

    def _kept_axes(self, rank: int) -> tuple[int, ...]:
        if self._axes is None:
            return ()
        kept = []
        for axis in self._axes:
            positive = axis + rank if axis < 0 else axis
            if not 1 <= positive < rank:
                raise ValueError(
                    f"`axis` must name non-batch axes of the input (1 to {rank - 1}, "
                    f"or -1 to {-(rank - 1)}). Received: axis={self.axis} for an "
                    f"input of rank {rank}"
                )
            kept.append(positive)
        return tuple(sorted(set(kept)))

    def build(self, input_shape):
        rank = len(input_shape)
        if rank < 2:
            raise ValueError(
                "Standardize expects inputs of rank >= 2 (batch, ...). "
                f"Received: input_shape={input_shape}"
            )
        kept = self._kept_axes(rank)
        unknown = [a for a in kept if input_shape[a] is None]
        if unknown:
            raise ValueError(
                f"Standardize needs known sizes on axis {self.axis} to keep one "
                f"statistic per index. Received: input_shape={input_shape}"
            )
        self._statistics_shape = tuple(input_shape[a] for a in kept)
        broadcast = [1] * rank
        for a in kept:
            broadcast[a] = input_shape[a]
        self._broadcast_shape = tuple(broadcast)
        self._reduce_axes = tuple(a for a in range(rank) if a not in kept)
        # At least float32 whatever the compute dtype: float16 statistics
        # lose small variances to 0 and large ones to inf; a float64 layer
        # keeps float64 ones, so that it computes in float64 throughout. NaN
        # until adapt (or `mean` and `variance`) sets them, so that a layer
        # without statistics never passes for an identity, also after saving
        # and loading.
        # (Written out: keras.backend.result_type gives float32 for float64
        # and float32 on PyTorch.)
        dtype = "float64" if self.variable_dtype == "float64" else "float32"
        # Given statistics are the weights' initial values, not assigned
        # after: Keras builds a layer first used inside `predict`, `fit` or
        # a tf.data map in a symbolic scope or a trace, which drops an
        # assignment and would leave them NaN.
        given = {}
        if self.input_mean is not None:
            given = self._checked_statistics(
                self.input_mean, self.input_variance, dtype
            )
        for name in ("mean", "variance"):
            value = given.get(name, np.nan)
            weight = self.add_weight(
                name=name,
                shape=self._statistics_shape,
                initializer=lambda shape, dtype=None, value=value: ops.cast(
                    np.broadcast_to(value, shape), dtype
                ),
                trainable=False,
                dtype=dtype,
                autocast=False,
            )
            setattr(self, name, weight)
        self.input_spec = keras.layers.InputSpec(
            ndim=rank, axes={a: input_shape[a] for a in kept}
        )

    def _checked_statistics(self, mean, variance, dtype: str) -> dict[str, np.ndarray]:
        """`mean` and `variance` broadcast to the statistics' shape, as float64
        arrays; ValueError where they do not broadcast, or hold values that
        weights declared `dtype` cannot store."""
        # What such a weight stores: float64 is float32 on JAX without
        # jax_enable_x64 (whose warning the weight gives).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            stored = keras.backend.standardize_dtype(ops.zeros((), dtype).dtype)
        largest = np.finfo(stored).max
        values = {}
        # The variance first: where float64 overflows in adapt, the variance
        # does, and the mean only with it.
        for value, name in ((variance, "variance"), (mean, "mean")):
            try:
                value = np.broadcast_to(
                    np.asarray(value, np.float64), self._statistics_shape
                )
            except ValueError as error:
                raise ValueError(
                    f"`{name}` of shape {np.shape(value)} does not broadcast to the "
                    f"statistics' shape {self._statistics_shape} (from axis="
                    f"{self.axis})."
                ) from error
            outside = ~(np.abs(value) <= largest)
            if outside.any():
                bad = value[outside].flat[0]
                if not np.isfinite(bad):  # adapt's float64 arithmetic overflowed
                    raise ValueError(
                        f"The {name} of the data overflows float64 (adapt() got "
                        f"{name}={bad}): its values are too large. Rescale the data."
                    )
                hint = 'Use Standardize(dtype="float64")'
                if stored != dtype:
                    hint = "Set jax_enable_x64 for float64 weights on JAX"
                raise ValueError(
                    f"Standardize layer {self.name!r} cannot store {name}="
                    f"{bad:.4g}: its statistics are {stored}, at most "
                    f"{largest:.4g} in magnitude. {hint}, or rescale the data."
                )
            values[name] = value
        return values

    def adapt(
        self,
        data: Any,
        batch_size: int | None = None,
        steps: int | None = None,
        *,
        ignore_nonfinite: bool = False,
    ) -> dict[str, np.ndarray]:
        """Computes the mean and variance of `data` in one streaming pass.

        Args:
            data: A NumPy array, a list of rows of numbers (one array, as
                `fit` reads it), an `(x, y)` or `(x, y, sample_weight)` tuple
                (its `x` is used), a `tf.data.Dataset` (of `x`, or of `(x, y)`
                pairs, whose `x` is used), a distributed dataset (from
                `strategy.experimental_distribute_dataset`), or any iterable
                of batches (a list of arrays or tensors is a list of batches).
                Under a `MultiWorkerMirroredStrategy` each worker reads its own
                shard of a distributed dataset and the workers' moments are
                then merged, so every worker must call `adapt` and all get the
                statistics of the whole dataset. A dataset must be batched,
                except one of vectors (as `keras.layers.Normalization.adapt`
                takes them) or, once the layer is built, one of elements with
                one axis less than its inputs: those are batched here. Batch
                any other dataset of single examples (of images, say) before
                an unbuilt layer adapts on it, or each example is taken for a
                batch.
            batch_size: Rows per batch: for an array, the chunk size (by
                default chunks of about 1e6 values); for a dataset, it is
                rebatched to this size (an unbatched one is batched to it, by
                default to 128). Defaults to `None`.
            steps: Read at most this many batches. Defaults to `None` (all).
            ignore_nonfinite: Leave NaN and Inf out of the statistics instead
                of raising. Defaults to `False`.

        Returns:
            The statistics in float64, before they are stored in the float32
            weights: `{"mean": ..., "variance": ..., "count": ...}`.

        Raises:
            ValueError: If the data is empty, or holds NaN or Inf and
                `ignore_nonfinite` is False (the message gives how many
                values), or if its statistics do not fit the weights' dtype
                (a variance above 3.4e38 in float32) or overflow float64.
        """
        if batch_size is not None:
            batch_size = _validation.positive_integer("batch_size", batch_size)
        if steps is not None:
            steps = _validation.positive_integer("steps", steps)
        ignore_nonfinite = _validation.boolean("ignore_nonfinite", ignore_nonfinite)
        moments = None
        first_shape = None
        input_rank = self.input_spec.ndim if self.built else None
        for batch in _adapt_data.batches(data, batch_size, steps, input_rank):
            if moments is None:
                first_shape = batch.shape
                if not self.built:
                    self.build((None,) + batch.shape[1:])
                else:
                    self._check_adapt_shape(batch.shape)
                moments = _moments.RunningMoments(self._reduce_axes, ignore_nonfinite)
            elif batch.ndim != len(first_shape) or any(
                batch.shape[a] != first_shape[a]
                for a in range(1, batch.ndim)
                if a not in self._reduce_axes
            ):
                raise ValueError(
                    f"adapt() got batches whose sizes on axis {self.axis} differ: "
                    f"{first_shape} and {batch.shape}"
                )
            if batch.size:
                moments.update(batch)
        strategy = _moments.distribution_strategy(data)
        if strategy is not None and moments is not None and moments.count is not None:
            _moments.merge_across_workers(strategy, moments)
        if moments is not None and moments.nonfinite and not ignore_nonfinite:
            raise ValueError(
                f"adapt() data holds {moments.nonfinite} NaN or Inf values. Clean "
                "the data or pass ignore_nonfinite=True to leave them out."
            )
        if moments is None or moments.count is None:
            raise ValueError("adapt() got no data to compute statistics from.")
        if not np.all(moments.count > 0):
            raise ValueError(
                "adapt() found no finite values for some statistics; every "
                f"index of axis {self.axis} needs at least one."
            )
        shape = self._statistics_shape
        statistics = {
            "mean": moments.mean.reshape(shape),
            "variance": (moments.m2 / moments.count).reshape(shape),
            "count": moments.count.reshape(shape),
        }
        checked = self._checked_statistics(
            statistics["mean"], statistics["variance"], self.mean.dtype
        )
        for name, weight in (("mean", self.mean), ("variance", self.variance)):
            weight.assign(checked[name].astype(weight.dtype))
        return statistics

    def _check_adapt_shape(self, shape: tuple[int, ...]) -> None:
        """Raises, as `keras.layers.Normalization.adapt` does, when a built
        layer is adapted on data whose sizes on `axis` differ from those it
        was built for: its statistics have the shape of the first data."""
        built = self._broadcast_shape
        if len(shape) != len(built) or any(
            shape[a] != built[a]
            for a in range(1, len(built))
            if a not in self._reduce_axes
        ):
            expected = tuple(
                None if a == 0 or a in self._reduce_axes else size
                for a, size in enumerate(built)
            )
            raise ValueError(
                f"Standardize layer {self.name!r} was built for inputs of shape "
                f"{expected} ({self._statistics_shape} statistics on axis "
                f"{self.axis}), but adapt() received data of shape "
                f"{tuple(shape)}. Adapt a new Standardize layer for data of "
                "another shape."
            )

    def _check_statistics(self, inputs) -> None:
        """Raises if the statistics were never set, where the values can be
        read (outside a traced function); traced, the NaN they hold would
        make every output NaN. Shape inference (PyTorch runs it on "meta"
        tensors) is left alone: a model can be built before `adapt`."""
        if getattr(getattr(inputs, "device", None), "type", None) == "meta":
            return
        try:
            mean = keras.ops.convert_to_numpy(self.mean)
        except Exception:  # a traced value
            return
        if np.isnan(mean).any():
            raise ValueError(
                f"Standardize layer {self.name!r} has no statistics yet: call "
                "`adapt(data)` first, or pass `mean` and `variance`."
            )

    def __call__(self, inputs, *args, **kwargs):
        if self.built:
            self._check_shape(inputs)
        # In a tf.data pipeline the inputs are TensorFlow tensors whatever the
        # backend, as keras.layers.Normalization allows.
        if keras.backend.backend() != "tensorflow" and type(
            inputs
        ).__module__.startswith("tensorflow"):
            from keras_acts.layers import _tf_data

            if not self.built and self.input_mean is None:
                raise ValueError(
                    f"Standardize layer {self.name!r} has no statistics yet: call "
                    "`adapt(data)` first, or pass `mean` and `variance`."
                )
            if not self.built:
                self.build(tuple(inputs.shape))
            self._check_statistics(None)
            return _tf_data.standardize(self, inputs)
        return super().__call__(inputs, *args, **kwargs)

    def _check_shape(self, inputs) -> None:
        """Raises on every backend (the tf.data path of JAX and PyTorch skips
        Keras's input checks) for inputs of another rank than the layer's,
        or another size on an axis it keeps statistics for, where a size of
        1 would broadcast to the statistics in silence. Unlike
        keras.layers.Normalization, which broadcasts one example to a batch
        of one, so that batching gives (batch, 1, ...) in silence."""
        ndim, rank = getattr(inputs, "ndim", None), self.input_spec.ndim
        if ndim is None:
            return
        shape = tuple(inputs.shape)
        if ndim != rank:
            hint = ""
            if ndim == rank - 1:
                hint = (
                    " One example has no batch axis: in a tf.data pipeline, map "
                    "the layer after `.batch()`."
                )
            raise ValueError(
                f"Standardize layer {self.name!r} takes inputs of rank {rank} "
                f"(batch, ...). Received: inputs of shape {shape}.{hint}"
            )
        for axis, size in self.input_spec.axes.items():
            if shape[axis] is not None and shape[axis] != size:
                raise ValueError(
                    f"Standardize layer {self.name!r} keeps statistics for "
                    f"{size} indices on axis {axis}. Received: inputs of shape "
                    f"{shape}, with {shape[axis]} there."
                )

    def call(self, inputs):
        self._check_statistics(inputs)
        inputs = floating(inputs, self.compute_dtype)
        dtype = inputs.dtype
        mean = ops.reshape(ops.cast(self.mean, dtype), self._broadcast_shape)
        # The standard deviation in the statistics' dtype (float32 at least),
        # then in the compute dtype: a float16 variance of 1e-8 would be 0.
        variance = ops.reshape(
            ops.convert_to_tensor(self.variance.value), self._broadcast_shape
        )
        std = ops.cast(standard_deviation(variance, self.epsilon), dtype)
        if self.invert:
            outputs = inputs * std if self.scale else inputs
            return outputs + mean if self.center else outputs
        outputs = inputs - mean if self.center else inputs
        return outputs / std if self.scale else outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()

        def plain(value):
            return np.asarray(value).tolist() if value is not None else None

        config.update(
            {
                "axis": self.axis,
                "center": self.center,
                "scale": self.scale,
                "mean": plain(self.input_mean),
                "variance": plain(self.input_variance),
                "epsilon": self.epsilon,
                "invert": self.invert,
            }
        )
        return config
