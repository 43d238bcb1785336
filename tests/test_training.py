"""Real training on a real subset of NSMC, into a real registry."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from nlp.artifacts import MANIFEST_FILE
from nlp.model_config import ModelConfig
from training.data import load_split, parse_lines, read_corpus
from training.evaluate import evaluate
from training.train import split_validation


def test_small_training_run_gives_a_useful_version(trained_registry, trained_model):
    info = trained_registry.info(trained_registry.current_name())
    assert info.problem is None
    assert (info.path / MANIFEST_FILE).is_file()
    # Fresh evaluation through the serving runtime, on 2,000 test reviews.
    test = load_split("test").head(2_000)
    result = evaluate(trained_model, test.texts, test.labels, progress=False)
    assert result.n == 2_000
    assert result.accuracy > 0.70
    assert abs(result.accuracy - info.metrics["test_accuracy"]) < 1e-9
    assert info.metrics["train_sha256"] == load_split("train").sha256
    assert info.metrics["epochs_run"] == 1


def test_validation_split_is_disjoint_and_deterministic():
    train, validation = split_validation(1_000, seed=5)
    assert len(validation) == 100 and len(train) == 900
    assert not set(train) & set(validation)
    again_train, again_validation = split_validation(1_000, seed=5)
    assert (again_validation == validation).all() and (again_train == train).all()


def test_malformed_lines_are_counted_not_fatal(tmp_path):
    lines = ["id\tdocument\tlabel", "1\t좋다\t1", "broken line", "2\t별로\t7", "3\t싫다\t0", ""]
    texts, labels, malformed = parse_lines(lines)
    assert texts == ["좋다", "싫다"] and labels == [1, 0] and malformed == 2
    path = tmp_path / "ratings.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    corpus = read_corpus(path)
    assert len(corpus) == 2 and corpus.malformed == 2


def test_evaluate_cli_prints_json_last(trained_registry, nsmc_dir, tmp_path):
    sample = tmp_path / "sample.txt"
    rows = (nsmc_dir / "ratings_test.txt").read_text(encoding="utf-8").split("\n")[:301]
    sample.write_text("\n".join(rows), encoding="utf-8")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "training.evaluate",
            "--model",
            str(trained_registry.current_dir()),
            "--data",
            str(sample),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    assert figures["n"] == 300
    assert 0.5 < figures["accuracy"] <= 1.0
    assert set(figures["precision"]) == {"negative", "positive"}


@pytest.mark.slow
def test_a_final_fit_trains_on_every_row_and_claims_no_validation(tmp_path):
    """`--no-holdout`: the validation rows join the training rows, and no validation
    figure is reported, since it would be measured on reviews the model has seen."""
    from nlp.model_config import NGRAM
    from training.registry import Registry
    from training.train import TrainingRequest, run_training

    registry = Registry(tmp_path / "registry")
    train, test = load_split("train").head(3_000), load_split("test").head(300)
    versions = {}
    for holdout in (True, False):
        request = TrainingRequest(NGRAM, train, test, holdout=holdout, progress=False)
        train_rows, val_rows = request.rows()
        assert len(train_rows) + len(val_rows) == 3_000 and (len(val_rows) == 0) != holdout
        versions[holdout] = registry.load(run_training(request, registry).name)
    kept_out, final = versions[True], versions[False]
    known = {model: set(model.weights["feature_hash"].tolist()) for model in (kept_out, final)}
    assert known[final] > known[kept_out]  # the validation rows' features were learnt
    assert kept_out.metrics["holdout"] and 0.6 < kept_out.metrics["best_val_accuracy"] < 1
    assert not final.metrics["holdout"] and final.metrics["best_val_accuracy"] is None


def test_evaluate_writes_one_prediction_row_per_input(trained_registry, tmp_path, capsys):
    from training.evaluate import _main

    data = tmp_path / "chat.txt"
    data.write_text(
        "id\tdocument\tlabel\n1\t정말 재밌어요\t1\n2\t최악의 영화\t0\n", encoding="utf-8"
    )
    out = tmp_path / "predictions.tsv"
    code = _main(
        [
            "--model",
            str(trained_registry.current_dir()),
            "--data",
            str(data),
            "--predictions",
            str(out),
        ]
    )
    assert code == 0
    header, *rows = out.read_text(encoding="utf-8").splitlines()
    assert header == "id\tlabel\tpredicted\tpositive\tdocument" and len(rows) == 2
    fields = rows[1].split("\t")
    assert fields[0] == "2" and fields[1] == "0" and fields[4] == "최악의 영화"
    assert fields[2] == str(int(float(fields[3]) >= 0.5))
    assert '"n": 2' in capsys.readouterr().out


@pytest.mark.slow
def test_the_last_epochs_anneal_the_learning_rate_to_zero():
    """`decay_epochs` of a full training lower the rate linearly to 0 after the constant
    epochs; without a step count (the focused retrain) the rate stays as configured."""
    from nlp.model import build_model, learning_rate
    from nlp.model_config import SYLLABLE

    config = SYLLABLE.with_overrides(max_epochs=3, decay_epochs=2, vocab_size=50, units=8)
    schedule = learning_rate(config, steps_per_epoch=10)
    rates = [float(schedule(step)) for step in (0, 9, 10, 20, 30, 40)]
    rate = config.learning_rate
    assert rates == pytest.approx([rate, rate, rate, rate / 2, 0.0, 0.0])
    assert learning_rate(config, None) == rate
    assert learning_rate(config.with_overrides(decay_epochs=0), 10) == rate
    model = build_model(config, steps_per_epoch=10)
    assert float(model.optimizer.learning_rate) == pytest.approx(rate)  # at step 0


def test_early_stopping_waits_for_the_annealed_epochs():
    """A run whose rate anneals is judged on its annealed epochs: a dip at a constant rate
    (which stopped a 9-epoch student at epoch 3) must not end it before they run. Early
    stopping and the rate schedule start from the same epoch."""
    from nlp.model_config import KIWI, STUDENT

    assert STUDENT.first_annealed_epoch == STUDENT.max_epochs - STUDENT.decay_epochs == 4
    assert STUDENT.with_overrides(max_epochs=9, decay_epochs=2).first_annealed_epoch == 7
    assert KIWI.first_annealed_epoch == 0  # no annealing: watched throughout


def _epochs_run(config: ModelConfig, scores: list[float]) -> tuple[int, float]:
    """How many of these validation scores Keras' early stopping lets a run reach, and the
    score of the weights it keeps (each epoch's weights are that epoch's score)."""
    import keras

    from training.train import early_stopping

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    stopping = early_stopping(config)
    model.stop_training = False  # what Model.fit sets before its callbacks run
    stopping.set_model(model)
    stopping.on_train_begin()
    for epoch, score in enumerate(scores):
        model.set_weights([np.array([[score]], dtype="float32")])
        stopping.on_epoch_end(epoch, {"val_accuracy": score})
        if model.stop_training:
            break
    stopping.on_train_end()
    return epoch + 1, float(model.get_weights()[0][0, 0])


def test_a_dip_inside_the_anneal_does_not_end_it():
    """The 9-epoch student that dipped at epoch 8 (0.8831 -> 0.8826) was stopped before its
    last annealed epoch; every annealed epoch now runs and the best one is kept. Without
    annealing, one epoch without progress still stops the run."""
    from nlp.model_config import KIWI, STUDENT

    nine = STUDENT.with_overrides(max_epochs=9, decay_epochs=4)
    scores = [0.8738, 0.8775, 0.8782, 0.8809, 0.8827, 0.8823, 0.8831, 0.8826, 0.8829]
    assert _epochs_run(nine, scores) == (9, pytest.approx(0.8831))
    assert _epochs_run(nine, [*scores[:-1], 0.8850]) == (9, pytest.approx(0.8850))
    assert _epochs_run(KIWI, [0.85, 0.86, 0.855, 0.87]) == (3, pytest.approx(0.86))


@pytest.mark.slow
def test_annealing_a_version_continues_its_weights_with_a_falling_rate(
    trained_registry, trained_model, tmp_path
):
    """`--anneal-from`: the version's network goes on from its own weights and vocabulary
    for the run's epochs, every one of them annealed, and is published as a new version."""
    from training.registry import Registry
    from training.train import main

    out = Registry(tmp_path / "models")
    argv = ["--config", "kiwi", "--limit", "3000", "--test-limit", "300", "--out", str(out.root)]
    assert main([*argv, "--anneal-from", str(trained_registry.current_dir()), "--epochs", "1"]) == 0
    (info,) = out.versions()
    annealed = out.load(info.name)
    assert annealed.vocabulary == trained_model.vocabulary
    assert annealed.config.decay_epochs == annealed.config.max_epochs == 1
    assert info.metrics["fine_tuned_from"] == trained_model.version
    assert info.metrics["epochs_run"] == 1


