"""A trained network's embedding and recurrent layers, run by ONNX Runtime.

Why ONNX Runtime and not numpy: a step of an LSTM is one small matrix product and a few
element-wise gates, and numpy pays Python overhead for every one of them. ONNX
Runtime's fused LSTM/GRU kernels run the whole sequence in C++: the 25-word message
takes 0.21 / 0.19 / 0.30 ms (Kiwi / mecab / syllable network) against 0.58 / 0.54 /
0.87 ms stepping in numpy, and batches of reviews 12,000-23,000 per second against
6,500 (docs/results.md). It releases the
GIL while it runs, so one member's network overlaps another member's tokeniser, and it
reads the weights in place from the numpy arrays (`add_initializer`), so the 20 MB
embeddings are not held twice. TensorFlow is still not imported to serve.

The graph is built from the saved Keras weights when a version is loaded, so the files on
disk stay what Keras wrote and every old version loads unchanged. `tests/test_trace.py`
checks it against Keras to 1e-5 on LSTM, GRU and the seed configuration.
"""

from __future__ import annotations

import numpy as np

from nlp.model_config import ModelConfig
from nlp.model_weights import GATES, recurrent_arrays

_OPSET = 17
_IR_VERSION = 8  # what onnxruntime reads; the `onnx` package would write a newer one
# One thread per session: a trace's steps are sequential, so a second thread only adds
# hand-offs (batches gained nothing measurable), and in the bot the other core is busy
# with Kiwi and the event loop. Big batches use both cores by running two halves at once
# on this session (nlp.batch_threads), which also overlaps one half's Python with the
# other's network.
INTRA_OP_THREADS = 1


class RecurrentRuntime:
    """States of the recurrent layer for a batch of post-padded id sequences."""

    def __init__(self, config: ModelConfig, weights: dict[str, np.ndarray]) -> None:
        import onnxruntime

        self.units = config.units
        self._arrays = _onnx_weights(config, weights)
        self._values = {  # the session reads these buffers: they must outlive it
            name: onnxruntime.OrtValue.ortvalue_from_numpy(array)
            for name, array in self._arrays.items()
        }
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = INTRA_OP_THREADS
        options.inter_op_num_threads = 1
        for name, value in self._values.items():
            options.add_initializer(name, value)
        self._session = onnxruntime.InferenceSession(
            _graph(config, self._arrays), options, providers=["CPUExecutionProvider"]
        )

    def states(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """(batch, time) ids -> (time, batch, units) outputs; steps past a row's length are 0.

        Time-major, as ONNX Runtime's kernels write it: no transposed copy, and the running
        max over time that the classifier reads runs along contiguous memory."""
        feeds = {"ids": ids.astype(np.int64, copy=False), "lengths": lengths.astype(np.int32)}
        (outputs,) = self._session.run(None, feeds)
        return np.asarray(outputs)


def _onnx_weights(config: ModelConfig, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keras layout to ONNX layout: gates reordered, matrices transposed, one direction;
    W0, R0, B0 for the bottom recurrent layer, W1, R1, B1 for the next.

    Keras orders LSTM gates i, f, c, o and ONNX i, o, f, c; GRU gates are z, r, h in both.
    ONNX wants an input and a recurrent bias; Keras' LSTM has one (the recurrent is 0),
    its GRU (reset_after=True, the same as ONNX's linear_before_reset=1) has both."""
    units, gates = config.units, GATES[config.cell] * config.units
    order = np.arange(gates)
    if config.cell == "lstm":
        i, f, c, o = (np.arange(units) + k * units for k in range(4))
        order = np.concatenate([i, o, f, c])
    arrays = {"embedding": np.ascontiguousarray(weights["embedding"], dtype=np.float32)}
    for depth, names in enumerate(recurrent_arrays(config)):
        bias = np.asarray(weights[names.bias], dtype=np.float32)
        if config.cell == "lstm":
            bias = np.concatenate([bias[order], np.zeros(gates, dtype=np.float32)])
        else:
            bias = bias.reshape(-1)
        kernel, recurrent = weights[names.kernel], weights[names.recurrent_kernel]
        arrays[f"W{depth}"] = np.ascontiguousarray(kernel[:, order].T[None], dtype=np.float32)
        arrays[f"R{depth}"] = np.ascontiguousarray(recurrent[:, order].T[None], dtype=np.float32)
        arrays[f"B{depth}"] = np.ascontiguousarray(bias[None], dtype=np.float32)
    return arrays


def _graph(config: ModelConfig, arrays: dict[str, np.ndarray]) -> bytes:
    """Embedding lookup -> LSTM or GRU layers, each stopping at each row's length -> (time,
    batch, units) of the top one. A layer's outputs past a row's length are 0, and the
    layer above stops there too, so they never reach a real step.

    The initialisers in the graph are empty placeholders: the session reads the real
    arrays in place (see `RecurrentRuntime.__init__`)."""
    from onnx import TensorProto, helper, numpy_helper

    cell_options = {"linear_before_reset": 1} if config.cell == "gru" else {}
    nodes = [  # ONNX Runtime's recurrent kernels are time-major only (layout=0)
        helper.make_node("Transpose", ["ids"], ["ids_by_time"], perm=[1, 0]),
        helper.make_node("Gather", ["embedding", "ids_by_time"], ["states_0"], axis=0),
    ]
    for depth in range(config.recurrent_layers):
        top = depth == config.recurrent_layers - 1
        nodes += [
            helper.make_node(
                config.cell.upper(),
                [f"states_{depth}", f"W{depth}", f"R{depth}", f"B{depth}", "lengths"],
                [f"by_time_{depth}"],  # (time, 1 direction, batch, units)
                hidden_size=config.units,
                **cell_options,  # type: ignore[arg-type]  # onnx's stub types no attribute
            ),
            helper.make_node(
                "Squeeze",
                [f"by_time_{depth}", "direction_axis"],
                ["outputs" if top else f"states_{depth + 1}"],
            ),
        ]
    placeholders = [
        numpy_helper.from_array(np.zeros((0,) * array.ndim, dtype=np.float32), name)
        for name, array in arrays.items()
    ] + [numpy_helper.from_array(np.array([1], dtype=np.int64), "direction_axis")]
    graph = helper.make_graph(
        nodes,
        config.name,
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "time"]),
            helper.make_tensor_value_info("lengths", TensorProto.INT32, ["batch"]),
        ],
        [helper.make_tensor_value_info("outputs", TensorProto.FLOAT, None)],
        initializer=placeholders,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", _OPSET)], ir_version=_IR_VERSION
    )
    return bytes(model.SerializeToString())
