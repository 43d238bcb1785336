"""Focused fine-tuning: learn a handful of corrections in seconds without forgetting NSMC.

Why not an epoch over NSMC with the corrections added: twenty corrections among 150,000
reviews, at a quarter of the learning rate, are a rounding error (measured: 12 of 22
corrected messages right after 4 minutes; docs/learning-loop.md). Here every batch is a
quarter corrections and three quarters a replay sample of NSMC, for a few hundred steps:
the corrections are seen dozens of times, and the replay, fitted to what the network
itself said of each review before, keeps pulling the weights back towards what they
were. Each network then keeps half of the change (a weight-space average with the
current model, WiSE-FT), which on 20 chat corrections kept all 20 learned and halved the
NSMC verdicts that moved (docs/learning-loop.md).

The n-gram member is convex, so it gets the exact counterpart: a fit on the replay sample
plus the weighted corrections with a Gaussian prior centred on its current weights (the
current model is the prior, the new rows the evidence), which leaves every feature the
new rows do not touch as it was. Corrections' unseen words and spellings become features.

One `Focuser` trains several jobs (the gate's cross-validation folds, then the final
candidate) from the same base, reusing each member's compiled Keras model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from nlp.ensemble import (
    Member,
    Readings,
    Servable,
    Trained,
    members_of_model,
    readings_of_members,
)
from nlp.inference import Encoded, SentimentModel
from nlp.ngrams import NgramModel, feature_hashes, message_features, words_of
from training.embedding_rows import UsedRows, table_rows
from training.read_cache import NO_CACHE, ReadCache
from training.recipe import FocusRules
from training.trust import Example

ROUND_TO = 8
MemberCallback = Callable[[int, int, str, dict[str, float]], None]  # member, members, name, logs


@dataclass(frozen=True)
class Labelled:
    texts: Sequence[str]
    labels: Sequence[float]  # 0/1, or a probability (training.follow)

    def __len__(self) -> int:
        return len(self.texts)

    @classmethod
    def of(cls, examples: Sequence[Example]) -> Labelled:
        return cls([e.text for e in examples], [e.label for e in examples])


class Learner(Protocol):
    """What the retrain's cross-validation and final candidate need: a base model and a
    way to train corrections into copies of it (`Focuser`, or training.follow.Follower for
    a student that learns through its teacher)."""

    @property
    def base(self) -> Servable: ...

    def train(
        self, corrections: Labelled, on_member: MemberCallback | None = None, share: float = 1.0
    ) -> list[Trained]: ...


class Focuser:
    """Trains corrections into copies of `base`; the base itself is never changed."""

    def __init__(
        self,
        base: Servable,
        replay: Labelled,
        rules: FocusRules,
        learning_rate: float,
        seed: int,
        cache: ReadCache = NO_CACHE,
    ) -> None:
        """`cache`: where the replay's readings and the members' verdicts of it are kept
        between retrains (training.read_cache)."""
        self.base = base
        self.replay = replay
        self.rules = rules
        self.learning_rate = learning_rate
        self.seed = seed
        self.cache = cache
        self._networks: dict[int, NetworkTrainer] = {}
        self._ngrams: dict[int, NgramTrainer] = {}

    @cached_property
    def readings(self) -> Readings:
        """The replay read by every member once, side by side (nlp.ensemble): each
        network's trainer and a follower's probes of this teacher (training.follow)."""
        return self.cache.readings(self.base, self.replay.texts)

    def train(
        self,
        corrections: Labelled,
        on_member: MemberCallback | None = None,
        share: float = 1.0,
        replay_shift: np.ndarray | None = None,
    ) -> list[Trained]:
        """Every member of the base, updated with `corrections`; (member, history) pairs.

        `share` scales the networks' steps: a cross-validation probe trained on half the
        corrections takes half the steps, so each correction is seen as often as in the
        final model, which is what the probe stands in for. `replay_shift`, one value per
        replay text, is added to the networks' replay targets (their own probabilities),
        which stay within [0, 1]: what a teacher's fine-tune changed (training.follow)."""
        members = members_of_model(self.base)
        trained: list[Trained] = []
        for index, member in enumerate(members):
            updated: Member
            if isinstance(member, NgramModel):
                if index not in self._ngrams:
                    self._ngrams[index] = NgramTrainer(member, self.replay, self.rules)
                updated, history = self._ngrams[index].train(corrections)
            else:
                trainer = self._network(index, member)
                targets = None
                if replay_shift is not None:
                    targets = np.clip(trainer.replay_targets + replay_shift, 0.0, 1.0)
                updated, history = trainer.train(corrections, share, targets)
            trained.append((updated, history))
            if on_member is not None:
                logs = {k: v[-1] for k, v in history.items()}
                on_member(index + 1, len(members), member.config.name, logs)
        return trained

    def own_targets(self) -> np.ndarray:
        """A single network's own P(positive) on the replay, its replay targets: what a
        student keeps where its teacher did not move (training.follow)."""
        (member,) = members_of_model(self.base)
        if not isinstance(member, SentimentModel):
            raise TypeError(f"{member.version} is not one network")
        return self._network(0, member).replay_targets

    def _network(self, index: int, member: SentimentModel) -> NetworkTrainer:
        if index not in self._networks:
            read = readings_of_members(self.readings)[index]
            if not isinstance(read, Encoded):
                raise TypeError(f"member {index} of {self.base.version} is not a network")
            self._networks[index] = NetworkTrainer(
                member, self.replay, self.rules, self.learning_rate, self.seed, read, self.cache
            )
        return self._networks[index]


