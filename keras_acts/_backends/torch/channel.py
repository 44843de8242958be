"""The PyTorch record channel: the training step runs eagerly, so records
are computed after the update and taken by the host directly. The
statistics use PyTorch's multi-tensor (`torch._foreach_*`) kernels: a few
calls for all variables, instead of a dozen `keras.ops` calls per group."""

from __future__ import annotations

import torch

from keras_acts import _private_api
from keras_acts.callbacks._channel import Channel as BaseChannel
from keras_acts.callbacks._gradient_statistics import NOT_MEASURED

_foreach_abs = _private_api.torch_function("_foreach_abs")
_foreach_copy_ = _private_api.torch_function("_foreach_copy_")
_foreach_max = _private_api.torch_function("_foreach_max")
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

    def notes_calls(self) -> bool:
        # torch.compile guards on each layer's `call`: noting calls compile
        # every layer's forward anew, past dynamo's recompile limit (after
        # which they run eagerly) in a model of more than a few layers.
        return not self.capture.model.jit_compile

    def should_record(self, site, step):
        # In a step compiled by torch.compile (jit_compile=True), a branch on
        # a tensor breaks the graph at every step: the host's answer, a
        # Python bool, is used instead, and the step is compiled once for
        # each of its two values.
        if torch.compiler.is_compiling():
            if self.request.steps_predictable:
                return self._due
            return super().should_record(site, step)
        # Eagerly, a Python bool: the answer is needed on the host anyway,
        # and Keras's ops on a scalar tensor cost more than the arithmetic.
        period = self.request.schedule.period
        return int(step) % period == 0 if period else site.pending

    def weights_before(self, site, record, groups, gradients):
        if not bool(record):
            return None
        weights = [[v.value.detach() for v in group] for group in groups]
        if torch.compiler.is_compiling():
            return [_foreach_mul([w.float() for w in group], 1.0) for group in weights]
        # Copies, since the update writes the variables in place, into
        # buffers kept for the fit: new tensors of this size cost 7x the
        # copy on the CPU (fresh pages from the allocator at every step).
        buffers = site.storage
        if buffers is None or buffers[0][0].device != weights[0][0].device:
            buffers = site.storage = [
                [
                    torch.empty(w.shape, dtype=torch.float32, device=w.device)
                    for w in group
                ]
                for group in weights
            ]
        _foreach_copy_(
            [b for group in buffers for b in group],
            [w for group in weights for w in group],
        )
        return buffers

    def release(self):
        for site in self.capture.sites.values():
            site.storage = None

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


def _largest(magnitudes):
    nonempty = [m for m in magnitudes if m.numel()]
    largest = iter(_foreach_max(nonempty) if nonempty else [])
    return [next(largest) if m.numel() else m.new_zeros(()) for m in magnitudes]


def _statistics(site, gradients, before, after):
    count = len(site.variables)
    copies = [
        torch.zeros(tuple(v.shape), dtype=torch.float32, device=v.value.device)
        if g is None
        else g.detach().float()
        for g, v in zip(gradients, site.variables, strict=True)
    ]
    weights = [w.detach().float() for w in _flat(site.groups, before, count)]
    # On the CPU, summing and maximizing |g| took 1/2 the time of the norms of
    # order 1 and inf (and 2/3 of order 1 with aminmax).
    magnitudes = _foreach_abs(copies)
    columns = [
        torch.stack(_foreach_norm(copies, 2)).double().square(),
        torch.stack([m.sum() for m in magnitudes]).double(),
        torch.stack(_largest(magnitudes)).double(),
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
