"""A student whose weights are the average of several versions of one network (a "model
soup"; docs/results.md, "More chat for the two-layer student, and weight averages").

    PYTHONPATH=. python docs/experiments/weight_soup.py OUT_DIR VERSION_DIR VERSION_DIR [...]

Averaging only makes sense for networks fine-tuned from one starting point (here the
two-annealed-epoch runs that all started from 90e6): they share a vocabulary and sit in
one basin, so the mean of their weights is a network of its own, served and traced like
any version (`python -m benchmarks.model_accuracy OUT_DIR`). Versions with another
vocabulary or other shapes are refused. OUT_DIR is a complete version directory with its
manifest; copy it into a registry's `versions/` to serve it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from nlp.artifacts import (
    CONFIG_FILE,
    VOCABULARY_FILE,
    WEIGHTS_FILE,
    read_json,
    verify_model_dir,
    write_model_dir,
)
from nlp.model_config import member_config_from_dict
from nlp.vocabulary import Vocabulary


def averaged(versions: list[Path]) -> dict[str, np.ndarray]:
    """Every array's mean over the versions, which must agree on names and shapes."""
    loaded = [dict(np.load(version / WEIGHTS_FILE)) for version in versions]
    shapes = [{name: array.shape for name, array in weights.items()} for weights in loaded]
    if any(shape != shapes[0] for shape in shapes):
        sys.exit("the versions' networks differ in shape: nothing to average")
    return {
        name: np.mean([weights[name] for weights in loaded], axis=0).astype(array.dtype)
        for name, array in loaded[0].items()
    }


def main(out: Path, versions: list[Path]) -> None:
    for version in versions:
        verify_model_dir(version)
    vocabularies = {(version / VOCABULARY_FILE).read_bytes() for version in versions}
    if len(vocabularies) != 1:
        sys.exit("the versions have different vocabularies: nothing to average")
    weights = averaged(versions)
    config = member_config_from_dict(read_json(versions[0] / CONFIG_FILE))
    vocabulary = Vocabulary.load(versions[0] / VOCABULARY_FILE)
    metrics = {"version": out.name, "config": config.name, "soup_of": [v.name for v in versions]}
    write_model_dir(out, config, vocabulary, weights, metrics)
    print(out)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), [Path(arg) for arg in sys.argv[2:]])
