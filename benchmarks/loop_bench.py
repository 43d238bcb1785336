"""`python -m benchmarks.loop_bench` (`make bench-loop`): does the learning loop learn?

Simulated users correct the current model's verdicts on the hand-written chat messages
in benchmarks/chat/ (see its README); every retrain goes through the real command line,
`python -m training.retrain`, against a copy of the registry (CURRENT is never moved).

1. Twenty users each correct one wrong verdict of the "corrected" half (then of
   chat_dev.txt, for a model right on all but a few of the half): is the candidate
   accepted, does it answer them as corrected, do the "unseen" half and NSMC change?
2. A learning curve: accuracy on the unseen half after 0, 25, 50, 100 and all labelled
   messages of the corrected half (each labelled by a different user; a message the
   model already gets right counts as a confirmation).
3. The time budget: a retrain of 1,000 corrections.
4. Poisoning: one user sends 50 wrong corrections of clear-cut reviews; how many verdicts
   of other users change, before retraining (the overlay) and after it? And when the
   same 50 arrive in a batch with 20 honest users' corrections?

Prints each figure as it goes, and each retrain's progress events with the seconds since
its process started; ends with one JSON line. `--stages 1` runs only the first (a few
minutes), `--stages 1,3` the first and the third.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import rounded
from bot.overlay import CorrectionOverlay, Vote
from nlp.ensemble import Servable
from training.data import Corpus, load_split, read_corpus
from training.protocol import ProgressEvent, RetrainCommand, RetrainResult
from training.recipe import RetrainRecipe
from training.registry import Registry
from training.trust import CorrectionRow, write_rows

CHAT = Path(__file__).with_name("chat")
CANARY = Path(__file__).resolve().parents[1] / "training" / "canary.tsv"
CURVE = (25, 50, 100, 1_000)  # 1,000: every message of the corrected half
NSMC_ROWS = 10_000  # from the end of the test file: the gate reads its head
POISON_ROWS = 50
TWENTY = 20  # users who each correct one wrong verdict


@dataclass(frozen=True)
class Wrong:
    """Messages the model gets wrong, with their right labels."""

    texts: list[str]
    labels: list[int]
    from_dev: int  # how many of them come from chat_dev.txt


def accuracy(model: Servable, data: Corpus) -> float:
    traces = model.trace_batch(data.texts)
    return sum(t.label == y for t, y in zip(traces, data.labels, strict=True)) / len(data)


def run_retrain(
    registry: Path, rows: list[CorrectionRow], scratch: Path, recipe: Path | None = None
) -> RetrainResult:
    corrections, out = scratch / "corrections.json", scratch / "result.json"
    write_rows(corrections, rows)
    command = RetrainCommand(registry, corrections, out_result=out, recipe=recipe).argv()
    started = time.monotonic()
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        for line in child.stdout:
            event = ProgressEvent.from_json(line)
            if event is not None:
                print(f"  {time.monotonic() - started:6.1f} s  {_describe(event)}", flush=True)
    result = RetrainResult.read(out)
    if result is None:
        raise RuntimeError("the retraining process wrote no result")
    return result


def _describe(event: ProgressEvent) -> str:
    """One line per progress event: where the retrain's seconds go."""
    parts = [event.kind.value, event.stage.value if event.stage else "", event.job or ""]
    if event.member_name:
        parts.append(f"member {event.member}/{event.members} {event.member_name}")
    if event.status:
        parts.append(event.status)
    return " ".join(part for part in parts if part)


