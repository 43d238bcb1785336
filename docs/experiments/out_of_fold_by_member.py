"""Which members of a model carry the gate's generalisation check: the focused retrain's
cross-validation (training.retrain._cross_validate) on `make bench-loop`'s twenty users,
with each held-out correction's P(positive) read from every member of the fold's probe as
well as from the model it assembles.

    MODEL_REGISTRY=<a registry> PYTHONPATH=. \
        python docs/experiments/out_of_fold_by_member.py [steps=240 ...]

Arguments override the focused retrain's `FocusRules` (training.recipe) by name;
`batch=<registry>` takes the twenty messages that registry's current model gets wrong
(another model's mistakes) instead of this model's own.

Prints, per member and for the assembled model, how many held-out corrections moved
towards their label and how many away (by more than the gate's threshold), and the
positive- and negative-labelled ones' mean movement towards their label.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from pathlib import Path

from benchmarks.loop_bench import TWENTY, Loop
from nlp.ensemble import Servable, members_of_model
from training.data import load_split
from training.focus import Focuser, Labelled
from training.gate import MOVED
from training.paths import TrainingPaths
from training.recipe import RetrainRecipe
from training.retrain import _assemble, _learning_rate, _positive, _replay
from training.trust import CorrectionRow, normalise, select_for_training


def _moved(label: int, before: float, after: float) -> float:
    return (after - before) * (1 if label == 1 else -1)


def _tally(name: str, rows: list[tuple[int, float]]) -> None:
    toward = sum(m > MOVED for _, m in rows)
    away = sum(m < -MOVED for _, m in rows)
    by_label = {label: [m for y, m in rows if y == label] for label in (0, 1)}
    means = ", ".join(
        f"label {label}: {sum(ms) / len(ms):+.3f} (n={len(ms)})"
        for label, ms in by_label.items()
        if ms
    )
    print(f"{name:28} towards {toward:2d}  away {away:2d}  mean movement {means}")


def main(argv: list[str]) -> None:
    registry = TrainingPaths.from_env().registry_dir
    with tempfile.TemporaryDirectory() as scratch:
        loop = Loop(Path(registry), Path(scratch))
        base: Servable = loop.base
        batch_from = [arg.split("=", 1)[1] for arg in argv if arg.startswith("batch=")]
        argv = [arg for arg in argv if not arg.startswith("batch=")]
        if batch_from:
            other = Loop(Path(batch_from[0]), Path(scratch) / "other")
            wrong = other._wrong_verdicts(TWENTY)
        else:
            wrong = loop._wrong_verdicts(TWENTY)
        rows = [
            CorrectionRow(k + 1, text, label, 1_000 + k, float(k))
            for k, (text, label) in enumerate(zip(wrong.texts, wrong.labels, strict=True))
        ]
        overrides = {key: float(value) for key, value in (arg.split("=") for arg in argv)}
        focus = dataclasses.replace(
            RetrainRecipe().focus,
            **{
                k: int(v) if k in ("steps", "batch_size", "replay_rows") else v
                for k, v in overrides.items()
            },
        )
        recipe = dataclasses.replace(RetrainRecipe(), focus=focus)
        members = members_of_model(base)
        before = _positive(base, sorted({normalise(text) for text in wrong.texts}))
        selection = select_for_training(rows, before, recipe.trust, recipe.gate.folds)
        member_before = [_positive(member, selection.texts) for member in members]
        focuser = Focuser(
            base,
            _replay(load_split("train"), recipe),
            recipe.focus,
            _learning_rate(base, recipe),
            recipe.seed,
        )
        moved: dict[str, list[tuple[int, float]]] = {}
        for fold in range(recipe.gate.folds):
            inside, outside = selection.split(fold)
            if not inside or not outside:
                continue
            share = len(inside) / len(selection.used)
            trained = focuser.train(Labelled.of(inside), share=share)
            probe = _assemble(base, trained)
            texts = [e.text for e in outside]
            labels = [e.label for e in outside]
            after = _positive(probe, texts)
            for text, label in zip(texts, labels, strict=True):
                moved.setdefault(f"model {base.version[-4:]}", []).append(
                    (label, _moved(label, before[text], after[text]))
                )
            for index, (member, _) in enumerate(trained):
                member_after = _positive(member, texts)
                name = f"member {index + 1} {member.config.name}"
                for text, label in zip(texts, labels, strict=True):
                    moved.setdefault(name, []).append(
                        (label, _moved(label, member_before[index][text], member_after[text]))
                    )
        for name, rows_moved in moved.items():
            _tally(name, rows_moved)


if __name__ == "__main__":
    main(sys.argv[1:])
