"""A gate that lets any candidate through: for tests about how a retrain trains and what
the bot does with its candidate, not about the gate's judgement (tests/test_gate.py)."""

from __future__ import annotations

from training.recipe import GateRules


def open_gate(nsmc_rows: int) -> GateRules:
    """Every check passes; the NSMC check still compares `nsmc_rows` reviews."""
    return GateRules(
        nsmc_rows=nsmc_rows,
        max_nsmc_drop=0.99,
        max_canary_flips=1_000,
        min_learned=0.0,
        max_p_value=1.0,
        min_moved_share=0.0,
    )
