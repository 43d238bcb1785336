"""`python -m benchmarks.import_parts`: where an import batch's CPU goes, stage by stage,
with the served model (MODEL_REGISTRY), over 5,120 NSMC test reviews in batches of 512.

Each stage runs alone in this thread, so its CPU is its own; "outside Python" is the CPU
the stage's native code spends in threads of its own (Kiwi's workers), which can overlap
Python in other threads, and "this thread" is the CPU in the calling thread, mostly under
the GIL but for ONNX Runtime's runs. What the ensemble's import can reach on 2 cores
follows: the sum of the stages over two cores, and never less than the GIL-held part.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from benchmarks.common import current_model_dir, rounded
from bot import mood_words
from bot.history_import import BATCH
from nlp.ensemble import Ensemble, Member, load_model, members_of_model
from nlp.inference import SentimentModel, normalize_text
from nlp.trace import Trace
from training.data import load_split

REVIEWS = 5_120
_Argument = TypeVar("_Argument")
_Result = TypeVar("_Result")


@dataclass
class _Clock:
    """CPU of the calling thread and of the whole process, summed over calls."""

    thread_s: float = 0.0
    process_s: float = 0.0

    def timed(self, function: Callable[[_Argument], _Result], argument: _Argument) -> _Result:
        thread, process = time.thread_time(), time.process_time()
        result = function(argument)
        self.thread_s += time.thread_time() - thread
        self.process_s += time.process_time() - process
        return result


def stage_cpu(model: Ensemble | Member, texts: Sequence[str]) -> dict[str, _Clock]:
    """Each stage's CPU over ``texts`` in the import's batches. A network member's
    "encode" (tokens, ids) includes its "tokens", which are also timed alone."""
    clocks: dict[str, _Clock] = {}

    def clock(name: str) -> _Clock:
        return clocks.setdefault(name, _Clock())

    for start in range(0, len(texts), BATCH):
        batch = list(texts[start : start + BATCH])
        per_member: list[list[Trace]] = []
        for member in members_of_model(model):
            name = member.config.name
            if isinstance(member, SentimentModel):
                cleaned = [normalize_text(text) for text in batch]
                clock(f"{name}: tokens").timed(member.tokenizer.columns_many, cleaned)
                encoded = clock(f"{name}: encode").timed(member.encode_many, batch)
                traces = clock(f"{name}: network, traces").timed(member.trace_encoded, encoded)
            else:
                traces = clock(f"{name}: all").timed(member.trace_batch_here, batch)
            per_member.append(traces)
        averaged = per_member[0]
        if isinstance(model, Ensemble):
            averaged = clock("average").timed(model._averaged, per_member)
        clock("word statistics").timed(_word_statistics, averaged)
    return clocks


def _word_statistics(traces: list[Trace]) -> list[tuple[mood_words.Step, ...]]:
    return [mood_words.word_steps(trace) for trace in traces]


def main() -> int:
    model_dir = current_model_dir()
    if model_dir is None:
        return 1
    model = load_model(model_dir)
    texts = [text for text in load_split("test").texts if text.strip()][:REVIEWS]
    model.trace_batch_here(texts[:50])  # Kiwi and MeCab load lazily
    figures: dict[str, float] = {}
    for name, clocked in stage_cpu(model, texts).items():
        here = clocked.thread_s * 1000 / len(texts)
        outside = (clocked.process_s - clocked.thread_s) * 1000 / len(texts)
        print(f"{name:32s} this thread {here:.3f} ms/msg, outside Python {outside:.3f}")
        figures[f"{name} ms/msg"] = here + outside
    print(json.dumps(rounded(figures), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
