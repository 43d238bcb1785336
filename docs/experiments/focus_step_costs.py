"""Where a served student's focused fine-tune spends its steps (docs/learning-loop.md,
"Corrections dealt to batches by length" and the student's **Time**).

    MODEL_REGISTRY=<registry serving the student beside its teacher> PYTHONPATH=. \\
        python docs/experiments/focus_step_costs.py [widths] [steps] [threads]

* `widths`: the mean padded width of the student's 120 batches over its transfer set
  (4,000 replayed reviews + 4,000 chat messages), with 409 rows drawn beside it as the
  Follower draws them, dealt by length (`training.focus._mixed_batches`) and, for
  comparison, drawn at random beside each replay group (what it did before);
* `steps`: seconds for the student's 120 steps with 19 corrections (three jobs: the
  first traces Keras's step);
* `threads`: the teacher's three networks, 120 steps each, one after the other and in
  three threads at once (run it with and without `TF_NUM_INTRAOP_THREADS=1
  TF_NUM_INTEROP_THREADS=1`);
* `step`: milliseconds and CPU milliseconds a training step of the student's network and
  its teacher's, batches of 64 rows of 32 random ids, under the environment it runs in
  (`TF_NUM_INTRAOP_THREADS`, `TF_NUM_INTEROP_THREADS`, `TF_SET_ONEDNN_FPMATH_MODE`);
  with `bfloat16`, under Keras's `mixed_bfloat16` policy (docs/learning-loop.md, "Read
  once, kept"); with `rows=N`, over an embedding table of N rows; with `xla`, the step
  compiled by XLA (docs/learning-loop.md, "The student's own steps");
* `rows`: the teacher's three networks and the student, three jobs each (half of 120
  steps on 19 corrections, all 120, then 300 test reviews as corrections), trained on
  the embedding rows they read (training.embedding_rows) and on the whole table: seconds
  a job, and the largest difference between the two jobs' weights (docs/learning-loop.md,
  "The rows a fine-tune reads").
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np

import training.embedding_rows as embedding_rows
from docs.experiments.fine_tune_weights import setting
from nlp.inference import SentimentModel
from training.corpora import chat_sample
from training.focus import Labelled, NetworkTrainer, _mixed_batches, _replay_groups
from training.follow import teacher_to_follow
from training.paths import TrainingPaths
from training.recipe import RetrainRecipe
from training.registry import Registry

SPARE_ROWS = embedding_rows.SPARE_ROWS
BESIDE_ROWS = 409  # the twenty users' 19 corrections repeated to half, and 200 most moved


def main(argv: list[str]) -> None:
    registry, student, recipe, replay, jobs = setting()
    corrections = jobs[0][0]
    if "widths" in argv:
        chat = chat_sample(
            TrainingPaths.from_env().chat_dir, recipe.focus.transfer_chat_rows, recipe.seed
        )
        _widths(student, [*replay.texts, *chat], recipe)
    if "steps" in argv:
        trainer = NetworkTrainer(student, replay, recipe.focus, 1e-4, recipe.seed)
        for job in range(3):
            started = time.monotonic()
            trainer.train(corrections)
            print(f"student, job {job + 1}: 120 steps in {time.monotonic() - started:.1f} s")
    if "step" in argv:
        table = next((int(arg[5:]) for arg in argv if arg.startswith("rows=")), None)
        for network in _networks(registry, student):
            _step_costs(network, "bfloat16" in argv, table, "xla" in argv)
    if "rows" in argv:
        for network in _networks(registry, student):
            _rows_or_whole_table(network, replay, recipe, jobs)
    if "threads" in argv:
        teacher_name = teacher_to_follow(student)
        assert teacher_name, "the student names no teacher"
        networks = registry.load(teacher_name).members[:3]
        trainers = [NetworkTrainer(n, replay, recipe.focus, 1e-4, 42) for n in networks]  # type: ignore[arg-type]
        for trainer in trainers:
            trainer.train(corrections, 0.1)  # Keras traces its step once per network
        for how in ("one after the other", "in threads", "one after the other"):
            started = time.monotonic()
            if how == "in threads":
                running = [threading.Thread(target=t.train, args=(corrections,)) for t in trainers]
                for thread in running:
                    thread.start()
                for thread in running:
                    thread.join()
            else:
                for trainer in trainers:
                    trainer.train(corrections)
            print(f"teacher's networks {how}: {time.monotonic() - started:.1f} s")


def _networks(registry: Registry, student: SentimentModel) -> list[SentimentModel]:
    teacher_name = teacher_to_follow(student)
    teacher = registry.load(teacher_name).members if teacher_name else []
    return [n for n in [student, *teacher] if isinstance(n, SentimentModel)]


def _rows_or_whole_table(
    network: SentimentModel,
    replay: Labelled,
    recipe: RetrainRecipe,
    jobs: list[tuple[Labelled, float]],
) -> None:
    weights: dict[str, list[dict[str, np.ndarray]]] = {}
    for table, spare in (("rows read", SPARE_ROWS), ("whole table", 10**9)):
        embedding_rows.SPARE_ROWS = spare
        trainer = NetworkTrainer(network, replay, recipe.focus, 1e-4, recipe.seed)
        seconds, weights[table] = [], []
        for corrections, share in jobs:
            started = time.monotonic()
            member, _ = trainer.train(corrections, share)
            seconds.append(f"{time.monotonic() - started:.2f}")
            weights[table].append(member.weights)
        print(f"{network.config.name}, {trainer.table_rows} rows: jobs {', '.join(seconds)} s")
    difference = max(
        float(np.max(np.abs(job[name] - whole[name])))
        for job, whole in zip(weights["rows read"], weights["whole table"], strict=True)
        for name in job
    )
    print(f"{network.config.name}: largest difference between the weights {difference}")


def _step_costs(
    model: SentimentModel, bfloat16: bool, table: int | None = None, xla: bool = False
) -> None:
    import keras
    import tensorflow as tf

    from nlp.model import build_model, import_weights
    from training.focus import _build_state, _one_step

    if bfloat16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    rng = np.random.default_rng(0)
    size = min(model.config.vocab_size, table or model.config.vocab_size)
    batches = [
        (rng.integers(2, size, (64, 32)).astype(np.int32), rng.random(64).astype(np.float32))
        for _ in range(31)
    ]
    config = model.config.with_overrides(learning_rate=1e-4)
    network = build_model(config.with_overrides(vocab_size=table or config.vocab_size))
    if table is None:
        import_weights(network, model.config, model.weights)
    if xla:  # compiled for the batches' one shape
        _build_state(network)
        step = tf.function(network.train_step, jit_compile=True, autograph=False)
    else:
        step = _one_step(network)
    step(batches[0])  # traced
    started, cpu = time.perf_counter(), time.process_time()
    for batch in batches[1:]:
        step(batch)
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    name = f"{model.config.name}, {table} rows" if table else model.config.name
    name += ", XLA" if xla else ""
    print(f"{name}: {wall / 30 * 1000:.0f} ms a step, CPU {used / 30 * 1000:.0f} ms")


def _widths(student: SentimentModel, texts: list[str], recipe: RetrainRecipe) -> None:
    ids = [ids or [1] for ids in student.encode_many(texts).id_lists]
    lengths = np.asarray([len(row) for row in ids])
    print(
        f"pieces a row: mean {lengths.mean():.1f}, median {np.median(lengths):.0f}, 90th "
        f"percentile {np.percentile(lengths, 90):.0f}, longest {lengths.max()}"
    )
    rng = np.random.default_rng(1)
    beside = [ids[i] for i in rng.choice(len(ids), BESIDE_ROWS)]
    rules, steps = recipe.focus, recipe.focus.steps
    zeros = np.zeros(len(ids), dtype=np.float32)
    dealt = _mixed_batches(ids, zeros, beside, np.zeros(len(beside)), rules, steps, 42)
    replay_only = _mixed_batches(ids, zeros, [[1]], np.zeros(1), rules, steps, 42)
    per_batch = round(rules.batch_size * rules.correction_share)
    groups = _replay_groups(ids, rules.batch_size - per_batch, np.random.default_rng(42))
    drawn = [
        max(len(row) for row in [*(ids[i] for i in group), *(beside[j] for j in picks)])
        for group, picks in zip(
            groups * (steps // len(groups) + 1), rng.integers(0, BESIDE_ROWS, (steps, per_batch))
        )
    ]
    print(
        f"mean padded width: dealt by length {np.mean([m.shape[1] for m, _ in dealt]):.1f}, "
        f"drawn at random {np.mean([-(-w // 8) * 8 for w in drawn]):.1f}, "
        f"the replay alone {np.mean([m.shape[1] for m, _ in replay_only]):.1f}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
