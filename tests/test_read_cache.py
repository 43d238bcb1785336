"""A model's readings and verdicts of a fixed list of texts are kept between retrains
(training.read_cache): the same texts are not read twice, a damaged or stale file is read
again, and only the files used last are kept."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from nlp.ensemble import positives_read
from nlp.inference import Encoded, SentimentModel
from nlp.vocabulary import Vocabulary
from training import read_cache
from training.data import load_split
from training.read_cache import NO_CACHE, ReadCache

pytestmark = pytest.mark.slow


@pytest.fixture
def counted(trained_registry, monkeypatch):
    """The session's model, with the number of texts each `encode_many` call read."""
    model = trained_registry.load_current()
    reads: list[int] = []

    def encode_many(texts, original=model.encode_many):
        reads.append(len(texts))
        return original(texts)

    monkeypatch.setattr(model, "encode_many", encode_many)
    return model, reads


def _texts(start: int, count: int = 40) -> list[str]:
    return load_split("train").texts[start : start + count]


def test_readings_are_read_once_and_give_the_same_verdicts(counted, tmp_path) -> None:
    model, reads = counted
    cache, texts = ReadCache(tmp_path), _texts(0)
    first = cache.readings(model, texts)
    again = cache.readings(model, texts)
    assert reads == [len(texts)]
    assert positives_read(model, again) == positives_read(model, first)
    assert isinstance(first, Encoded) and isinstance(again, Encoded)
    assert again.id_lists == first.id_lists
    cache.readings(model, texts[:-1])  # other texts: read
    assert reads == [len(texts), len(texts) - 1]


def test_a_damaged_or_foreign_file_is_read_again(counted, tmp_path) -> None:
    model, reads = counted
    cache, texts = ReadCache(tmp_path), _texts(100)
    expected = positives_read(model, cache.readings(model, texts))
    (path,) = (tmp_path / "readings").iterdir()
    path.write_bytes(path.read_bytes()[:100])  # cut short
    assert positives_read(model, cache.readings(model, texts)) == expected
    path.write_bytes(b"not a pickle")
    assert positives_read(model, cache.readings(model, texts)) == expected
    other = _texts(200, len(texts) + 1)  # readings of another length under this name
    path.write_bytes(pickle.dumps(model.encode_many(other)))
    assert positives_read(model, cache.readings(model, texts)) == expected
    assert reads == [len(texts), len(texts), len(texts), len(other), len(texts)]
    assert positives_read(model, cache.readings(model, texts)) == expected
    assert len(reads) == 5  # the last file written is whole: loaded


def test_only_the_files_used_last_are_kept(counted, tmp_path, monkeypatch) -> None:
    model, reads = counted
    monkeypatch.setattr(read_cache, "READINGS_KEPT", 2)
    cache = ReadCache(tmp_path)
    lists = [_texts(300 + 10 * k, 10) for k in range(3)]
    cache.readings(model, lists[0])
    cache.readings(model, lists[1])
    cache.readings(model, lists[0])  # used again: the newest
    cache.readings(model, lists[2])
    assert len(list((tmp_path / "readings").iterdir())) == 2
    before = len(reads)
    cache.readings(model, lists[0])
    cache.readings(model, lists[2])
    assert len(reads) == before  # both kept
    cache.readings(model, lists[1])
    assert len(reads) == before + 1  # the one used longest ago was removed


def test_verdicts_are_computed_once_per_model_and_texts(trained_registry, tmp_path) -> None:
    model = trained_registry.load_current()
    cache, texts = ReadCache(tmp_path), _texts(400, 30)
    calls: list[int] = []

    def compute() -> np.ndarray:
        calls.append(1)
        return np.asarray(positives_read(model, model.encode_many(texts)), dtype=np.float32)

    first = cache.positives(model, texts, compute)
    np.testing.assert_array_equal(cache.positives(model, texts, compute), first)
    assert len(calls) == 1
    (path,) = (tmp_path / "positives").iterdir()
    np.save(path, np.zeros(3, dtype=np.float32))  # the wrong length: computed again
    np.testing.assert_array_equal(cache.positives(model, texts, compute), first)
    cache.positives(model, texts[1:], compute)
    assert len(calls) == 3
    weights = {name: array * 1.1 for name, array in model.weights.items()}
    renamed = SentimentModel(model.config, model.vocabulary, weights, model.version)
    cache.positives(renamed, texts, compute)  # the same version name, other weights
    assert len(calls) == 4


