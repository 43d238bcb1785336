"""A student learns corrections through its teacher.

The student (one network over learned pieces, distilled from an ensemble) learns a
handful of corrections by heart but does not generalise them: trained without some of
them, it moves the held-out ones towards their label no more often than chance (10 of 18
for the full-size student), so the gate rejected every student that learned alone. Its
teacher does generalise them (13 of 18 on the same batch), carried by its morpheme
networks (docs/learning-loop.md, "Which members generalise").

So the teacher learns the corrections (training.focus.Focuser, as when it is served) and
the student follows, learning only from the teacher: it is fine-tuned on a transfer set
of NSMC replay and unlabelled chat, each text's target being the student's own
P(positive) plus what the fine-tune changed in the teacher's, and, drawn as often as
corrections are, on the corrections with the fine-tuned teacher's P(positive) as their
targets and the transfer texts the teacher moved most. Where the teacher did not move,
the target is the student's own verdict (learning without forgetting); where it
generalised, the student learns that. Only the change is taken from the teacher, not
its verdicts elsewhere: the student's distillation gap is not reopened and corrections
learned before are not undone. The corrections' own labels are not used: drawn as often,
they pulled the held-out corrections back to chance (docs/learning-loop.md, "The student
learns through its teacher": the twenty users of `make bench-loop` accepted on both
full-size students measured, 15 and 16 of 18-19 out of fold).

Nothing of the teacher is kept: the next retrain fine-tunes the same teacher again, and
its change is again only what the new corrections teach.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from nlp.ensemble import Servable, Trained, members_of_model, positives_read
from nlp.inference import SentimentModel
from training.focus import Focuser, Labelled, MemberCallback
from training.recipe import FocusRules


def teacher_of(metrics: dict[str, Any]) -> str | None:
    """The version a student was distilled from: named by its training run
    (training.train.distilled) and carried by every fine-tune of it."""
    named = metrics.get("teacher") or metrics.get("data", {}).get("distilled", {}).get("teacher")
    return str(named) if named else None


def teacher_to_follow(base: Servable) -> str | None:
    """The version a student learns through: the one a single network was distilled
    from. None for an ensemble, whose teacher is another ensemble that would learn no
    better and cost twice as much."""
    return teacher_of(base.metrics) if isinstance(base, SentimentModel) else None


class Follower:
    """Trains corrections into copies of a student through `teacher`, a `Focuser` of its
    teacher; neither base is changed. Same interface as `Focuser` (training.focus.Learner)."""

    def __init__(
        self,
        student: Servable,
        teacher: Focuser,
        chat: Sequence[str],
        rules: FocusRules,
        learning_rate: float,
        seed: int,
    ) -> None:
        """The transfer set is the teacher's replay and `chat`."""
        self.teacher = teacher
        texts = [*teacher.replay.texts, *chat]
        # The transfer texts are the student's replay (their labels are never read). Its
        # targets hold it back already, so it keeps its whole change: half of the
        # teacher's change did not flip the corrections the teacher had learned. It takes
        # its own number of steps, at a rate that keeps steps times rate (FocusRules).
        own = replace(rules, interpolation=1.0, steps=rules.student_steps)
        rate = learning_rate * rules.steps / rules.student_steps
        cache = teacher.cache
        self.student = Focuser(student, Labelled(texts, [0] * len(texts)), own, rate, seed, cache)
        # Read once: after every fine-tune the teacher traces these texts again, and its
        # members' tokenisers (Kiwi's analyses most of all) cost more than its networks.
        # The replay's readings are the teacher's own trainers' too. The base teacher's
        # readings and verdicts are the same in every retrain: kept between them.
        self.readings = (teacher.readings, cache.readings(teacher.base, chat))
        self.teacher_before = cache.positives(
            teacher.base, texts, lambda: self._teacher_positives(teacher.base)
        )
        self.student_before = self.student.own_targets()  # read once, with its replay
        self.most_moved = rules.transfer_focus_rows

    @property
    def base(self) -> Servable:
        return self.student.base

    def train(
        self, corrections: Labelled, on_member: MemberCallback | None = None, share: float = 1.0
    ) -> list[Trained]:
        """The teacher fine-tuned on `corrections`, then the student towards the teacher's
        change; their members reported as one run, the teacher's first. `share` scales both
        fine-tunes' steps, as `Focuser.train`'s does."""
        from training.train import assemble_model

        teacher_members = len(members_of_model(self.teacher.base))
        total = teacher_members + len(members_of_model(self.base))

        def numbered(first: int) -> MemberCallback:
            def report(index: int, _: int, name: str, logs: dict[str, float]) -> None:
                if on_member is not None:
                    on_member(first + index, total, name, logs)

            return report

        taught = self.teacher.train(corrections, numbered(0), share)
        teacher = assemble_model(self.teacher.base.config, taught, self.teacher.base.version)
        texts = self.student.replay.texts
        change = self._teacher_positives(teacher) - self.teacher_before
        moved = np.argsort(-np.abs(change), kind="stable")[: self.most_moved]
        beside = _beside(
            Labelled(corrections.texts, _probabilities(teacher, corrections.texts).tolist()),
            Labelled(
                [texts[i] for i in moved],
                np.clip(self.student_before[moved] + change[moved], 0.0, 1.0).tolist(),
            ),
        )
        return self.student.train(beside, numbered(teacher_members), share, change)

    def _teacher_positives(self, teacher: Servable) -> np.ndarray:
        """`teacher`'s P(positive) on the transfer texts: the base teacher or a fine-tune."""
        return np.asarray([p for read in self.readings for p in positives_read(teacher, read)])


def _beside(corrections: Labelled, most_moved: Labelled) -> Labelled:
    """What the student draws beside its replay: the texts the teacher moved most and the
    corrections, repeated so that they stay at least half of those rows."""
    repeats = max(1, -(-len(most_moved) // max(1, len(corrections))))
    return Labelled(
        [*corrections.texts] * repeats + [*most_moved.texts],
        [*corrections.labels] * repeats + [*most_moved.labels],
    )


def _probabilities(model: Servable, texts: Sequence[str]) -> np.ndarray:
    return np.asarray([trace.positive for trace in model.trace_batch(list(texts))])
