"""The Keras 3 sentiment network, used for training; serving runs the same maths without TensorFlow.

    token ids -> Embedding(mask_zero) -> LSTM|GRU (every step) -> [h_t ; max_{s<=t} h_s]
              -> Dropout -> Dense(2, softmax)

Everything after the recurrent layer only looks backwards in time, so the output after
token t depends on tokens 1..t alone: one pass yields the verdict after every word, and it
equals re-running the model on each prefix (`tests/test_trace.py` checks this).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import layers, ops

from nlp.model_config import ModelConfig


class MaskedMax(layers.Layer):  # type: ignore[misc]  # keras ships no types
    """Max over the real (unmasked) time steps; padding never wins the max."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs: Any, mask: Any = None) -> Any:
        if mask is not None:
            inputs = ops.where(ops.expand_dims(mask, -1), inputs, ops.full_like(inputs, -1e9))
        return ops.max(inputs, axis=1)

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None


def positive_cross_entropy(y_true: Any, y_pred: Any) -> Any:
    """Cross-entropy against P(positive): 0 or 1 for a labelled review, a teacher's probability
    for a distilled one (training.distill). For 0/1 labels it equals sparse categorical
    cross-entropy, so labelled-only training is unchanged."""
    target = ops.cast(ops.reshape(y_true, (-1,)), y_pred.dtype)
    clipped = ops.clip(y_pred, 1e-7, 1.0)
    return -(target * ops.log(clipped[:, 1]) + (1.0 - target) * ops.log(clipped[:, 0]))


def accuracy(y_true: Any, y_pred: Any) -> Any:
    """Agreement on the side of 0.5; named so Keras reports `accuracy` / `val_accuracy`."""
    target = ops.cast(ops.reshape(y_true, (-1,)), y_pred.dtype) >= 0.5
    return ops.cast(ops.equal(target, y_pred[:, 1] >= 0.5), "float32")


def build_model(config: ModelConfig, steps_per_epoch: int | None = None) -> keras.Model:
    """The network, compiled. Given `steps_per_epoch` (a full training), its rate follows
    the configuration's schedule (`learning_rate`); otherwise it stays constant."""
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    embedded = layers.Embedding(
        config.vocab_size, config.embedding_dim, mask_zero=True, name="embedding"
    )(token_ids)
    if config.embedding_dropout:
        embedded = layers.SpatialDropout1D(config.embedding_dropout, name="embedding_dropout")(
            embedded
        )
    recurrent_layer = {"lstm": layers.LSTM, "gru": layers.GRU}[config.cell]
    outputs = recurrent_layer(
        config.units, return_sequences=True, return_state=True, name="recurrent"
    )(embedded)
    sequence, last_state = outputs[0], outputs[1]
    features = last_state
    if config.max_pool:
        features = layers.Concatenate(name="state_and_max")(
            [last_state, MaskedMax(name="running_max")(sequence)]
        )
    if config.dropout:
        features = layers.Dropout(config.dropout, name="dropout")(features)
    probabilities = layers.Dense(2, activation="softmax", name="classifier")(features)
    model = keras.Model(token_ids, probabilities, name=f"sentiment_{config.name}")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate(config, steps_per_epoch)),
        loss=positive_cross_entropy,
        metrics=[accuracy],
    )
    return model


def learning_rate(config: ModelConfig, steps_per_epoch: int | None) -> Any:
    """A constant rate, or one that falls linearly to 0 over the last `decay_epochs`."""
    if not (config.decay_epochs and steps_per_epoch):
        return config.learning_rate
    return LinearTail(
        config.learning_rate,
        constant_steps=config.first_annealed_epoch * steps_per_epoch,
        decay_steps=config.decay_epochs * steps_per_epoch,
    )


class LinearTail(keras.optimizers.schedules.LearningRateSchedule):  # type: ignore[misc]
    """`rate` for `constant_steps`, then linearly down to 0 over `decay_steps`."""

    def __init__(self, rate: float, constant_steps: int, decay_steps: int) -> None:
        self.rate, self.constant_steps, self.decay_steps = rate, constant_steps, decay_steps

    def __call__(self, step: Any) -> Any:
        into_decay = ops.maximum(ops.cast(step, "float32") - self.constant_steps, 0.0)
        return self.rate * ops.maximum(1.0 - into_decay / self.decay_steps, 0.0)

    def get_config(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "constant_steps": self.constant_steps,
            "decay_steps": self.decay_steps,
        }


WEIGHT_NAMES = ("embedding", "kernel", "recurrent_kernel", "bias", "dense_kernel", "dense_bias")


def export_weights(model: keras.Model) -> dict[str, np.ndarray]:
    """Weights by role, the format the serving runtime and fine-tuning both read."""
    embedding = model.get_layer("embedding").get_weights()[0]
    kernel, recurrent_kernel, bias = model.get_layer("recurrent").get_weights()
    dense_kernel, dense_bias = model.get_layer("classifier").get_weights()
    arrays = (embedding, kernel, recurrent_kernel, bias, dense_kernel, dense_bias)
    return {name: np.asarray(array, dtype=np.float32) for name, array in zip(WEIGHT_NAMES, arrays)}


def import_weights(model: keras.Model, weights: dict[str, np.ndarray]) -> None:
    model.get_layer("embedding").set_weights([weights["embedding"]])
    model.get_layer("recurrent").set_weights(
        [weights["kernel"], weights["recurrent_kernel"], weights["bias"]]
    )
    model.get_layer("classifier").set_weights([weights["dense_kernel"], weights["dense_bias"]])
