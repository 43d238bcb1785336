"""Several members, each reading the message its own way, averaged word by word.

Why: every single network measured stopped near 0.875 validation accuracy, whatever its
cell, size or regularisation; networks reading different tokenisations disagree on enough
reviews that their average does better: Kiwi + mecab 0.883, + a syllable network 0.8885,
+ a linear model over word and character n-grams (nlp.ngrams) 0.893 (validation). Averaging
keeps the trace exact: each member's value after word k is its own one-pass output on
what it read up to word k, so the mean equals re-running the ensemble on every prefix.

On disk an ensemble is `ensemble.json` + `metrics.json` + `manifest.json` beside
`members/<i>/`, each member a complete single-model directory (see nlp.artifacts)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence, Sized
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from nlp.artifacts import (
    ENSEMBLE_FILE,
    MEMBERS_DIR,
    METRICS_FILE,
    ModelLoadError,
    read_json,
    read_model_dir,
    verify_model_dir,
)
from nlp.batch_threads import on_pool, splits, submit
from nlp.inference import Encoded, SentimentModel
from nlp.model_config import EnsembleConfig, NgramConfig
from nlp.ngrams import NgramEncoded, NgramModel
from nlp.trace import Trace

Member = SentimentModel | NgramModel
Trained = tuple[Member, dict[str, list[float]]]  # a member and its training history
_Result = TypeVar("_Result")


class Ensemble:
    def __init__(
        self,
        config: EnsembleConfig,
        members: Sequence[Member],
        version: str,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.config = config
        self.members = tuple(members)
        self.version = version
        self.metrics = metrics or {}

    @classmethod
    def load(cls, directory: Path, version: str | None = None) -> Ensemble:
        verify_model_dir(directory)
        try:
            config = EnsembleConfig.from_dict(read_json(directory / ENSEMBLE_FILE))
        except (KeyError, TypeError) as error:
            raise ModelLoadError(f"{directory / ENSEMBLE_FILE} is not an ensemble") from error
        name = version or directory.name
        members = [
            load_member(directory / MEMBERS_DIR / str(index), version=name)
            for index in range(len(config.members))
        ]
        return cls(config, members, name, read_json(directory / METRICS_FILE))

    def trace(self, text: str) -> Trace:
        return self.trace_batch([text])[0]

    def trace_batch(self, texts: Sequence[str]) -> list[Trace]:
        """A big batch on both cores, its members side by side (nlp.batch_threads); a
        small one in this thread."""
        if not splits(len(texts)):
            return self.trace_batch_here(texts)
        return self.submit_batch(texts).result()

    def submit_batch(self, texts: Sequence[str]) -> Future[list[Trace]]:
        """The batch's members queued side by side on the batch pool, averaged by the
        thread that finishes the last: a caller with more batches queues the next before
        this one is done, and the pool's threads go from one batch to the next. A member
        whose tokeniser works outside Python (Kiwi) starts tokenising now, beside the
        batch before, and is queued last, to find its tokens ready."""
        started = [_Started(member, texts) for member in self.members]
        order = sorted(range(len(started)), key=lambda index: started[index].early is not None)

        def averaged(traces: list[list[Trace]]) -> list[Trace]:
            by_member = dict(zip(order, traces, strict=True))
            return self._averaged([by_member[index] for index in range(len(order))])

        combined = submit(lambda index: started[index].traces(), order, averaged)
        combined.add_done_callback(lambda done: _cancelled(done, started))
        return combined

    def trace_batch_here(self, texts: Sequence[str]) -> list[Trace]:
        return self._averaged([member.trace_batch_here(texts) for member in self.members])

    def encode_many(self, texts: Sequence[str]) -> EnsembleEncoded:
        """Every member's reading of the messages: the first half of `trace_batch_here`,
        and most of its cost (Kiwi's and MeCab's analyses, the n-gram features' hashes).
        No member's reading depends on its weights, so a fine-tune of this ensemble
        (training.focus) traces the same readings: a student's retrain probes its teacher
        on thousands of fixed texts after every fine-tune (training.follow)."""
        members = self.members
        return EnsembleEncoded(
            tuple(self._by_member(lambda i: members[i].encode_many(texts), texts))
        )

    def trace_encoded(self, batch: EnsembleEncoded) -> list[Trace]:
        """The second half of `trace_batch_here`: every member's weights, averaged."""
        return self._averaged(self._members_traces(batch))

    def positives_encoded(self, batch: EnsembleEncoded) -> list[float]:
        """Each message's final P(positive), as `trace_encoded` ends, without merging the
        members' word-by-word values: a training probe of thousands of texts needs only
        the verdicts, and the merge was 0.8 s of a 2 s trace of 8,000 (training.follow)."""
        weights, bias = self.config.member_weights(), self.config.bias
        return [
            _final_positive(_readable(traces, weights), bias)
            for traces in zip(*self._members_traces(batch), strict=True)
        ]

    def _members_traces(self, batch: EnsembleEncoded) -> list[list[Trace]]:
        members, read = self.members, batch.members
        return self._by_member(lambda i: trace_read(members[i], read[i]), read[0].messages)

    def _by_member(self, work: Callable[[int], _Result], batch: Sized) -> list[_Result]:
        """`work` for every member's index: side by side on the batch pool for a big batch
        (their tokenisers and networks release the GIL), in this thread for a small one."""
        indexes = range(len(self.members))
        return on_pool(work, indexes) if splits(len(batch)) else [work(i) for i in indexes]

    def _averaged(self, per_member: Sequence[Sequence[Trace]]) -> list[Trace]:
        weights = self.config.member_weights()
        return [
            _average(self.version, traces, weights, self.config.bias)
            for traces in zip(*per_member, strict=True)
        ]


@dataclass(frozen=True)
class EnsembleEncoded:
    """A batch read by every member of an ensemble, in member order (`trace_encoded`)."""

    members: tuple[Encoded | NgramEncoded, ...]


Readings = Encoded | NgramEncoded | EnsembleEncoded  # what `encode_many` returns


def readings_of_members(batch: Readings) -> tuple[Encoded | NgramEncoded, ...]:
    """Each member's part of `batch`, in member order (`members_of_model`)."""
    return batch.members if isinstance(batch, EnsembleEncoded) else (batch,)


def positives_read(model: Member | Ensemble, batch: Readings) -> list[float]:
    """Each message's final P(positive) in `trace_read(model, batch)`, for the verdicts
    alone (`Ensemble.positives_encoded`)."""
    if isinstance(model, Ensemble) and isinstance(batch, EnsembleEncoded):
        return model.positives_encoded(batch)
    return [trace.positive for trace in trace_read(model, batch)]


def trace_read(model: Member | Ensemble, batch: Readings) -> list[Trace]:
    """`model.trace_encoded(batch)` for any kind of model: `batch` read by it, or by the
    model it was fine-tuned from."""
    if isinstance(model, Ensemble) and isinstance(batch, EnsembleEncoded):
        return model.trace_encoded(batch)
    if isinstance(model, NgramModel) and isinstance(batch, NgramEncoded):
        return model.trace_encoded(batch)
    if isinstance(model, SentimentModel) and isinstance(batch, Encoded):
        return model.trace_encoded(batch)
    raise TypeError(f"model {model.version} cannot trace a {type(batch).__name__}")


class _Started:
    """One member's part of a submitted batch: its early tokens, if it has any."""

    def __init__(self, member: Member, texts: Sequence[str]) -> None:
        self.member, self.texts = member, texts
        self.early = member.encode_early(texts) if isinstance(member, SentimentModel) else None

    def traces(self) -> list[Trace]:
        if self.early is None:
            return self.member.trace_batch_here(self.texts)
        assert isinstance(self.member, SentimentModel)
        return self.member.trace_encoded(self.early.result())

    def cancel(self) -> None:
        if self.early is not None:
            self.early.cancel()


def _cancelled(batch: Future[list[Trace]], started: Sequence[_Started]) -> None:
    """A cancelled batch's early tokenising is dropped too, if it has not started."""
    if batch.cancelled():
        for member in started:
            member.cancel()


def _average(version: str, traces: Sequence[Trace], weights: Sequence[float], bias: float) -> Trace:
    """Weighted mean of the members' word-by-word values, its logit shifted by `bias`; a
    member that has read no token of a word yet keeps its previous value (0.5 before its
    first token)."""
    readable = _readable(traces, weights)
    if not readable:
        first = traces[0]
        return Trace(first.text, (), (), 0.5, version, first.reason)
    positions = sorted({p for trace, _ in readable for p in trace.positions})
    words = {
        p: w for trace, _ in readable for p, w in zip(trace.positions, trace.words, strict=True)
    }
    total = sum(weight for _, weight in readable)
    columns = [[v * weight for v in _carried(trace, positions)] for trace, weight in readable]
    return Trace(
        text=traces[0].text,
        words=tuple(words[p] for p in positions),
        probabilities=tuple(shifted(sum(vs) / total, bias) for vs in zip(*columns, strict=True)),
        positive=_final_positive(readable, bias),
        model_version=version,
        truncated=any(trace.truncated for trace, _ in readable),
        positions=tuple(positions),
    )


def _readable(traces: Sequence[Trace], weights: Sequence[float]) -> list[tuple[Trace, float]]:
    """The members that read a token of the message, with their weights."""
    return [(t, w) for t, w in zip(traces, weights, strict=True) if not t.is_empty]


def _final_positive(readable: Sequence[tuple[Trace, float]], bias: float) -> float:
    """`_average`'s final value: the readable members' weighted mean, shifted by `bias`."""
    if not readable:
        return 0.5
    total = sum(weight for _, weight in readable)
    return shifted(sum(t.positive * w for t, w in readable) / total, bias)


def shifted(probability: float, bias: float) -> float:
    """P(positive) with `bias` added to its logit; the identity for bias 0."""
    if not bias:
        return probability
    clipped = min(max(probability, 1e-7), 1 - 1e-7)
    return 1.0 / (1.0 + math.exp(-(math.log(clipped / (1 - clipped)) + bias)))


def _carried(trace: Trace, positions: list[int]) -> list[float]:
    value_at = dict(zip(trace.positions, trace.probabilities, strict=True))
    values, current = [], 0.5
    for position in positions:
        current = value_at.get(position, current)
        values.append(current)
    return values


Servable = Member | Ensemble  # what the bot serves: both trace and trace_batch


def members_of_model(model: Servable) -> list[Member]:
    """A loaded model's members: itself when it is a single one."""
    return list(model.members) if isinstance(model, Ensemble) else [model]


def load_model(directory: Path, version: str | None = None) -> Servable:
    """Whatever a version directory holds: one member or an ensemble of them."""
    if (directory / ENSEMBLE_FILE).is_file():
        return Ensemble.load(directory, version)
    return load_member(directory, version)


def load_member(directory: Path, version: str | None = None) -> Member:
    """A network or an n-gram model, as its saved configuration says."""
    config, vocabulary, weights, metrics = read_model_dir(directory)
    kind = NgramModel if isinstance(config, NgramConfig) else SentimentModel
    try:
        return kind(config, vocabulary, weights, version or directory.name, metrics)  # type: ignore[arg-type]
    except ValueError as error:
        raise ModelLoadError(f"model directory {directory} is unusable: {error}") from error
