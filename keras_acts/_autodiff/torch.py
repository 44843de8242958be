"""PyTorch: autograd on the variables' parameters."""

from __future__ import annotations

import torch


def value_and_gradients(function, variables):
    scalar, aux = function()
    gradients = torch.autograd.grad(
        scalar, [v.value for v in variables], allow_unused=True
    )
    return scalar, aux, list(gradients)
