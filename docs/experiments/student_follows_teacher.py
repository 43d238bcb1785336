"""Can a student learn corrections the way its teacher generalises them? The focused
retrain's cross-validation (training.retrain._cross_validate) on the student's twenty
wrong verdicts of `make bench-loop`, in which each fold's *teacher* learns the fold's
corrections and the student then follows the teacher's change: it is fine-tuned on a
transfer set of NSMC replay and unlabelled chat, each text's target being the student's
own P(positive) plus what the fine-tune changed in the teacher's, and on the fold's
corrections with their labels. The held-out corrections are never in the transfer set,
so their movement in the student is the student's own generalisation.

    MODEL_REGISTRY=<registry serving the student> PYTHONPATH=. \
        python docs/experiments/student_follows_teacher.py teacher=<registry serving its
        teacher> [chat_rows=4000] [labels=1] [steps=120 ...]

`shuffle=<seed>` shuffles the twenty labels among the texts (the control: noise must not
pass). `labels=0` leaves the corrections' labels out of the student's batches (it learns only
the teacher's change, on the transfer set and the fold's corrections' texts). Other
arguments override `FocusRules` by name, for the student's fine-tune only.

Prints the held-out corrections' movement (towards / away by more than the gate's
threshold, the sign test's p) for the teacher's probe and for the student's.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.loop_bench import TWENTY, Loop
from nlp.ensemble import Servable, members_of_model
from nlp.inference import SentimentModel
from nlp.ngrams import NgramModel
from training.corpora import held_out_chat_texts, kote_texts, texts_without
from training.data import load_split
from training.focus import Focuser, Labelled, NetworkTrainer, _trainable_ids, focus_ngram
from training.gate import MOVED, sign_test
from training.paths import TrainingPaths
from training.recipe import RetrainRecipe
from training.retrain import _assemble, _learning_rate, _positive, _replay
from training.trust import CorrectionRow, normalise, select_for_training


def _moved(label: int, before: float, after: float) -> float:
    return (after - before) * (1 if label == 1 else -1)


def _tally(name: str, moved: list[float]) -> None:
    toward = sum(m > MOVED for m in moved)
    away = sum(m < -MOVED for m in moved)
    p = sign_test(toward, toward + away)
    mean = sum(moved) / len(moved)
    print(f"{name:30} towards {toward:2d}  away {away:2d}  p {p:.3f}  mean {mean:+.3f}")


def _chat_texts(rows: int, seed: int) -> list[str]:
    chat_dir = TrainingPaths.from_env().chat_dir
    if chat_dir is None:
        return []
    texts = texts_without(kote_texts(chat_dir), held_out_chat_texts())
    order = np.random.default_rng(seed).permutation(len(texts))[:rows]
    return [texts[i] for i in order]


def main(argv: list[str]) -> None:
    options = dict(arg.split("=", 1) for arg in argv)
    teacher_registry = Path(options.pop("teacher"))
    chat_rows = int(options.pop("chat_rows", "4000"))
    with_labels = options.pop("labels", "1") == "1"
    shuffle_seed = int(options.pop("shuffle", "0"))
    registry = TrainingPaths.from_env().registry_dir
    with tempfile.TemporaryDirectory() as scratch:
        loop = Loop(Path(registry), Path(scratch) / "student")
        teacher: Servable = Loop(teacher_registry, Path(scratch) / "teacher").base
        student: Servable = loop.base
        wrong = loop._wrong_verdicts(TWENTY)
        if shuffle_seed:  # the same texts, their labels shuffled: a batch of noise
            shuffled = np.random.default_rng(shuffle_seed).permutation(wrong.labels)
            wrong = dataclasses.replace(wrong, labels=[int(label) for label in shuffled])
        rows = [
            CorrectionRow(k + 1, text, label, 1_000 + k, float(k))
            for k, (text, label) in enumerate(zip(wrong.texts, wrong.labels, strict=True))
        ]
        recipe = RetrainRecipe()
        focus = dataclasses.replace(
            recipe.focus,
            **{
                k: int(v) if k in ("steps", "batch_size", "replay_rows") else float(v)
                for k, v in options.items()
            },
        )
        before = _positive(student, sorted({normalise(text) for text in wrong.texts}))
        selection = select_for_training(rows, before, recipe.trust, recipe.gate.folds)
        used = selection.used
        replay = _replay(load_split("train"), recipe)
        transfer_texts = list(replay.texts) + _chat_texts(chat_rows, recipe.seed)
        teacher_focuser = Focuser(
            teacher, replay, recipe.focus, _learning_rate(teacher, recipe), recipe.seed
        )
        teacher_before_all = _positive(teacher, transfer_texts + list(selection.texts))
        student_own = _positive(student, transfer_texts + list(selection.texts))
        networks: dict[int, NetworkTrainer] = {}
        moved: dict[str, list[float]] = {"teacher": [], "student": []}
        for fold in range(recipe.gate.folds):
            inside, outside = selection.split(fold)
            if not inside or not outside:
                continue
            share = len(inside) / len(used)
            subset = Labelled.of(inside)
            probe = _assemble(teacher, teacher_focuser.train(subset, share=share))
            fold_transfer = transfer_texts + list(subset.texts)
            teacher_after = _positive(probe, fold_transfer)
            targets = np.clip(
                [student_own[t] + teacher_after[t] - teacher_before_all[t] for t in fold_transfer],
                0.0,
                1.0,
            ).astype(np.float32)
            transfer = Labelled(fold_transfer, [0] * len(fold_transfer))
            corrections = (
                subset
                if with_labels
                else Labelled(subset.texts, [teacher_after[t] for t in subset.texts])
            )
            trained = []
            for index, member in enumerate(members_of_model(student)):
                if isinstance(member, NgramModel):
                    trained.append(focus_ngram(member, transfer, corrections, focus))
                    continue
                assert isinstance(member, SentimentModel)
                if index not in networks:
                    networks[index] = NetworkTrainer(
                        member, transfer, focus, _learning_rate(student, recipe), recipe.seed
                    )
                trainer = networks[index]
                trainer.replay_ids = _trainable_ids(member.encode_many(fold_transfer))
                trainer.replay_targets = targets
                trained.append(trainer.train(corrections, share))
            student_probe = _assemble(student, trained)
            texts = [e.text for e in outside]
            labels = [e.label for e in outside]
            teacher_out = _positive(probe, texts)
            student_out = _positive(student_probe, texts)
            for text, label in zip(texts, labels, strict=True):
                moved["teacher"].append(_moved(label, teacher_before_all[text], teacher_out[text]))
                moved["student"].append(_moved(label, before[text], student_out[text]))
        for name, values in moved.items():
            _tally(name, values)


if __name__ == "__main__":
    main(sys.argv[1:])