class NetworkTrainer:
    """One network's Keras model, built and compiled once, reset to the base per job."""

    def __init__(
        self,
        base: SentimentModel,
        replay: Labelled,
        rules: FocusRules,
        learning_rate: float,
        seed: int,
        readings: Encoded | None = None,
        cache: ReadCache = NO_CACHE,
    ) -> None:
        """`readings`: the replay as `base` reads it, when already read; `cache`: where its
        own verdicts of the replay are kept between retrains."""
        self.base = base
        self.rules = rules
        self.learning_rate = learning_rate
        self.seed = seed
        read = base.encode_many(replay.texts) if readings is None else readings
        self.replay_ids = _trainable_ids(read)
        self.replay_targets = cache.positives(
            base, replay.texts, lambda: _own_probabilities(base, read)
        )
        self.vocabulary_rows = len(base.weights["embedding"])
        self._build(table_rows(len(UsedRows.of(self.replay_ids)), self.vocabulary_rows))

    def _build(self, rows: int, streams: list[np.ndarray] | None = None) -> None:
        """The Keras model over an embedding table of `rows` rows (training.embedding_rows),
        and its traced step. Built again only for a job that reads more rows, given the
        last model's dropout `streams` to go on from, so that the jobs' weights do not
        depend on when that happens."""
        import keras

        from nlp.model import build_model

        keras.utils.set_random_seed(self.seed)
        config = self.base.config.with_overrides(learning_rate=self.learning_rate, vocab_size=rows)
        self.model = build_model(config)
        self.table_rows = rows
        self._step = _one_step(self.model)
        if streams is not None:
            for variable, value in zip(self.model.non_trainable_variables, streams, strict=True):
                variable.assign(value)

    def train(
        self,
        corrections: Labelled,
        share: float = 1.0,
        replay_targets: np.ndarray | None = None,
    ) -> tuple[SentimentModel, dict[str, list[float]]]:
        """`replay_targets`: the replay's targets when not the network's own probabilities
        (training.follow: a student's own plus its teacher's change)."""
        from nlp.model import export_weights, import_weights

        ids = _trainable_ids(self.base.encode_many(corrections.texts))
        used = UsedRows.of(self.replay_ids, ids)
        if len(used) > self.table_rows:
            streams = [variable.numpy() for variable in self.model.non_trainable_variables]
            self._build(table_rows(len(used), self.vocabulary_rows), streams)
        embedding = self.base.weights["embedding"]
        start = self.base.weights | {"embedding": used.table(embedding, self.table_rows)}
        import_weights(self.model, self.base.config, start)
        for variable in self.model.optimizer.variables:  # a fresh Adam for every job
            if variable.name != "learning_rate":
                variable.assign(np.zeros(variable.shape, dtype=variable.dtype))
        steps = max(1, round(self.rules.steps * share))
        batches = _mixed_batches(
            self.replay_ids,
            self.replay_targets if replay_targets is None else replay_targets,
            ids,
            np.asarray(corrections.labels),
            self.rules,
            steps,
            self.seed,
        )
        batches = [(used.renumbered(matrix), targets) for matrix, targets in batches]
        history = _fitted(self.model, self._step, batches)
        tuned = export_weights(self.model, self.base.config)
        tuned["embedding"] = used.merged(embedding, tuned["embedding"])
        weights = _interpolated(self.base.weights, tuned, self.rules.interpolation)
        member = SentimentModel(
            self.base.config,
            self.base.vocabulary,
            weights,
            self.base.version,
            tokenizer=self.base.tokenizer,
        )
        return member, history


