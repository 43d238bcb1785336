"""The Keras 3 sentiment network, used for training; serving runs the same maths without TensorFlow.

    token ids -> Embedding -> LSTM|GRU (every step; `recurrent_layers` of them)
              -> [h_t ; max_{s<=t} h_s] at the last token t
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
from nlp.model_weights import recurrent_arrays
from nlp.vocabulary import PAD_ID


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


class LastStep(layers.Layer):  # type: ignore[misc]  # keras ships no types
    """Each text's recurrent state at its last token. Batches are padded after the text
    (the padding id 0), so the recurrent layers run through the padding unmasked: no step
    can see a later one, and a mask cost every step a select for each state, 12-20% of a
    training step (docs/learning-loop.md, "Padding read, not masked"). A text with no
    token reads zeros, the state a masked layer kept."""

    def call(self, inputs: Any) -> Any:
        sequence, token_ids = inputs
        lengths = ops.sum(ops.cast(ops.not_equal(token_ids, PAD_ID), "int32"), axis=1)
        last = ops.one_hot(lengths - 1, ops.shape(sequence)[1], dtype=sequence.dtype)
        return ops.sum(sequence * ops.expand_dims(last, -1), axis=1)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        batch, _, units = input_shape[0]
        return (batch, units)


class StepFeatures(layers.Layer):  # type: ignore[misc]  # keras ships no types
    """At every step t what the classifier reads after token t: the state, and with
    `max_pool` the max of the states up to t (MaskedMax's value had the text ended at t).
    The padding comes after the text, so a max up to a text's step never reaches it, and
    the padded steps' targets weigh nothing (training.batches)."""

    def __init__(self, max_pool: bool, max_steps: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_pool = max_pool
        self.max_steps = max_steps

    def call(self, inputs: Any) -> Any:
        if not self.max_pool:
            return inputs
        running = inputs
        # The running max by doubling: after shifts 1, 2, 4, ... each step holds the max of
        # the 2^k steps up to it. (keras.ops.associative_scan took 20 GB on ragged widths.)
        steps, shift = ops.shape(inputs)[1], 1
        while shift < self.max_steps:
            earlier = ops.pad(running, [[0, 0], [shift, 0], [0, 0]], constant_values=-1e9)
            running = ops.maximum(running, earlier[:, :steps])
            shift *= 2
        return ops.concatenate([inputs, running], axis=-1)

    def compute_output_shape(self, input_shape: tuple[Any, ...]) -> tuple[Any, ...]:
        *leading, units = input_shape
        return (*leading, units * 2 if self.max_pool else units)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_pool": self.max_pool, "max_steps": self.max_steps}


def positive_cross_entropy(y_true: Any, y_pred: Any) -> Any:
    """Cross-entropy against P(positive): 0 or 1 for a labelled review, a teacher's probability
    for a distilled one (training.distill). For 0/1 labels it equals sparse categorical
    cross-entropy, so labelled-only training is unchanged."""
    target = ops.cast(ops.reshape(y_true, (-1,)), y_pred.dtype)
    clipped = ops.clip(y_pred, 1e-7, 1.0)
    return -(target * ops.log(clipped[:, 1]) + (1.0 - target) * ops.log(clipped[:, 0]))


def word_cross_entropy(y_true: Any, y_pred: Any) -> Any:
    """Cross-entropy at every step that has a target, by its weight, summed over a text's
    steps: y_true is (rows, steps, [target, weight, last]) (training.batches), y_pred the
    per-step output of `build_model(..., word_targets=True)`."""
    target, weight = y_true[..., 0], y_true[..., 1]
    clipped = ops.clip(y_pred, 1e-7, 1.0)
    entropy = -(target * ops.log(clipped[..., 1]) + (1.0 - target) * ops.log(clipped[..., 0]))
    return ops.sum(weight * entropy, axis=1)


def final_accuracy(y_true: Any, y_pred: Any) -> Any:
    """`accuracy` at each text's last token, the verdict the served model gives."""
    last = y_true[..., 2]
    target = ops.sum(y_true[..., 0] * last, axis=1) >= 0.5
    predicted = ops.sum(y_pred[..., 1] * last, axis=1) >= 0.5
    return ops.cast(ops.equal(target, predicted), "float32")


def accuracy(y_true: Any, y_pred: Any) -> Any:
    """Agreement on the side of 0.5; named so Keras reports `accuracy` / `val_accuracy`."""
    target = ops.cast(ops.reshape(y_true, (-1,)), y_pred.dtype) >= 0.5
    return ops.cast(ops.equal(target, y_pred[:, 1] >= 0.5), "float32")


def build_model(
    config: ModelConfig, steps_per_epoch: int | None = None, word_targets: bool = False
) -> keras.Model:
    """The network, compiled. Given `steps_per_epoch` (a full training), its rate follows
    the configuration's schedule (`learning_rate`); otherwise it stays constant. With
    `word_targets` it outputs the probabilities after every token, to fit per-step targets
    (training.word_targets); the weights are the same either way."""
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    embedded = layers.Embedding(config.vocab_size, config.embedding_dim, name="embedding")(
        token_ids
    )
    if config.embedding_dropout:
        embedded = layers.SpatialDropout1D(config.embedding_dropout, name="embedding_dropout")(
            embedded
        )
    recurrent_layer = {"lstm": layers.LSTM, "gru": layers.GRU}[config.cell]
    for arrays in recurrent_arrays(config):
        embedded = recurrent_layer(config.units, return_sequences=True, name=arrays.layer)(embedded)
    sequence = embedded
    if word_targets:
        features = StepFeatures(config.max_pool, config.max_tokens, name="step_features")(sequence)
        metric = keras.metrics.MeanMetricWrapper(final_accuracy, name="accuracy")
        return _classified(config, steps_per_epoch, token_ids, features, word_cross_entropy, metric)
    features = LastStep(name="last_state")([sequence, token_ids])
    if config.max_pool:
        tokens = ops.not_equal(token_ids, PAD_ID)
        features = layers.Concatenate(name="state_and_max")(
            [features, MaskedMax(name="running_max")(sequence, mask=tokens)]
        )
    return _classified(
        config, steps_per_epoch, token_ids, features, positive_cross_entropy, accuracy
    )


def _classified(
    config: ModelConfig,
    steps_per_epoch: int | None,
    token_ids: Any,
    features: Any,
    loss: Any,
    metric: Any,
) -> keras.Model:
    """Dropout and the 2-way classifier over `features`, compiled with `loss`."""
    if config.dropout:
        features = layers.Dropout(config.dropout, name="dropout")(features)
    probabilities = layers.Dense(2, activation="softmax", name="classifier")(features)
    model = keras.Model(token_ids, probabilities, name=f"sentiment_{config.name}")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate(config, steps_per_epoch)),
        loss=loss,
        metrics=[metric],
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


def export_weights(model: keras.Model, config: ModelConfig) -> dict[str, np.ndarray]:
    """Weights by role (nlp.model_weights), the format the serving runtime and fine-tuning
    both read."""
    arrays = {"embedding": model.get_layer("embedding").get_weights()[0]}
    for names in recurrent_arrays(config):
        kernel, recurrent_kernel, bias = model.get_layer(names.layer).get_weights()
        arrays |= {names.kernel: kernel, names.recurrent_kernel: recurrent_kernel, names.bias: bias}
    arrays["dense_kernel"], arrays["dense_bias"] = model.get_layer("classifier").get_weights()
    return {name: np.asarray(array, dtype=np.float32) for name, array in arrays.items()}


def import_weights(model: keras.Model, config: ModelConfig, weights: dict[str, np.ndarray]) -> None:
    model.get_layer("embedding").set_weights([weights["embedding"]])
    for names in recurrent_arrays(config):
        model.get_layer(names.layer).set_weights(
            [weights[names.kernel], weights[names.recurrent_kernel], weights[names.bias]]
        )
    model.get_layer("classifier").set_weights([weights["dense_kernel"], weights["dense_bias"]])
