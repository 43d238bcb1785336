"""What pieces of words buy a student: steps per message, tokenising time, and the trace of
networks of several widths over pieces against the syllable student's (docs/results.md,
"Pieces of words").

    NSMC_DIR=... PYTHONPATH=. python docs/experiments/piece_steps.py

Inventories of `SIZES` pieces are learned (training.pieces) from NSMC's training file and
the extra reviews; steps are counted on the first 5,000 reviews of the test file and on
the 25-word message of `make bench`. The networks (by width, and the GRU of 320 by
embedding size) have random weights (a trace's time does not depend on their values) and
are timed as `trace_by_size.py` times them: four alternating rounds, the median of the
rounds' p50. Run it on an idle machine.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import numpy as np

from benchmarks.common import MESSAGE_25_WORDS, percentiles_ms, time_calls
from docs.experiments.trace_by_size import print_timings
from nlp.inference import SentimentModel
from nlp.model_config import STUDENT, STUDENT_PIECES, ModelConfig
from nlp.model_weights import expected_shapes
from nlp.tokenizers import Tokenizer, make_tokenizer
from nlp.vocabulary import Vocabulary
from training.corpora import EXTRA_REVIEWS_FILE
from training.data import load_split
from training.paths import TrainingPaths
from training.pieces import piece_vocabulary

SIZES = (8_000, 16_000)  # fewer than the texts' 4,153 characters cannot be learned
WIDTHS = (256, 320, 352)
# Wider embeddings for the GRU of 320: what the next capacity would cost a trace.
EMBEDDINGS = (256, 320)


def extra_reviews() -> list[str]:
    nsmc_dir = TrainingPaths.from_env().nsmc_dir
    assert nsmc_dir is not None, "set NSMC_DIR"
    with (nsmc_dir / EXTRA_REVIEWS_FILE).open(encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle]
    return [fields[2] for fields in rows[1:] if len(fields) == 3]


def steps(tokenizer: Tokenizer, texts: Sequence[str]) -> tuple[float, int, float]:
    """Mean tokens of a review, tokens of the 25-word message, its tokenising p50 in µs."""
    mean = statistics.mean(len(columns.texts) for columns in tokenizer.columns_many(texts))
    message = len(tokenizer.tokenize(MESSAGE_25_WORDS))
    speed = percentiles_ms(time_calls(lambda: tokenizer.columns_many([MESSAGE_25_WORDS]), 2_000))[0]
    return mean, message, speed * 1000


def describe(figures: tuple[float, int, float]) -> str:
    review, message, micros = figures
    return f"{review:.1f} steps a review, {message} the message, tokenised in {micros:.0f} µs"


def random_network(config: ModelConfig, vocabulary: Vocabulary) -> SentimentModel:
    rng = np.random.default_rng(0)
    weights = {
        name: rng.normal(0, 0.05, shape).astype(np.float32)
        for name, shape in expected_shapes(config, len(vocabulary)).items()
    }
    return SentimentModel(config, vocabulary, weights, config.name)


def main() -> None:
    training = load_split("train").texts + extra_reviews()
    test = load_split("test").texts[:5_000]
    syllables = make_tokenizer(STUDENT.tokenizer)
    print("syllables, word starts marked:", describe(steps(syllables, test)))
    vocabularies = {}
    for size in SIZES:
        vocabulary = piece_vocabulary(training, STUDENT_PIECES.with_overrides(vocab_size=size))
        vocabularies[size] = vocabulary
        tokenizer = make_tokenizer(STUDENT_PIECES.tokenizer, vocabulary.learned_tokens)
        print(f"pieces, {len(vocabulary)} tokens:", describe(steps(tokenizer, test)))
    syllable_vocabulary = Vocabulary.build(
        (columns.texts for columns in syllables.columns_many(training[:150_000])),
        STUDENT.vocab_size,
    )
    models = {"syllables, GRU 256 (STUDENT)": random_network(STUDENT, syllable_vocabulary)}
    for units in WIDTHS:
        config = STUDENT_PIECES.with_overrides(units=units)
        models[f"pieces 8k, GRU {units}"] = random_network(config, vocabularies[8_000])
    for dimension in EMBEDDINGS:
        config = STUDENT_PIECES.with_overrides(embedding_dim=dimension)
        name = f"pieces 8k, GRU {config.units}, embedding {dimension}"
        models[name] = random_network(config, vocabularies[8_000])
    print_timings(models)


if __name__ == "__main__":
    main()