class Loop:
    def __init__(self, registry_dir: Path, scratch: Path, recipe: Path | None = None) -> None:
        self.root = scratch / "models"
        shutil.copytree(registry_dir, self.root, ignore=shutil.ignore_patterns(".staging"))
        self.scratch = scratch
        self.recipe = recipe  # a RetrainRecipe as JSON; the default recipe without one
        self.registry = Registry(self.root)
        self.base = self.registry.load_current()
        self.corrected = read_corpus(CHAT / "chat_corrected.txt")
        self.unseen = read_corpus(CHAT / "chat_unseen.txt")
        self.dev = read_corpus(CHAT / "chat_dev.txt")
        test = load_split("test")
        self.nsmc = Corpus(
            test.texts[-NSMC_ROWS:], test.labels[-NSMC_ROWS:], 0, test.source, test.sha256
        )
        self.canary = read_corpus(CANARY)
        self.base_verdicts = [t.label for t in self.base.trace_batch(self.corrected.texts)]
        self.figures: dict[str, Any] = {}  # numbers, and the status of a run

    def candidate(self, result: RetrainResult) -> Servable:
        return (
            self.registry.load(result.candidate_version) if result.candidate_version else self.base
        )

    def record(self, name: str, value: float | int | str) -> None:
        self.figures[name] = value
        print(f"{name}: {value}")

    def baseline(self) -> None:
        self.record("chat_corrected_accuracy_before", accuracy(self.base, self.corrected))
        self.record("chat_unseen_accuracy_before", accuracy(self.base, self.unseen))
        self.record("nsmc_accuracy_before", accuracy(self.base, self.nsmc))

    def twenty_users(self) -> None:
        wrong = self._wrong_verdicts(TWENTY)
        self.record("retrain_20_from_chat_dev", wrong.from_dev)
        rows = [
            CorrectionRow(k + 1, text, label, 1_000 + k, float(k))
            for k, (text, label) in enumerate(zip(wrong.texts, wrong.labels, strict=True))
        ]
        started = time.monotonic()
        result = run_retrain(self.root, rows, self.scratch, self.recipe)
        self.record("retrain_20_seconds", time.monotonic() - started)
        self.record("retrain_20_accepted", int(result.accepted))
        self._print_checks(result)
        model = self.candidate(result)
        learned = [t.label for t in model.trace_batch(list(wrong.texts))]
        hits = sum(label == y for label, y in zip(learned, wrong.labels, strict=True))
        self.record("retrain_20_corrected_share", hits / len(wrong.texts))
        self.record("retrain_20_chat_unseen_accuracy", accuracy(model, self.unseen))
        self.record("retrain_20_nsmc_accuracy", accuracy(model, self.nsmc))
        nsmc_change = (
            self.figures["retrain_20_nsmc_accuracy"] - self.figures["nsmc_accuracy_before"]
        )
        self.record("retrain_20_nsmc_change_points", 100 * nsmc_change)
        self.record(
            "retrain_20_chat_unseen_gain_points",
            100
            * (
                self.figures["retrain_20_chat_unseen_accuracy"]
                - self.figures["chat_unseen_accuracy_before"]
            ),
        )
        self._discard(result)

    def curve(self) -> None:
        for size in CURVE:
            count = min(size, len(self.corrected))
            rows = [self._row(k, k, user=2_000 + k) for k in range(count)]
            corrections = sum(
                self.base_verdicts[k] != self.corrected.labels[k] for k in range(count)
            )
            started = time.monotonic()
            result = run_retrain(self.root, rows, self.scratch, self.recipe)
            seconds = time.monotonic() - started
            self._print_checks(result)
            model = self.candidate(result)
            self.record(f"curve_{count}_labelled_corrections", corrections)
            self.record(f"curve_{count}_accepted", int(result.accepted))
            self.record(f"curve_{count}_chat_unseen_accuracy", accuracy(model, self.unseen))
            self.record(f"curve_{count}_seconds", seconds)
            self._discard(result)

    def thousand(self) -> None:
        """The time budget: 1,000 corrections from 1,000 users (the corrected half, then
        reviews from the end of the NSMC test file with their own labels)."""
        texts = (self.corrected.texts + self.nsmc.texts)[:1_000]
        labels = (self.corrected.labels + self.nsmc.labels)[:1_000]
        rows = [
            CorrectionRow(k + 1, t, y, 5_000 + k, float(k))
            for k, (t, y) in enumerate(zip(texts, labels, strict=True))
        ]
        started = time.monotonic()
        result = run_retrain(self.root, rows, self.scratch, self.recipe)
        self.record("retrain_1000_seconds", time.monotonic() - started)
        self.record("retrain_1000_accepted", int(result.accepted))
        self._print_checks(result)
        self._discard(result)

    def _poison_rows(self, user: int) -> tuple[list[CorrectionRow], list[str]]:
        """50 reviews the model gets right and is sure of, each with the label flipped, and
        the texts to watch: those reviews and the canaries."""
        traces = self.base.trace_batch(self.nsmc.texts[:2_000])
        clear = [
            i
            for i, t in enumerate(traces)
            if t.confidence >= 0.9 and t.label == self.nsmc.labels[i]
        ][:POISON_ROWS]
        rows = [
            CorrectionRow(k + 1, self.nsmc.texts[i], 1 - self.nsmc.labels[i], user, float(k))
            for k, i in enumerate(clear)
        ]
        return rows, [self.nsmc.texts[i] for i in clear] + self.canary.texts

    def poisoning_among_honest_users(self) -> None:
        """The same 50 rows in one batch with 20 honest users' corrections."""
        rows, probe = self._poison_rows(666)
        wrong = self._wrong_verdicts(TWENTY)
        honest = [
            CorrectionRow(1_001 + k, text, label, 1_000 + k, float(1_000 + k))
            for k, (text, label) in enumerate(zip(wrong.texts, wrong.labels, strict=True))
        ]
        before = [t.label for t in self.base.trace_batch(probe)]
        result = run_retrain(self.root, rows + honest, self.scratch, self.recipe)
        self._print_checks(result)
        after = [t.label for t in self.candidate(result).trace_batch(probe)]
        used = sum(1 for i in result.corrections.used_ids if i <= POISON_ROWS)
        self.record("poison_mixed_accepted", int(result.accepted))
        self.record("poison_mixed_poisoned_rows_used", used)
        self.record(
            "poison_mixed_other_users_changed_after_retrain",
            sum(a != b for a, b in zip(before, after, strict=True)),
        )
        self._discard(result)

    def poisoning(self) -> None:
        """One user flips the label of 50 reviews the model is sure of."""
        rows, probe = self._poison_rows(666)
        before = [t.label for t in self.base.trace_batch(probe)]
        votes = [Vote(r.text, r.user_id, r.corrected_label) for r in rows]
        overlay = CorrectionOverlay.of(RetrainRecipe().trust, votes)
        positives = [t.positive for t in self.base.trace_batch(probe)]
        shown = [
            (v.label if (v := overlay.lookup(text, 777, p)) else int(p >= 0.5))
            for text, p in zip(probe, positives, strict=True)
        ]
        self.record(
            "poison_other_users_changed_before_retrain",
            sum(a != b for a, b in zip(before, shown, strict=True)),
        )
        result = run_retrain(self.root, rows, self.scratch, self.recipe)
        after = [t.label for t in self.candidate(result).trace_batch(probe)]
        self.record("poison_retrain_status", result.status.value)
        self.record(
            "poison_other_users_changed_after_retrain",
            sum(a != b for a, b in zip(before, after, strict=True)),
        )
        self._discard(result)

    def _wrong_verdicts(self, count: int) -> Wrong:
        """`count` messages the model gets wrong, with their right labels: the corrected
        half's first, then, for a model right on nearly all of them, chat_dev.txt's (the
        other file of the chat development set; chat_unseen.txt is never corrected)."""
        texts: list[str] = []
        labels: list[int] = []
        for data in (self.corrected, self.dev):
            verdicts = (
                self.base_verdicts
                if data is self.corrected
                else [t.label for t in self.base.trace_batch(data.texts)]
            )
            for text, verdict, label in zip(data.texts, verdicts, data.labels, strict=True):
                if verdict != label and len(texts) < count:
                    texts.append(text)
                    labels.append(label)
            if data is self.corrected:
                from_corrected = len(texts)
        return Wrong(texts, labels, len(texts) - from_corrected)

    @staticmethod
    def _print_checks(result: RetrainResult) -> None:
        print(
            f"  {result.status.value}; corrections used {result.corrections.used}, "
            f"waiting {result.corrections.waiting_by_reason}"
        )
        for check in result.decision.checks if result.decision else ():
            print(f"  {check.summary}")

    def _row(self, row_id: int, index: int, user: int) -> CorrectionRow:
        return CorrectionRow(
            row_id + 1,
            self.corrected.texts[index],
            self.corrected.labels[index],
            user,
            float(row_id),
        )

    def _discard(self, result: RetrainResult) -> None:
        if result.candidate_version:
            self.registry.discard(result.candidate_version)


