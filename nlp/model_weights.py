"""Shape checks shared by the serving runtime and fine-tuning: a wrong file fails loudly."""

from __future__ import annotations

import numpy as np

from nlp.model_config import ModelConfig

GATES = {"lstm": 4, "gru": 3}


def expected_shapes(config: ModelConfig, vocabulary_size: int) -> dict[str, tuple[int, ...]]:
    gates = GATES[config.cell] * config.units
    features = config.units * (2 if config.max_pool else 1)
    bias = (gates,) if config.cell == "lstm" else (2, gates)
    return {
        "embedding": (vocabulary_size, config.embedding_dim),
        "kernel": (config.embedding_dim, gates),
        "recurrent_kernel": (config.units, gates),
        "bias": bias,
        "dense_kernel": (features, 2),
        "dense_bias": (2,),
    }


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
