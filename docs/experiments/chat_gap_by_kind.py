"""Where a student loses to its teacher on chat: the gap on the written chat set by kind of
message (docs/results.md, "A chat dev set that can measure 0.3 points").

    PYTHONPATH=. python docs/experiments/chat_gap_by_kind.py TEACHER_DIR STUDENT_DIR

The kinds are rough surface cues (word count, a contrast ending, a negation, laughter or
crying letters and emoji, polite endings, the label), not annotations; a message can be of
several. One line per kind: how many messages, both accuracies, the gap in points.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from benchmarks.model_accuracy import WRITTEN_DEV_FILE, correct
from nlp.ensemble import load_model
from training.corpora import chat_set

CUES = {
    "contrast (-는데, -지만, -긴)": r"는데|ㄴ데|지만|긴 ",
    "negation (안, 않-, 못)": r"(^| )안 |않|못 ",
    "ㅋ ㅎ ㅠ ㅜ, ^^ or emoji": "[ㅋㅎㅠㅜ]|[\U0001f300-\U0001faff]|\\^\\^",
    "polite ending (-요, -니다)": r"(요|니다)[.!?~ ]*$",
}


def kinds(texts: list[str], labels: np.ndarray) -> dict[str, np.ndarray]:
    words = np.array([len(text.split()) for text in texts])
    groups = {
        "1-3 words": words <= 3,
        "4-7 words": (words >= 4) & (words <= 7),
        "8-12 words": (words >= 8) & (words <= 12),
        "13+ words": words >= 13,
    }
    for name, pattern in CUES.items():
        groups[name] = np.array([re.search(pattern, text) is not None for text in texts])
    groups["label 1"] = labels == 1
    groups["label 0"] = labels == 0
    return groups


def main(teacher_dir: Path, student_dir: Path) -> None:
    texts, labels = chat_set((WRITTEN_DEV_FILE,))
    teacher = correct(load_model(teacher_dir), texts, labels)
    student = correct(load_model(student_dir), texts, labels)
    for name, chosen in kinds(texts, np.asarray(labels)).items():
        ahead, behind = teacher[chosen].mean(), student[chosen].mean()
        print(
            f"{name}: {chosen.sum()} messages, teacher {ahead:.3f}, student {behind:.3f}, "
            f"gap {100 * (ahead - behind):+.1f} points"
        )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
