"""`python -m benchmarks.full_retrain_bench`: does a full retrain keep what users taught?

On a small model (the Kiwi network, `--limit` NSMC rows, one epoch, trained here in a
temporary registry), through the real command line `python -m training.retrain`:

1. twenty users each correct one slang text the model reads as negative ("… 죽인다",
   "… 사기다": it is great); a focused fine-tune learns them and is made current;
2. six more users correct six texts with other slang, and a full retrain (from scratch, `--limit`
   rows) runs twice: with the learned corrections sent along, as the bot sends them
   (bot.retraining.exported_rows), and without them (what the bot did before);
3. the share of the twenty answered as corrected by each model.

The gate is opened wide so every candidate is kept and measured directly; the gate's own
learned check (every taught correction) is printed beside it. Ends with one JSON line.
Too slow for the test suite (a few minutes on 2 cores); tests/test_retraining.py
checks the plumbing with a stand-in child.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import rounded
from tests.slang import SLANG_TEXTS, SUBJECTS
from training.protocol import RetrainCommand, RetrainResult
from training.recipe import FocusRules, GateRules, RetrainRecipe, TrustRules
from training.registry import Registry
from training.trust import CorrectionRow, write_rows

TAUGHT = SLANG_TEXTS[:20]
# The new ones use other slang ("지린다", "미쳤다": it is amazing), so they do not teach the
# twenty by themselves: what the full model knows of those, it owes to being taught again.
NEW = [f"{subject} {slang}" for subject in SUBJECTS[:3] for slang in ("지린다", "미쳤다")]
OPEN_GATE = GateRules(
    nsmc_rows=1_000,
    max_nsmc_drop=0.99,
    max_canary_flips=1_000,
    min_learned=0.0,
    max_p_value=1.0,
    min_moved_share=0.0,
)


def train_base(root: Path, limit: int) -> Registry:
    from nlp.model_config import KIWI
    from training.data import load_split
    from training.train import TrainingRequest, run_training

    registry = Registry(root)
    request = TrainingRequest(
        KIWI,
        load_split("train").head(limit),
        load_split("test").head(2_000),
        epochs=1,
        progress=False,
    )
    registry.use(run_training(request, registry).name)
    return registry


def retrain(
    registry: Registry, rows: list[CorrectionRow], recipe: RetrainRecipe, scratch: Path
) -> RetrainResult:
    corrections, out, recipe_path = (scratch / n for n in ("rows.json", "out.json", "recipe.json"))
    write_rows(corrections, rows)
    recipe.write(recipe_path)
    command = RetrainCommand(registry.root, corrections, out_result=out, recipe=recipe_path).argv()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    result = RetrainResult.read(out)
    assert result is not None and result.candidate_version, result
    return result


def share_corrected(registry: Registry, version: str | None) -> float:
    assert version is not None, "the retrain published no candidate"
    traces = registry.load(version).trace_batch(TAUGHT)
    return sum(trace.label == 1 for trace in traces) / len(TAUGHT)


def learned_check(result: RetrainResult) -> str:
    assert result.decision is not None, "the retrain reached no gate decision"
    check = next(c for c in result.decision.checks if c.name.value == "learned")
    return f"{check.figures['right']}/{check.figures['n']}"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.full_retrain_bench")
    parser.add_argument("--limit", type=int, default=8_000, help="NSMC rows to train on")
    args = parser.parse_args()
    trust = TrustRules(min_users=5, max_user_share=0.1)
    focus = FocusRules(steps=60, replay_rows=1_000)
    finetune = RetrainRecipe(trust=trust, focus=focus, gate=OPEN_GATE)
    full = RetrainRecipe(mode="full", trust=trust, focus=focus, gate=OPEN_GATE, limit=args.limit)
    figures: dict[str, float | int] = {"taught": len(TAUGHT), "new": len(NEW)}
    with tempfile.TemporaryDirectory(prefix="full-retrain-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        registry = train_base(scratch / "models", args.limit)
        base = registry.current_name()
        figures["base"] = share_corrected(registry, str(base))
        taught = [CorrectionRow(i, text, 1, 100 + i, float(i)) for i, text in enumerate(TAUGHT)]
        tuned = retrain(registry, taught, finetune, scratch)
        registry.use(str(tuned.candidate_version))
        figures["after_finetune"] = share_corrected(registry, tuned.candidate_version)
        print(f"fine-tune: {figures['after_finetune']:.0%} of {len(TAUGHT)} answered as corrected")
        new = [CorrectionRow(100 + i, text, 1, 500 + i, 100.0 + i) for i, text in enumerate(NEW)]
        learned = [
            CorrectionRow(r.id, r.text, 1, r.user_id, r.created_at, learned=True) for r in taught
        ]
        kept = retrain(registry, new + learned, full, scratch)
        figures["full_with_learned"] = share_corrected(registry, kept.candidate_version)
        figures["full_with_learned_gate_learned"] = kept.corrections.carried_after or 0.0
        print(
            f"full retrain, learned corrections sent: {figures['full_with_learned']:.0%} "
            f"(gate's learned check {learned_check(kept)})"
        )
        forgot = retrain(registry, new, full, scratch)
        figures["full_without_learned"] = share_corrected(registry, forgot.candidate_version)
        print(
            f"full retrain, without them (before): {figures['full_without_learned']:.0%} "
            f"(gate's learned check {learned_check(forgot)})"
        )
    print(json.dumps(rounded(figures)))
    return 0 if figures["full_with_learned"] >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
