"""Named model configurations: architecture, tokeniser and training recipe in one value.

A configuration is saved with every model version, so a version can always be rebuilt,
fine-tuned or explained without guessing how it was made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Cell = Literal["lstm", "gru"]


@dataclass(frozen=True)
class ModelConfig:
    name: str
    tokenizer: dict[str, Any]
    vocab_size: int
    embedding_dim: int
    cell: Cell
    units: int
    # Concatenate the running (causal) max of the recurrent outputs to the current state:
    # a strong sentiment word early in a review is not forgotten, and the trace stays exact.
    max_pool: bool
    dropout: float
    batch_size: int
    learning_rate: float
    max_epochs: int
    patience: int
    min_count: int = 2
    # Drops whole token embeddings during training (SpatialDropout1D): regularises the
    # 40k x 128 embedding, the largest and most overfit part of the network.
    embedding_dropout: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    # The last N of a full training's epochs lower the learning rate linearly to 0: Adam at
    # a constant rate keeps stepping past the minimum it circles; annealing settles in it.
    decay_epochs: int = 0
    # The chance that a space of a training text is dropped in an epoch's copy of it (and
    # about a third as many inserted): training.augment. Tokenisers with spaces only. Off in
    # every recipe: 0.15 cost the student 0.1 on NSMC and 2 on chat dev (docs/results.md).
    spacing_noise: float = 0.0
    # Recurrent layers stacked, each of `units` (the top one's states are the features).
    recurrent_layers: int = 1

    @property
    def first_annealed_epoch(self) -> int:
        """The epoch (from 0) where the rate starts to fall; 0 when it never does. The
        learning-rate schedule and early stopping both start from it."""
        return max(0, self.max_epochs - self.decay_epochs) if self.decay_epochs else 0

    @property
    def stopping_patience(self) -> int:
        """Epochs without a better validation score before training stops. An annealed run
        runs every annealed epoch and keeps the best: one dip half-way down the rate (a
        9-epoch student, 0.8831 then 0.8826) must not end it before the rate reaches 0,
        where the last epoch added most (+0.18 points in the recipe's run)."""
        return max(self.patience, self.decay_epochs)

    @property
    def max_tokens(self) -> int:
        return int(self.tokenizer["max_tokens"])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return cls(**data)

    def with_overrides(self, **changes: Any) -> ModelConfig:
        return replace(self, **changes)


SEED = ModelConfig(
    name="seed",
    tokenizer={"name": "seed", "max_chars": 5, "max_tokens": 25},
    vocab_size=20_000,
    embedding_dim=300,
    cell="lstm",
    units=50,
    max_pool=False,
    dropout=0.0,
    batch_size=120,
    learning_rate=1e-3,
    max_epochs=5,
    patience=1,
    min_count=1,
)

KIWI = ModelConfig(
    name="kiwi",
    tokenizer={"name": "kiwi", "max_tokens": 80, "with_tags": True, "multi_dict": False},
    vocab_size=40_000,
    embedding_dim=128,
    cell="lstm",
    units=128,
    max_pool=True,
    dropout=0.5,
    batch_size=128,
    learning_rate=2e-3,
    # Validation peaked at epoch 3 (Kiwi) and 2 (mecab) in every full run; a fourth epoch
    # only confirmed it and cost 45 s of the 20-minute training budget.
    max_epochs=3,
    patience=1,
    embedding_dropout=0.3,
)

MECAB = KIWI.with_overrides(
    name="mecab", tokenizer={"name": "mecab", "max_tokens": 80}, max_epochs=2
)

# Characters carry less per step, so this network learns more slowly: it was still
# improving at epoch 4 (validation 0.8597) and peaked at epoch 7 of 8 (0.8700).
SYLLABLE = KIWI.with_overrides(
    name="syllable",
    tokenizer={"name": "syllable", "max_tokens": 150},
    vocab_size=5_000,
    max_epochs=7,
)

# The previous student recipe (issue 22), kept to compare with and as the student with
# space tokens (`spacing_noise` needs them): one LSTM of 192 units over syllables with a
# space token before each word; 4 epochs of its 2,493 batches at a constant rate, then 3
# that anneal it (annealing alone was worth +0.3-0.5 points in every run: docs/results.md,
# "The student, trained"). From the ensemble 826c: NSMC test 0.8797, 0.73 under it.
STUDENT_LSTM = SYLLABLE.with_overrides(
    name="student-lstm",
    tokenizer={"name": "syllable", "max_tokens": 150, "spaces": True},
    vocab_size=6_000,
    embedding_dim=192,
    units=192,
    batch_size=256,
    max_epochs=7,
    decay_epochs=3,
)

# One network to serve alone (issue 22): syllables need no analyser (tokenising costs
# microseconds, not Kiwi's 0.86 ms), and each word's first one is its own token (`▁좋`
# beside `좋`), so a word start costs no step of its own: a 25-word message is 69 steps, not
# the 93 of space tokens, which pays for a GRU of 256 units at the LSTM 192's speed. It
# learns from the ensemble's probabilities over every review and chat text there is and
# over chat-like variants of them (training.distill: STUDENT_VARIANTS_PLAN), on
# STUDENT_LSTM's schedule. From the ensemble 7721: NSMC test 0.8815 (0.59 under it), chat
# dev 0.44 under it; the same 1.08 ms trace as STUDENT_LSTM's on one run (docs/results.md,
# "Word starts marked", "Chat-like variants").
STUDENT = STUDENT_LSTM.with_overrides(
    name="student",
    tokenizer={"name": "syllable", "max_tokens": 150, "marks": True},
    vocab_size=8_000,
    cell="gru",
    units=256,
)

# The student over learned pieces of words instead of syllables (nlp.tokenizers.
# PieceTokenizer, training.pieces): a 25-word message is 34 steps instead of 69, which
# pays for a GRU of 320 units in less time than STUDENT's 256 take over syllables: 0.84
# ms a trace; from the ensemble 83d1, NSMC test 0.45 and chat dev 0.95 points under it
# (docs/results.md, "Pieces of words"). An option until a paired run says which is closer.
STUDENT_PIECES = STUDENT.with_overrides(
    name="student-pieces",
    tokenizer={"name": "pieces", "max_tokens": 150, "max_piece": 6},
    units=320,
)


# STUDENT_PIECES with two GRUs of 224 units instead of one of 320: the same trace budget
# (0.70 ms of network against 0.63, random weights), twice the training time (17 min an
# epoch alone). From the ensemble 83d1: NSMC test 0.32 and chat dev 0.65 points under it,
# the closest student yet on both, and level with STUDENT_PIECES on NSMC validation
# (docs/results.md, "Two recurrent layers"). An option: the choice is on the team.
STUDENT_PIECES_DEEP = STUDENT_PIECES.with_overrides(
    name="student-pieces-deep", units=224, recurrent_layers=2
)


@dataclass(frozen=True)
class NgramConfig:
    """A linear model over the word and character n-grams seen so far (see nlp.ngrams).

    Binary features and an L2-regularised logistic regression: the classic sentiment
    baseline, which scores nearly as well as one recurrent network on NSMC (validation
    0.863-0.870) and is wrong on different reviews: the cheapest strong member to add.
    """

    name: str
    regularization: float  # C, the inverse L2 strength, chosen on the validation split
    max_char_ngram: int = 4  # character n-grams of 1..N inside each (space-padded) word
    min_count: int = 2  # a feature must occur in this many training reviews
    kind: Literal["ngram"] = "ngram"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NgramConfig:
        return cls(**data)

    def with_overrides(self, **changes: Any) -> NgramConfig:
        """Keeps only the fields it has: an ensemble-wide learning rate means nothing to a
        convex fit, which is always solved to the optimum."""
        return replace(self, **{k: v for k, v in changes.items() if k in self.__dataclass_fields__})


MemberConfig = ModelConfig | NgramConfig


def member_config_from_dict(data: dict[str, Any]) -> MemberConfig:
    """Saved configurations say their kind; recurrent ones predate the field."""
    if data.get("kind") == "ngram":
        return NgramConfig.from_dict(data)
    return ModelConfig.from_dict(data)


@dataclass(frozen=True)
class EnsembleConfig:
    """Networks on different tokenisations and an n-gram model, averaged word by word (see
    nlp.ensemble for why).

    `weights` (one per member; equal when empty) and `bias` (added to the logit of the
    average) are chosen on the NSMC validation split and the chat dev set together, like the
    epochs: both are monotone per step, so the word trace stays exact."""

    name: str
    members: tuple[MemberConfig, ...]
    weights: tuple[float, ...] = ()
    bias: float = 0.0

    @property
    def learning_rate(self) -> float:
        """The recipe's rate; fine-tuning scales every network's by the same share."""
        return min(m.learning_rate for m in self.members if isinstance(m, ModelConfig))

    def member_weights(self) -> tuple[float, ...]:
        return self.weights or (1.0,) * len(self.members)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "members": [member.to_dict() for member in self.members],
        }
        if self.weights or self.bias:  # older readers see the plain average they know
            data.update(weights=list(self.weights), bias=self.bias)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnsembleConfig:
        members = tuple(member_config_from_dict(m) for m in data["members"])
        weights = tuple(float(w) for w in data.get("weights", ()))
        if weights and len(weights) != len(members):
            raise ValueError(f"{len(weights)} weights for {len(members)} members")
        return cls(data["name"], members, weights, float(data.get("bias", 0.0)))

    def with_overrides(self, **changes: Any) -> EnsembleConfig:
        """Applied to every member (e.g. a fine-tuning learning rate)."""
        members = tuple(m.with_overrides(**changes) for m in self.members)
        return replace(self, members=members)