STAGES = 4


def _arguments(argv: list[str] | None) -> tuple[set[int], Path | None]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loop_bench")
    parser.add_argument(
        "--recipe", type=Path, default=None, help="a RetrainRecipe as JSON for every retrain"
    )
    parser.add_argument(
        "--stages",
        default=",".join(str(n) for n in range(1, STAGES + 1)),
        help="which stages to run, e.g. 1 or 1,3 (default: all four)",
    )
    args = parser.parse_args(argv)
    try:
        chosen = {int(part) for part in args.stages.split(",") if part.strip()}
    except ValueError:
        parser.error(f"--stages takes numbers from 1 to {STAGES}, not {args.stages!r}")
    if not chosen or not chosen <= set(range(1, STAGES + 1)):
        parser.error(f"--stages takes numbers from 1 to {STAGES}, not {args.stages!r}")
    return chosen, args.recipe


def main(argv: list[str] | None = None) -> int:
    stages, recipe = _arguments(argv)
    registry = Registry.from_env()
    with tempfile.TemporaryDirectory(prefix="loop-bench-") as scratch:
        loop = Loop(registry.root, Path(scratch), recipe)
        print(f"learning loop on model {loop.base.version}")
        loop.baseline()
        if 1 in stages:
            loop.twenty_users()
        if 2 in stages:
            loop.curve()
        if 3 in stages:
            loop.thousand()
        if 4 in stages:
            loop.poisoning()
            loop.poisoning_among_honest_users()
        figures = dict(loop.figures)
    print(json.dumps(rounded({k: v for k, v in figures.items() if not isinstance(v, str)})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