def _trainable_ids(readings: Encoded) -> list[list[int]]:
    """Each message's token ids as the served model reads them; a message with none is
    the unknown token alone, so that every row of a batch has a step."""
    return [ids or [1] for ids in readings.id_lists]


def _own_probabilities(network: SentimentModel, readings: Encoded) -> np.ndarray:
    """The network's P(positive) for each replay review before the fine-tune, as served
    (the trace's final value): the replay's targets rather than the reviews' 0/1 labels
    (learning without forgetting, Li & Hoiem 2016, as the n-gram member's refit does). At
    the current weights the replay then pulls nowhere and only resists what the
    corrections change; 0/1 targets pulled a network distilled from soft labels towards
    surer verdicts on every review, which the gate saw as broken NSMC verdicts
    (docs/learning-loop.md, "Networks replay their own probabilities")."""
    traces = network.trace_encoded(readings)
    return np.asarray([trace.positive for trace in traces], dtype=np.float32)


def _interpolated(
    base: dict[str, np.ndarray], tuned: dict[str, np.ndarray], share: float
) -> dict[str, np.ndarray]:
    """base + share * (tuned - base): weights fine-tuned from the same start stay on a
    low-loss path, so halfway keeps what was learned and gives back most of the drift."""
    return {name: base[name] + share * (tuned[name] - base[name]) for name in base}