AnyConfig = ModelConfig | NgramConfig | EnsembleConfig

# C chosen on the validation split for the ensemble, not for the model alone: alone it
# peaks at C=0.3 (0.870); in the ensemble C=1, 3, 10 gave 0.8924, 0.8938, 0.8912, since
# the less regularised model is more often confidently right where the networks are not.
NGRAM = NgramConfig(name="ngram", regularization=3.0)

# Weights and bias chosen on the NSMC validation split and the chat dev set together
# (`python -m training.calibrate` on a holdout run of this recipe: validation 0.8923 ->
# 0.8935, chat dev balanced accuracy 0.858 -> 0.873; docs/results.md, "More data").
DEFAULT = EnsembleConfig(
    "default", (KIWI, MECAB, SYLLABLE, NGRAM), weights=(1.25, 0.5, 1.5, 0.75), bias=0.1
)

CONFIGS: dict[str, AnyConfig] = {
    config.name: config
    for config in (
        SEED,
        KIWI,
        MECAB,
        SYLLABLE,
        STUDENT_LSTM,
        STUDENT,
        STUDENT_PIECES,
        STUDENT_PIECES_DEEP,
        NGRAM,
        DEFAULT,
    )
}


def members_of(config: AnyConfig) -> tuple[MemberConfig, ...]:
    return config.members if isinstance(config, EnsembleConfig) else (config,)
