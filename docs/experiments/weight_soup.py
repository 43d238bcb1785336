"""A student whose weights are the average of several versions of one network (a "model
soup"; docs/results.md, "More chat for the two-layer student, and weight averages").

    PYTHONPATH=. python docs/experiments/weight_soup.py OUT_DIR VERSION_DIR VERSION_DIR [...]

The averaging is training.weight_average's (which `make train-student` uses on its last
two stages); this writes the mean of any versions fine-tuned from one network as a
complete version directory with its manifest, to measure (`python -m
benchmarks.model_accuracy OUT_DIR`) or copy into a registry's `versions/`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from nlp.artifacts import verify_model_dir, write_model_dir
from nlp.ensemble import load_member
from nlp.inference import SentimentModel
from training.weight_average import WeightAverageError, averaged_model


def main(out: Path, versions: list[Path]) -> None:
    models = []
    for version in versions:
        verify_model_dir(version)
        model = load_member(version)
        if not isinstance(model, SentimentModel):
            sys.exit(f"{version} is not one network: nothing to average")
        models.append(model)
    try:
        soup = averaged_model(models, out.name)
    except WeightAverageError as error:
        sys.exit(str(error))
    soup_of = [version.name for version in versions]
    metrics = {"version": out.name, "config": soup.config.name, "soup_of": soup_of}
    write_model_dir(out, soup.config, soup.vocabulary, soup.weights, metrics)
    print(out)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), [Path(arg) for arg in sys.argv[2:]])