def test_a_teacher_the_configuration_would_ignore_is_refused_before_any_work(tmp_path, capsys):
    """`--teacher` on a configuration that distils nothing by default would train an
    undistilled model; the run stops at once and says how to name a plan."""
    from training.train import main

    out = tmp_path / "models"
    argv = ["--config", "kiwi", "--teacher", "current", "--out", str(out)]
    assert main(argv) == 1
    assert "--distill" in capsys.readouterr().err
    assert not out.exists()  # nothing loaded, trained or published


def test_a_quick_stand_in_is_refused_as_a_teacher(trained_model, tmp_path, capsys):
    """`make train-student` in a fresh install's first minutes would spend hours distilling
    the model fitted in a minute; both commands stop at once and say what to do."""
    from nlp.artifacts import write_model_dir
    from training.registry import QUICK_ROLE, Registry
    from training.student_stages import main as train_student
    from training.train import main

    registry = Registry(tmp_path / "models")
    with registry.staging("quick-1") as staging:
        model = trained_model
        metrics = {"role": QUICK_ROLE, "test_accuracy": 0.7}
        write_model_dir(staging, model.config, model.vocabulary, model.weights, metrics)
        registry.publish(staging)
    registry.use("quick-1")

    assert train_student(["--out", str(registry.root)]) == 1
    assert "quick stand-in" in capsys.readouterr().err
    argv = ["--config", "student-pieces-deep", "--teacher", "current", "--limit", "50"]
    assert main([*argv, "--out", str(registry.root)]) == 1
    assert "quick stand-in" in capsys.readouterr().err
    assert [info.name for info in registry.versions()] == ["quick-1"]  # nothing trained