def test_without_a_directory_nothing_is_kept(counted) -> None:
    model, reads = counted
    texts = _texts(500, 10)
    NO_CACHE.readings(model, texts)
    NO_CACHE.readings(model, texts)
    assert reads == [10, 10]
    assert NO_CACHE.positives(model, texts, lambda: np.ones(10)).tolist() == [1.0] * 10


def test_a_cache_that_cannot_be_written_is_said_and_the_work_goes_on(
    counted, tmp_path, capsys
) -> None:
    """A full disk or a read-only folder costs the time it would have saved, nothing else:
    a file where the cache's folder should be stands for both (root writes anywhere)."""
    model, reads = counted
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    cache, texts = ReadCache(blocked), _texts(600, 12)
    expected = positives_read(model, model.encode_many(texts))
    assert positives_read(model, cache.readings(model, texts)) == expected
    verdicts = cache.positives(model, texts, lambda: np.asarray(expected))
    assert verdicts.tolist() == expected
    warnings = capsys.readouterr().err
    assert warnings.count("not kept") == 2 and "computed again next time" in warnings
    assert blocked.read_text() == "a file, not a folder"
    cache.readings(model, texts)
    assert reads == [12, 12, 12]  # read again each time, as without a cache


def test_a_fine_tune_finds_its_base_readings_another_vocabulary_does_not(counted, tmp_path) -> None:
    """Readings are named by how a model reads, not by its version: after an accepted
    retrain, the fine-tuned version served next still finds its base's readings."""
    model, reads = counted
    cache, texts = ReadCache(tmp_path), _texts(700, 20)
    cache.readings(model, texts)

    def copy(vocabulary: Vocabulary, version: str) -> SentimentModel:
        weights = {name: array * 1.1 for name, array in model.weights.items()}
        return SentimentModel(model.config, vocabulary, weights, version)

    tuned = copy(model.vocabulary, "tuned")
    kept = cache.readings(tuned, texts)
    assert reads == [len(texts)]
    assert positives_read(tuned, kept) == positives_read(tuned, tuned.encode_many(texts))
    renamed = Vocabulary((*model.vocabulary.tokens[:-1], "없던말"))
    other = copy(renamed, "other")
    other_reads: list[int] = []
    original = other.encode_many

    def encode_many(texts):
        other_reads.append(len(texts))
        return original(texts)

    other.encode_many = encode_many  # type: ignore[method-assign]
    cache.readings(other, texts)
    assert other_reads == [len(texts)]


def test_readings_are_read_again_when_reading_code_changes_not_the_training_network(
    tmp_path, monkeypatch, request
) -> None:
    """The digest covers the `nlp` code that reads texts; `nlp/model.py`, the Keras
    network, trains and never reads, so a change there keeps the readings."""
    nlp = tmp_path / "nlp"
    nlp.mkdir()
    (nlp / "tokenizers.py").write_text("SPLIT = ' '\n")
    (nlp / "model.py").write_text("UNITS = 128\n")
    monkeypatch.setattr(read_cache, "_NLP", nlp)
    request.addfinalizer(read_cache._readers_digest.cache_clear)  # the real code's, next

    def digest() -> str:
        read_cache._readers_digest.cache_clear()
        return read_cache._digest(["재밌다"])

    first = digest()
    (nlp / "model.py").write_text("UNITS = 256\n")
    assert digest() == first
    (nlp / "tokenizers.py").write_text("SPLIT = '\\t'\n")
    assert digest() != first
