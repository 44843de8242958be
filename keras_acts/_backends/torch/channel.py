"""The PyTorch record channel: the training step runs eagerly, so records
are computed after the update and taken by the host directly. The
statistics use PyTorch's multi-tensor (`torch._foreach_*`) kernels: a few
calls for all variables, instead of a dozen `keras.ops` calls per group."""

from __future__ import annotations

import torch

from keras_acts import _private_api
from keras_acts.callbacks._channel import Channel as BaseChannel
from keras_acts.callbacks._gradient_statistics import NOT_MEASURED

_foreach_mul = _private_api.torch_function("_foreach_mul")
_foreach_norm = _private_api.torch_function("_foreach_norm")
_foreach_sub_ = _private_api.torch_function("_foreach_sub_")


class Channel(BaseChannel):
    _due = True

    def recording_function(self, make_recording_function, plain_function):
        # Keras's PyTorch train function looks up model.train_step at each
        # call, so the plain function runs the recording step while the
        # monitor is attached. Before each call the host says whether the
        # step is due, for a step compiled by torch.compile (see
        # should_record).
        def train_function(data):
            self._due = self.request.block_may_record()
            return plain_function(data)

        return train_function

    def should_record(self, site, step):
        # In a step compiled by torch.compile (jit_compile=True), a branch on
        # a tensor breaks the graph at every step: the host's answer, a
        # Python bool, is used instead, and the step is compiled once for
        # each of its two values.
        if self.request.steps_predictable and torch.compiler.is_compiling():
            return self._due
        return super().should_record(site, step)

    def weights_before(self, record, groups, gradients):
        if not bool(record):
            return None
        # Copies: the update writes the variables in place.
        return [
            _foreach_mul([v.value.detach().float() for v in group], 1.0)
            for group in groups
        ]

    def statistics(self, site, gradients, before, after):
        with torch.no_grad():
            return _statistics(site, gradients, before, after)


def _flat(groups, values, count):
    """Per-group lists, back in the order of the variables."""
    flat = [None] * count
    for positions, group_values in zip(groups, values, strict=True):
        for position, value in zip(positions, group_values, strict=True):
            flat[position] = value
    return flat


def _largest_magnitude(values):
    # On the CPU, _foreach_norm of order inf took 8x as long as aminmax.
    if not values.numel():
        return values.new_zeros(())
    return torch.stack(torch.aminmax(values)).abs().max()


def _statistics(site, gradients, before, after):
    count = len(site.variables)
    copies = [
        torch.zeros(tuple(v.shape), dtype=torch.float32)
        if g is None
        else g.detach().float()
        for g, v in zip(gradients, site.variables, strict=True)
    ]
    weights = [w.detach().float() for w in _flat(site.groups, before, count)]
    columns = [
        torch.stack(_foreach_norm(copies, 2)).double().square(),
        torch.stack(_foreach_norm(copies, 1)).double(),
        torch.stack([_largest_magnitude(c) for c in copies]).double(),
        torch.stack(_foreach_norm(weights, 2)).double().square(),
    ]
    if after is None:
        columns.append(torch.full((count,), NOT_MEASURED, dtype=torch.float64))
    else:
        weights_after = [w.detach().float() for w in _flat(site.groups, after, count)]
        # In place: `weights` are weights_before's copies, read above for the
        # last time; a new tensor per variable cost twice as much.
        _foreach_sub_(weights, weights_after)
        columns.append(torch.stack(_foreach_norm(weights, 2)).double().square())
    return torch.stack(columns, dim=1), copies