def _mixed_batches(
    replay_ids: list[list[int]],
    replay_targets: np.ndarray,
    correction_ids: list[list[int]],
    correction_labels: np.ndarray,
    rules: FocusRules,
    steps: int,
    seed: int,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """`steps` padded batches, `correction_share` of each drawn from the corrections (with
    replacement, so a few are seen many times) and the rest a group of replay reviews of
    about the same length (`_replay_groups`), the groups in a new random order every pass.

    A batch pads to its longest row, so the corrections are drawn for every step at once
    and dealt out by length: the shortest draws to the batch of the shortest replay group.
    Each correction is still drawn as often; random draws beside a length group padded a
    student's batches to 83 pieces where its rows average 23 (docs/learning-loop.md)."""
    rng = np.random.default_rng(seed)
    per_batch = max(1, round(rules.batch_size * rules.correction_share))
    groups = _replay_groups(replay_ids, rules.batch_size - per_batch, rng)
    order: list[int] = []
    replayed = []
    for _ in range(steps):
        if not order:
            order = list(rng.permutation(len(groups)))
        replayed.append(groups[order.pop()])
    draws = _by_length(rng.integers(0, len(correction_ids), steps * per_batch), correction_ids, rng)
    widths = [max(len(replay_ids[i]) for i in rows) for rows in replayed]
    dealt = np.empty((steps, per_batch), dtype=np.int64)
    dealt[np.argsort(widths, kind="stable")] = draws.reshape(steps, per_batch)
    batches = []
    for rows, chosen in zip(replayed, dealt, strict=True):
        id_lists = [replay_ids[i] for i in rows] + [correction_ids[i] for i in chosen]
        targets = np.concatenate([replay_targets[rows], correction_labels[chosen]])
        batches.append((_pad(id_lists), targets.astype(np.float32)))
    return batches


def _by_length(
    rows: np.ndarray, id_lists: Sequence[Sequence[int]], rng: np.random.Generator
) -> np.ndarray:
    """`rows` from the shortest to the longest, ties in random order."""
    lengths = np.asarray([len(id_lists[i]) for i in rows], dtype=np.float64)
    return rows[np.lexsort((rng.random(len(rows)), lengths))]


def _replay_groups(
    replay_ids: list[list[int]], size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """The replay cut into groups of `size` reviews of about the same length. A batch is
    padded to its longest row and a recurrent step costs the same for padding as for a
    token: random groups of 48 NSMC reviews pad to ~136 syllables where the mean review
    has 35, so length groups make a step about three times cheaper; every review is still
    replayed once a pass. Ties in length are broken at random; groups differ in size by one
    at most."""
    order = _by_length(np.arange(len(replay_ids)), replay_ids, rng)
    return list(np.array_split(order, max(1, -(-len(order) // size))))


def _pad(id_lists: Sequence[Sequence[int]]) -> np.ndarray:
    width = -(-max(len(ids) for ids in id_lists) // ROUND_TO) * ROUND_TO
    matrix = np.zeros((len(id_lists), width), dtype=np.int32)
    for row, ids in enumerate(id_lists):
        matrix[row, : len(ids)] = ids
    return matrix


def _one_step(model: Any) -> Callable[[tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    """Keras's own training step, traced once for batches of any size and width. `fit`
    traced it for the first batch's shape, again for the next width (the Kiwi network's
    first two steps: 1.2 and 0.6 s) and for each new job's first batches; a signature
    that fits every batch traces it once per network and retrain."""
    import tensorflow as tf

    _build_state(model)
    signature = (
        tf.TensorSpec(shape=(None, None), dtype=tf.int32),
        tf.TensorSpec(shape=(None,), dtype=tf.float32),  # P(positive): 0/1 or the replay's own
    )
    step = tf.function(model.train_step, input_signature=[signature], autograph=False)
    return step  # type: ignore[no-any-return]


def _build_state(model: Any) -> None:
    """The optimizer's and the metrics' variables, made before the step is traced: a
    `tf.function` that creates variables in its first call traces twice (the student's
    first step took 2.7 s, against 1.4 s with them made first)."""
    ids, target = np.ones((1, 1), dtype=np.int32), np.ones(1, dtype=np.float32)
    predicted = model(ids, training=False)
    model.compute_loss(ids, target, predicted)
    model.compute_metrics(ids, target, predicted, sample_weight=None)
    model.reset_metrics()
    model.optimizer.build(model.trainable_variables)


def _fitted(
    model: Any,
    step: Callable[[tuple[np.ndarray, np.ndarray]], dict[str, Any]],
    batches: list[tuple[np.ndarray, np.ndarray]],
) -> dict[str, list[float]]:
    """One pass over `batches`, a step each, fed one by one. Through a `tf.data`
    generator (with `fit`), the Kiwi network's 120 steps mostly took 5.1 s against 3.4 s
    fed one by one (docs/learning-loop.md, "One trace, one reading"). The history as `fit`
    gives it: each metric's mean over the pass."""
    model.reset_metrics()
    logs: dict[str, Any] = {}
    for ids, targets in batches:
        logs = step((ids, targets))
    return {name: [float(value)] for name, value in logs.items()}


# --- the n-gram member ------------------------------------------------------------------


def focus_ngram(
    base: NgramModel, replay: Labelled, corrections: Labelled, rules: FocusRules
) -> tuple[NgramModel, dict[str, list[float]]]:
    """One refit of the n-gram member (`NgramTrainer`, for a single job)."""
    return NgramTrainer(base, replay, rules).train(corrections)


class NgramTrainer:
    """The n-gram member's refit, its replay's features and their hashes read once.

    They do not depend on the corrections, and reading and hashing the 4,000 replay
    reviews' features again was 0.7 s of each refit's 1.7 s (the fit itself: 1.0 s)."""

    def __init__(self, base: NgramModel, replay: Labelled, rules: FocusRules) -> None:
        self.base = base
        self.rules = rules
        longest = base.config.max_char_ngram
        self.rows = [message_features(words_of(t), longest) for t in replay.texts]
        distinct = sorted({f for features in self.rows for f in features})
        self._hash_of = dict(zip(distinct, feature_hashes(distinct).tolist(), strict=True))
        self.known = set(self._known(distinct))

    def train(self, corrections: Labelled) -> tuple[NgramModel, dict[str, list[float]]]:
        """Minimise  C * sum_i w_i * logloss_i + 1/2 * ||theta - theta_base||^2  over the
        features the replay and the corrections contain (new ones start at 0); the
        intercept stays, so the update cannot shift every verdict at once."""
        from scipy.optimize import minimize

        base, config = self.base, self.base.config
        correction_rows = [
            message_features(words_of(t), config.max_char_ngram) for t in corrections.texts
        ]
        taught = {f for features in correction_rows for f in features}
        new = taught - set(self._known(sorted(taught)))
        columns = sorted(self.known | taught)
        hashes = self._hashes(columns)
        column_of = {feature: column for column, feature in enumerate(columns)}
        matrix = _binary_matrix(column_of, self.rows + correction_rows)
        prior = np.asarray(base.weights_of_hashes(hashes), dtype=np.float64)
        intercept = float(base.weights["intercept"][0])
        replay_matrix = matrix[: len(self.rows)]
        # The replay's targets are the model's own probabilities, not the reviews' labels:
        # at the current weights the replay then pulls nowhere and only resists what the
        # corrections would change on reviews (learning without forgetting, Li & Hoiem 2016).
        own = _sigmoid(replay_matrix @ prior + intercept)
        labels = np.concatenate([own, np.asarray(corrections.labels, dtype=np.float64)])
        weight = (
            np.concatenate(
                [
                    np.ones(len(self.rows)),
                    np.full(len(correction_rows), self.rules.ngram_correction_weight),
                ]
            )
            * config.regularization
        )

        def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
            logits = matrix @ theta + intercept
            # log(1 + e^z) - y z, written to stay finite for large |z|
            loss = np.logaddexp(0.0, logits) - labels * logits
            residual = weight * (_sigmoid(logits) - labels)
            delta = theta - prior
            return float(weight @ loss + 0.5 * delta @ delta), matrix.T @ residual + delta

        solution = minimize(
            loss_and_gradient, prior, jac=True, method="L-BFGS-B", options={"maxiter": 500}
        )
        updated = _merged_weights(base, hashes, solution.x)
        model = NgramModel(config, base.vocabulary, updated, base.version)
        return model, {"loss": [float(solution.fun)], "new_features": [float(len(new))]}

    def _hashes(self, features: Sequence[str]) -> np.ndarray:
        unseen = [f for f in features if f not in self._hash_of]
        self._hash_of.update(zip(unseen, feature_hashes(unseen).tolist(), strict=True))
        return np.asarray([self._hash_of[f] for f in features], dtype=np.uint64)

    def _known(self, features: Sequence[str]) -> list[str]:
        """The features the base already has a weight slot for."""
        _, known = self.base.slots_of(self._hashes(features))
        return [feature for feature, hit in zip(features, known, strict=True) if hit]


def _binary_matrix(column_of: dict[str, int], rows: list[set[str]]) -> Any:
    from scipy.sparse import csr_matrix

    indices: list[int] = []
    pointers = [0]
    for features in rows:
        indices.extend(column_of[f] for f in features if f in column_of)
        pointers.append(len(indices))
    data = np.ones(len(indices), dtype=np.float64)
    return csr_matrix((data, indices, pointers), shape=(len(rows), len(column_of)))


def _merged_weights(
    base: NgramModel, hashes: np.ndarray, values: np.ndarray
) -> dict[str, np.ndarray]:
    """The base's table with the updated columns (`hashes`) written in and new features
    inserted."""
    table = base.weights["feature_hash"]
    coef = base.weights["coef"].astype(np.float32).copy()
    slots, present = base.slots_of(hashes)
    coef[slots[present]] = values[present]
    merged_hashes = np.concatenate([table, hashes[~present]])
    merged_coef = np.concatenate([coef, values[~present].astype(np.float32)])
    order = np.argsort(merged_hashes)
    return {
        "feature_hash": merged_hashes[order],
        "coef": merged_coef[order],
        "intercept": base.weights["intercept"].copy(),
    }


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * values))
