"""The student (issue 22) is a version like any other: trained, served without
TensorFlow, fine-tuned on corrections by the focused retrain, and rolled back from."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from nlp.inference import SentimentModel
from nlp.model_config import STUDENT, STUDENT_PIECES, STUDENT_PIECES_DEEP
from nlp.tokenizers import PieceTokenizer
from nlp.vocabulary import OOV_ID
from tests.gates import open_gate
from tests.slang import SLANG_TEXTS
from training import retrain
from training.data import load_split
from training.protocol import RetrainStatus
from training.recipe import FocusRules, RetrainRecipe
from training.registry import Registry
from training.train import TrainingRequest, run_training
from training.trust import CorrectionRow

pytestmark = pytest.mark.slow

OPEN_GATE = open_gate(nsmc_rows=500)


@pytest.fixture(
    scope="module",
    params=[STUDENT, STUDENT_PIECES, STUDENT_PIECES_DEEP],
    ids=["syllables", "pieces", "pieces-two-layers"],
)
def student_registry(request, trained_registry, tmp_path_factory) -> tuple[Registry, str, str]:
    """The session's registry plus a small student (over marked syllables, or over pieces
    learned from its training text, through one recurrent layer or two), made current:
    (registry, the version served before, the student)."""
    root = tmp_path_factory.mktemp("student") / "models"
    registry = Registry(Path(shutil.copytree(trained_registry.root, root)))
    before = registry.current_name()
    assert before is not None
    training = TrainingRequest(
        request.param.with_overrides(units=32, embedding_dim=32),
        load_split("train").head(4_000),
        load_split("test").head(500),
        epochs=1,
        progress=False,
    )
    student = run_training(training, registry).name
    registry.use(student)
    return registry, before, student


def test_the_student_is_served_and_traces_every_word(student_registry) -> None:
    registry, _, student = student_registry
    model = registry.load_current()
    assert isinstance(model, SentimentModel) and model.version == student
    text = "배우 연기가 정말 좋았어요 ㅋㅋ 강추"
    trace = model.trace(text)
    assert trace.words == tuple(text.split())
    rerun = [model.trace(" ".join(text.split()[: k + 1])).positive for k in range(6)]
    np.testing.assert_allclose(trace.probabilities, rerun, atol=1e-5)


def test_a_student_reloaded_reads_its_training_text_with_known_tokens(student_registry) -> None:
    """Loaded from disk, the tokeniser is rebuilt from the saved settings (for pieces, from
    the vocabulary alone: the inventory is not saved apart), and splits the training text
    into tokens the vocabulary knows: what the network was trained on."""
    registry, _, student = student_registry
    model = registry.load(student)
    assert isinstance(model, SentimentModel)
    texts = load_split("train").head(500).texts
    tokens = [token.text for text in texts for token in model.tokenizer.tokenize(text)]
    ids = np.asarray(model.vocabulary.encode(tokens))
    assert np.mean(ids == OOV_ID) < 0.01
    characters = sum(len(word) for text in texts for word in text.split())
    if isinstance(model.tokenizer, PieceTokenizer):
        assert model.tokenizer.pieces == set(model.vocabulary.learned_tokens)
        assert len(tokens) < 0.85 * characters  # fewer steps than syllables
    else:
        assert all(len(token.removeprefix("▁")) == 1 for token in tokens)  # syllables
        assert len(tokens) == characters


def test_the_focused_retrain_fine_tunes_the_student_and_a_rollback_returns(
    student_registry,
) -> None:
    registry, before, student = student_registry
    rows = [CorrectionRow(i + 1, text, 1, 100 + i, float(i)) for i, text in enumerate(SLANG_TEXTS)]
    recipe = RetrainRecipe(
        focus=FocusRules(steps=40, student_steps=40, replay_rows=500), gate=OPEN_GATE
    )
    served = registry.load_current()
    result = retrain.retrain(recipe, registry, rows, lambda event: None)
    assert result.status is RetrainStatus.ACCEPTED, result
    assert result.base_version == student and result.candidate_version
    candidate = registry.load(result.candidate_version)
    assert isinstance(candidate, SentimentModel)
    assert candidate.config.tokenizer == served.config.tokenizer  # still the student
    moved = [candidate.trace(text).positive - served.trace(text).positive for text in SLANG_TEXTS]
    assert np.mean(moved) > 0  # towards the corrected label
    registry.use(result.candidate_version)
    registry.use(before)  # a rollback past the student
    assert registry.load_current().version == before
    registry.use(student)
    assert registry.load_current().version == student
