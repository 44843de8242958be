"""The PyTorch record channel: the training step runs eagerly, so records
are computed after the update and taken by the host directly."""

from __future__ import annotations

from keras_acts.callbacks._channels import Channel as BaseChannel


class Channel(BaseChannel):
    def recording_function(self, make_recording_function, plain_function):
        # Keras's PyTorch train function looks up model.train_step at each
        # call, so the plain function runs the recording step while the
        # monitor is attached: nothing to make.
        return plain_function
