"""Who may steer the shared model: trust rules over correction rows, the overlay that
changes verdicts at once, the contested queue, and the typed recipe."""

from __future__ import annotations

import unicodedata

import pytest

from bot.overlay import CorrectionOverlay, Source, Vote, contested
from bot.storage import Correction
from training.recipe import FocusRules, GateRules, RecipeError, RetrainRecipe, TrustRules
from training.trust import (
    CorrectionRow,
    Route,
    WaitReason,
    carried,
    fold_of,
    normalise,
    select_for_training,
)

RULES = TrustRules(
    agreement=2,
    confident=0.9,
    confident_agreement=3,
    min_users=5,
    max_user_share=0.1,
    max_per_user=50,
)


def _row(id: int, text: str, label: int, user: int, review=None) -> CorrectionRow:
    return CorrectionRow(id, text, label, user, float(id), review)


def _reasons(selection) -> dict[str, str]:
    return {item.text: item.reason.value for item in selection.waiting}


# --- selecting corrections for the shared model -------------------------------------------


def test_twenty_users_each_correcting_once_are_all_used():
    rows = [_row(i, f"문장 {i}", 1, user=100 + i) for i in range(20)]
    selection = select_for_training(rows, {normalise(r.text): 0.3 for r in rows}, RULES)
    assert len(selection.used) == 20 and not selection.waiting
    assert {example.route for example in selection.used} == {Route.BROAD}
    assert selection.used_ids == list(range(20))


def test_one_user_alone_waits_for_agreement_however_many_they_send():
    rows = [_row(i, f"최악의 영화 {i}", 1, user=666) for i in range(50)]
    selection = select_for_training(rows, {}, RULES)
    assert not selection.used
    assert set(_reasons(selection).values()) == {WaitReason.FEW_USERS.value}


def test_a_prolific_user_among_many_gets_only_a_small_share():
    honest = [_row(i, f"좋은 날 {i}", 1, user=100 + i) for i in range(20)]
    poison = [_row(100 + i, f"나쁜 날 {i}", 1, user=666) for i in range(30)]
    selection = select_for_training(honest + poison, {}, RULES)
    from_poisoner = [e for e in selection.used if e.text.startswith("나쁜")]
    # at most 10% of what is used: k <= 0.1 * (20 + k)  ->  k <= 2
    assert len(from_poisoner) == 2 and len(selection.used) == 22
    assert selection.waiting_counts() == {WaitReason.OVER_SHARE.value: 28}


def test_agreement_shares_a_text_and_a_confident_verdict_needs_more_of_it():
    rows = [
        _row(1, "감기 다 나았다", 1, user=1),
        _row(2, " 감기  다 나았다", 1, user=2),
        _row(3, "최악의 영화", 1, user=1),
        _row(4, "최악의 영화", 1, user=2),
    ]
    positive = {"감기 다 나았다": 0.3, "최악의 영화": 0.02}  # the model is sure it is negative
    selection = select_for_training(rows, positive, RULES)
    assert [(e.text, e.route, e.users) for e in selection.used] == [
        ("감기 다 나았다", Route.AGREED, 2)
    ]
    assert _reasons(selection) == {"최악의 영화": WaitReason.CONFIDENT.value}
    third = [*rows, _row(5, "최악의 영화", 1, user=3)]
    assert len(select_for_training(third, positive, RULES).used) == 2


def test_admin_decisions_override_votes():
    rows = [
        _row(1, "최악의 영화", 1, user=1, review="approved"),
        _row(2, "그냥 그래", 1, user=1, review="rejected"),
        _row(3, "그냥 그래", 1, user=2),
    ]
    selection = select_for_training(rows, {"최악의 영화": 0.01}, RULES)
    assert [(e.text, e.route) for e in selection.used] == [("최악의 영화", Route.APPROVED)]
    assert _reasons(selection) == {"그냥 그래": WaitReason.REJECTED.value}


def test_ties_wait_and_texts_are_merged_after_normalisation():
    decomposed = unicodedata.normalize("NFD", "정말 좋아요")
    rows = [
        _row(1, "정말 좋아요", 1, user=1),
        _row(2, decomposed, 1, user=2),
        _row(3, "애매하네", 1, user=1),
        _row(4, "애매하네", 0, user=2),
    ]
    selection = select_for_training(rows, {}, RULES)
    assert [(e.text, e.ids) for e in selection.used] == [("정말 좋아요", (1, 2))]
    assert _reasons(selection) == {"애매하네": WaitReason.TIE.value}


def test_a_full_retrain_carries_what_was_learned_unless_new_votes_decide_it():
    def learned(id: int, text: str, label: int, user: int) -> CorrectionRow:
        return CorrectionRow(id, text, label, user, float(id), learned=True)

    rows = [
        learned(1, "이 영화 죽인다", 1, 10),
        learned(2, "이 영화  죽인다", 1, 11),  # the same text once normalised
        learned(3, "결말 사기다", 1, 12),
        learned(4, "노잼", 0, 13),
        learned(5, "반반", 1, 14),
        learned(6, "반반", 0, 15),  # a tie teaches nothing
        learned(7, "스토리 죽인다", 1, 16),
    ]
    new = [_row(20, "결말 사기다", 0, user) for user in (30, 31)]  # agreed: the new label
    selection = select_for_training(new, {}, RULES)
    again = carried(rows, selection)
    assert [(e.text, e.label, e.ids, e.route) for e in again] == [
        ("노잼", 0, (4,), Route.LEARNED),
        ("스토리 죽인다", 1, (7,), Route.LEARNED),
        ("이 영화 죽인다", 1, (1, 2), Route.LEARNED),
    ]
    assert selection.texts == ["결말 사기다"] and selection.labels == [0]
    round_trip = CorrectionRow.from_dict(rows[0].to_dict())
    assert round_trip.learned and not CorrectionRow.from_dict(new[0].to_dict()).learned


