"""A version's arrays are checked against its configuration before it is served."""

from __future__ import annotations

import numpy as np
import pytest

from nlp.model_config import STUDENT_PIECES
from nlp.model_weights import check_weight_shapes, expected_shapes

ONE_LAYER = STUDENT_PIECES.with_overrides(units=8, embedding_dim=4)
TWO_LAYERS = ONE_LAYER.with_overrides(recurrent_layers=2)


def _weights_for(config) -> dict[str, np.ndarray]:
    return {
        name: np.zeros(shape, np.float32) for name, shape in expected_shapes(config, 10).items()
    }


def test_a_one_layer_network_keeps_the_names_every_saved_version_has() -> None:
    assert set(expected_shapes(ONE_LAYER, 10)) == {
        "embedding",
        "kernel",
        "recurrent_kernel",
        "bias",
        "dense_kernel",
        "dense_bias",
    }


def test_a_stacked_layer_reads_the_layer_below_it() -> None:
    shapes = expected_shapes(TWO_LAYERS, 10)
    assert shapes["kernel_0"] == (4, 24)  # the embedding into the bottom GRU's 3 gates
    assert shapes["kernel"] == (8, 24)  # the bottom layer's 8 units into the top one
    check_weight_shapes(TWO_LAYERS, 10, _weights_for(TWO_LAYERS))


def test_weights_of_a_shallower_network_are_refused() -> None:
    with pytest.raises(ValueError, match="lack 'kernel_0'"):
        check_weight_shapes(TWO_LAYERS, 10, _weights_for(ONE_LAYER))


def test_weights_of_a_deeper_network_are_refused_by_shape() -> None:
    """Its top layer reads 8 units where a one-layer network reads the 4-wide embedding."""
    with pytest.raises(ValueError, match="'kernel' have shape"):
        check_weight_shapes(ONE_LAYER, 10, _weights_for(TWO_LAYERS))
