"""How closely a student's word-by-word trace follows its teacher's, before the last word
(docs/results.md, "The teacher's trace as targets").

    PYTHONPATH=. python docs/experiments/trace_agreement.py TEACHER_DIR STUDENT_DIR [...]

A final verdict can agree while the trace the bot shows wanders: the line per student is,
over every word but a message's last that both read, the mean |student - teacher| of
P(positive) and the share of words on the same side of 0.5, on NSMC's validation split
and on the chat dev set (`benchmarks.model_accuracy.evaluation_sets`). One JSON line each.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.model_accuracy import BATCH, evaluation_sets
from nlp.ensemble import Servable, load_model
from nlp.trace import Trace

SETS = ("nsmc_val", "chat_dev")


def traces(model: Servable, texts: list[str]) -> list[Trace]:
    return [
        trace
        for start in range(0, len(texts), BATCH)
        for trace in model.trace_batch(texts[start : start + BATCH])
    ]


def agreement(students: list[Trace], teachers: list[Trace]) -> dict[str, float]:
    gaps, same_side = [], []
    for ours, theirs in zip(students, teachers, strict=True):
        by_word = dict(zip(theirs.positions, theirs.probabilities, strict=True))
        for word, probability in zip(ours.positions[:-1], ours.probabilities[:-1], strict=True):
            if word in by_word:
                gaps.append(abs(probability - by_word[word]))
                same_side.append((probability >= 0.5) == (by_word[word] >= 0.5))
    return {
        "mean_gap": round(float(np.mean(gaps)), 4),
        "same_side": round(float(np.mean(same_side)), 4),
        "words": len(gaps),
    }


def main(argv: list[str]) -> int:
    teacher = load_model(Path(argv[0]))
    sets = {name: texts for name, (texts, _) in evaluation_sets().items() if name in SETS}
    theirs = {name: traces(teacher, texts) for name, texts in sets.items()}
    for path in argv[1:]:
        student = load_model(Path(path))
        figures = {name: agreement(traces(student, sets[name]), theirs[name]) for name in sets}
        print(json.dumps({"model": student.version, **figures}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