def test_the_per_user_cap_keeps_the_newest_rows():
    rows = [_row(i, f"문장 {i}", 1, user=1) for i in range(5)]
    rules = TrustRules(max_per_user=2, min_users=1, max_user_share=1.0)
    selection = select_for_training(rows, {}, rules)
    assert selection.used_ids == [3, 4]
    assert selection.waiting_counts() == {WaitReason.CAPPED.value: 3}


def test_folds_are_stable_and_cover_every_fold():
    texts = [f"문장 {i}" for i in range(200)]
    folds = [fold_of(text, 2) for text in texts]
    assert folds == [fold_of(text, 2) for text in texts]
    assert set(folds) == {0, 1} and 60 < folds.count(0) < 140


# --- the overlay: immediate effect, scoped by trust ---------------------------------------


def test_a_users_correction_changes_their_verdict_only():
    overlay = CorrectionOverlay(RULES)
    overlay.add("감기 다 나았다 살 것 같네", user_id=1, label=1)
    mine = overlay.lookup(" 감기 다 나았다  살 것 같네", 1, model_positive=0.2)
    assert mine is not None and (mine.label, mine.source) == (1, Source.YOURS)
    assert overlay.lookup("감기 다 나았다 살 것 같네", 2, model_positive=0.2) is None


def test_agreement_makes_it_shared_and_forget_takes_it_back():
    overlay = CorrectionOverlay(RULES)
    overlay.add("이 책 인생책 등극", 1, 1)
    overlay.add("이 책 인생책 등극", 2, 1)
    shared = overlay.lookup("이 책 인생책 등극", 3, model_positive=0.3)
    assert shared is not None and (shared.label, shared.source, shared.users) == (
        1,
        Source.AGREED,
        2,
    )
    # against a confident verdict two are not enough, three are
    assert overlay.lookup("이 책 인생책 등극", 3, model_positive=0.05) is None
    overlay.add("이 책 인생책 등극", 4, 1)
    assert overlay.lookup("이 책 인생책 등극", 3, model_positive=0.05) is not None
    for user in (1, 2, 4):
        overlay.forget_user(user)
    assert overlay.lookup("이 책 인생책 등극", 3, model_positive=0.3) is None and len(overlay) == 0


def test_admin_review_settles_a_text_for_everyone():
    overlay = CorrectionOverlay.of(RULES, [Vote("최악의 영화", 1, 1)])
    overlay.review("최악의 영화", 1, "approved")
    approved = overlay.lookup("최악의 영화", 9, model_positive=0.01)
    assert approved is not None and approved.source is Source.ADMIN
    overlay.review("최악의 영화", 1, "rejected")
    overlay.add("최악의 영화", 2, 1)
    overlay.add("최악의 영화", 3, 1)
    assert overlay.lookup("최악의 영화", 9, model_positive=0.5) is None
    assert overlay.lookup("최악의 영화", 1, model_positive=0.5).source is Source.YOURS


def test_contested_lists_disagreement_and_confident_contradiction_not_settled_ones():
    def correction(id, text, label, p):
        return Correction(id, text, 1 - label, p, label, id, 1, "v", float(id), None)

    rows = [
        correction(1, "최악의 영화", 1, 0.02),  # against a confident verdict
        correction(2, "애매하네", 1, 0.5),
        correction(3, "애매하네", 0, 0.5),  # disagreement
        correction(4, "감기 다 나았다", 1, 0.3),  # plain: agreement will settle it
    ]
    items = contested(rows, decided=set(), rules=RULES)
    assert {(item.text, item.label) for item in items} == {
        ("최악의 영화", 1),
        ("애매하네", 1),
        ("애매하네", 0),
    }
    assert contested(rows, decided={("최악의 영화", 1)}, rules=RULES, limit=1)[0].text == "애매하네"


# --- the recipe: one typed value, through JSON -------------------------------------------


def test_the_recipe_round_trips_through_json_and_refuses_unknown_or_bad_values(tmp_path):
    recipe = RetrainRecipe(
        mode="full",
        trust=TrustRules(agreement=3, confident_agreement=4),
        focus=FocusRules(steps=50),
        gate=GateRules(nsmc_rows=1000),
        limit=500,
    )
    path = tmp_path / "recipe.json"
    recipe.write(path)
    assert RetrainRecipe.read(path) == recipe
    assert RetrainRecipe.from_dict({}) == RetrainRecipe()
    with pytest.raises(RecipeError, match="unknown trust setting"):
        RetrainRecipe.from_dict({"trust": {"agrement": 2}})
    with pytest.raises(RecipeError, match="max_user_share"):
        TrustRules(max_user_share=1.5)
    with pytest.raises(RecipeError, match="confident_agreement"):
        TrustRules(agreement=3, confident_agreement=2)
