"""The names and shapes of a network's saved arrays, shared by the Keras model, the serving
runtime and fine-tuning: a wrong file fails loudly."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nlp.model_config import ModelConfig

GATES = {"lstm": 4, "gru": 3}


class RecurrentArrays(NamedTuple):
    """One recurrent layer: its Keras layer name and the names of its three arrays."""

    layer: str
    kernel: str
    recurrent_kernel: str
    bias: str


def recurrent_arrays(config: ModelConfig) -> tuple[RecurrentArrays, ...]:
    """Bottom to top. The top layer keeps the unsuffixed names every one-layer version was
    saved with, so those load unchanged; a layer under it is suffixed by its depth from 0."""
    below = tuple(
        RecurrentArrays(
            f"recurrent_{depth}", f"kernel_{depth}", f"recurrent_kernel_{depth}", f"bias_{depth}"
        )
        for depth in range(config.recurrent_layers - 1)
    )
    return (*below, RecurrentArrays("recurrent", "kernel", "recurrent_kernel", "bias"))


def expected_shapes(config: ModelConfig, vocabulary_size: int) -> dict[str, tuple[int, ...]]:
    gates = GATES[config.cell] * config.units
    features = config.units * (2 if config.max_pool else 1)
    bias = (gates,) if config.cell == "lstm" else (2, gates)
    shapes: dict[str, tuple[int, ...]] = {"embedding": (vocabulary_size, config.embedding_dim)}
    for depth, arrays in enumerate(recurrent_arrays(config)):
        inputs = config.embedding_dim if depth == 0 else config.units
        shapes[arrays.kernel] = (inputs, gates)
        shapes[arrays.recurrent_kernel] = (config.units, gates)
        shapes[arrays.bias] = bias
    return {**shapes, "dense_kernel": (features, 2), "dense_bias": (2,)}


def check_weight_shapes(
    config: ModelConfig, vocabulary_size: int, weights: dict[str, np.ndarray]
) -> None:
    for name, shape in expected_shapes(config, vocabulary_size).items():
        if name not in weights:
            raise ValueError(f"weights lack {name!r}")
        if tuple(weights[name].shape) != shape:
            raise ValueError(f"weights {name!r} have shape {weights[name].shape}, expected {shape}")
        if not np.all(np.isfinite(weights[name])):
            raise ValueError(f"weights {name!r} hold NaN or infinite values")
