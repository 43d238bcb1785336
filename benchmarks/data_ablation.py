"""Which training data helps: the n-gram member as a fast proxy, one data mix at a time.

    NSMC_DIR=../shared/data/nsmc CHAT_DATA_DIR=../shared/data/chat \
        python -m benchmarks.data_ablation [MIX ...]

The n-gram model fits in one to two minutes where the ensemble takes most of an hour, and
it reads text the same way every run (a convex fit), so differences between mixes are the
data's. Each mix is fitted on the seed-42 training split plus the mix's extra rows and
scored on the validation split, the test file and the chat sets (`benchmarks/chat/`).
One JSON line per mix; the table in docs/results.md ("More data") comes from it.
"""

from __future__ import annotations

import json
import sys
import time

from nlp.model_config import NGRAM
from training.corpora import CHAT_SETS, MIXES, extra_rows, held_out_chat_texts
from training.data import load_split, read_corpus
from training.evaluate import evaluate
from training.ngram_fit import fit_ngram_model
from training.paths import TrainingPaths
from training.train import split_validation


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or list(MIXES)
    paths = TrainingPaths.from_env()
    train, test = load_split("train", paths), load_split("test", paths)
    train_rows, val_rows = split_validation(len(train), 42)
    chats = {
        name: read_corpus(CHAT_SETS / f"{name}.txt")
        for name in ("chat_corrected", "chat_dev", "chat_unseen")
    }
    held_out = test.texts + held_out_chat_texts()
    for name in names:
        started = time.time()
        extra = extra_rows(MIXES[name], paths.nsmc_dir, paths.chat_dir, held_out)
        model, history = fit_ngram_model(
            NGRAM,
            [train.texts[i] for i in train_rows] + extra.texts,
            [train.labels[i] for i in train_rows] + extra.labels,
            ([train.texts[i] for i in val_rows], [train.labels[i] for i in val_rows]),
            name,
            progress=False,
        )
        figures = {
            "mix": name,
            "extra_rows": extra.counts(),
            "nsmc_val": history["val_accuracy"][0],
            "nsmc_test": evaluate(model, test.texts, test.labels, progress=False).accuracy,
            **{
                chat: evaluate(model, corpus.texts, corpus.labels, progress=False).accuracy
                for chat, corpus in chats.items()
            },
            "seconds": round(time.time() - started),
        }
        print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
