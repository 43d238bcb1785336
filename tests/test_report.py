"""What admins read about a retrain, and what a user reads about a corrected verdict."""

from __future__ import annotations

import re
from dataclasses import replace

from bot import replies
from bot.i18n import with_particle
from bot.overlay import OverlayVerdict, Source
from bot.replies import say
from bot.retraining import OutcomeStatus, RetrainOutcome
from nlp.trace import Trace
from training.gate import GateDecision, check_canaries, check_generalises, check_learned, check_nsmc
from training.protocol import (
    CorrectionsReport,
    EventKind,
    Flip,
    ProgressEvent,
    RetrainResult,
    RetrainStatus,
    Stage,
)
from training.recipe import GateRules

HANGUL = re.compile(r"[\uac00-\ud7a3]")
RULES = GateRules()


def _outcome() -> RetrainOutcome:
    labels = [1] * 20
    checks = (
        check_nsmc([1] * 100, [1] * 100, [1] * 99 + [0], RULES),
        check_canaries(["최악"], [0], [0], [0], RULES),
        check_learned(labels, [1] * 20, RULES),
        check_generalises(labels, [0.3] * 20, [0.4] * 17 + [0.2] * 3, RULES),
    )
    result = RetrainResult(
        RetrainStatus.REJECTED,
        "finetune",
        base_version="v1",
        decision=GateDecision(checks),
        corrections=CorrectionsReport(
            rows=23,
            used_ids=tuple(range(20)),
            used_by_route={"broad": 18, "agreed": 2},
            waiting_by_reason={"confident": 2, "few_users": 1},
            accuracy_before=0.0,
            accuracy_after=1.0,
        ),
        flips=(Flip("감기 다 나았다 살 것 같네", 1, 0.32, 0.81, "correction"),),
        seconds=87.0,
    )
    return RetrainOutcome(OutcomeStatus.REJECTED, "admin", "kept", result=result, seconds=88.0)


def test_the_retrain_report_says_what_happened_in_the_admins_language():
    korean = replies.retrain_outcome_text(_outcome(), "ko")
    assert "검증 게이트를 통과하지 못해" in korean
    assert "사용한 수정 20개 (동의 2 · 관리자 승인 0 · 여러 사용자 18)" in korean
    assert "대기 2개: 확신 높은 판정에 반대" in korean and "대기 1개" in korean
    assert "수정 내역 정확도 0% → 100%" in korean
    assert "❌ NSMC 정확도 100.00% → 99.00%" in korean  # one of 100 broken: too uncertain
    assert "✅ 카나리아 1개 중 뒤집힌 판정 0개" in korean
    assert "감기 다 나았다" in korean and "0.32 → 0.81" in korean

    english = replies.retrain_outcome_text(_outcome(), "en")
    assert "did not pass the gate" in english and "Corrections used: 20" in english
    assert "waiting 2: against a confident verdict" in english
    assert "✅ generalises: trained without them, 17 moved towards" in english
    # no Korean in an English report, except the user's own words in the examples
    assert not HANGUL.search(english.replace("감기 다 나았다 살 것 같네", ""))


def test_the_report_says_when_a_student_learned_through_its_teacher():
    outcome = _outcome()
    assert outcome.result is not None
    taught = replace(outcome, result=replace(outcome.result, teacher_version="v0-teacher"))
    assert "교사 모델 v0-teacher 버전을 거쳐" in replies.retrain_outcome_text(taught, "ko")
    assert "through its teacher v0-teacher" in replies.retrain_outcome_text(taught, "en")
    assert "teacher" not in replies.retrain_outcome_text(outcome, "en")


def test_the_report_says_when_a_full_retrain_of_a_student_was_a_focused_one():
    outcome = _outcome()
    assert outcome.result is not None
    declined = replace(outcome, result=replace(outcome.result, full_declined=True))
    assert "not retrained from scratch" in replies.retrain_outcome_text(declined, "en")
    assert "처음부터 다시 학습하지 않아요" in replies.retrain_outcome_text(declined, "ko")
    assert "scratch" not in replies.retrain_outcome_text(outcome, "en")
    assert RetrainResult.from_json(declined.result.to_json()).full_declined


def test_progress_names_the_job_and_the_member():
    event = ProgressEvent(
        EventKind.MEMBER, Stage.TRAINING, job="fold 1/2", member=2, members=4, member_name="mecab"
    )
    assert (
        replies.retrain_progress_text(event, "ko")
        == "🔁 재학습 · 교차 검증 1/2 · mecab 형태소 신경망 2/4 ✓"
    )
    assert replies.retrain_progress_text(event, "en") == (
        "🔁 Retraining · cross-validation 1/2 · mecab morpheme network 2/4 ✓"
    )
    final = ProgressEvent(EventKind.STAGE, Stage.TRAINING, job="final")
    assert replies.retrain_progress_text(final, "en") == "🔁 Retraining · final model · training"
    assert ProgressEvent.from_json(event.to_json()) == event
    assert ProgressEvent.from_json("not json") is None


def test_a_corrected_verdict_says_where_it_comes_from():
    trace = Trace(
        "이 책 인생책 등극", ("이", "책", "인생책", "등극"), (0.5, 0.4, 0.3, 0.3), 0.3, "v1"
    )
    yours = replies.verdict_text(trace, "ko", OverlayVerdict(1, Source.YOURS, 1))
    assert yours.startswith("😊 긍정\n(내가 고친 판정이에요 · 모델은 부정 70%)")
    agreed = replies.verdict_text(trace, "en", OverlayVerdict(1, Source.AGREED, 3))
    assert agreed.startswith("😊 positive\n(corrected by 3 users · the model says negative 70%)")
    plain = replies.verdict_text(trace, "en").splitlines()
    assert plain[0] == "😞 negative (70%)"
    text = "\n".join(plain)
    for word in trace.words:  # Hangul only in the user's own words
        text = text.replace(f" {word}", " ")
    assert not HANGUL.search(text) and "◀ the verdict turned" in text


def test_korean_particles_follow_the_word():
    assert [with_particle(w, "ro") for w in ("긍정", "부정", "사과", "서울", "집")] == [
        "긍정으로",
        "부정으로",
        "사과로",
        "서울로",
        "집으로",
    ]
    assert [with_particle(w, "i") for w in ("모델", "사과")] == ["모델이", "사과가"]
    assert with_particle("Asia/Seoul", "ro") == "Asia/Seoul(으)로"
    assert say("review.approved", "ko", label="부정").startswith(
        "승인했어요: 모두에게 부정으로 보이고"
    )


def test_the_result_round_trips_through_its_file(tmp_path):
    result = _outcome().result
    path = tmp_path / "result.json"
    result.write(path)
    assert RetrainResult.read(path) == result
    event = ProgressEvent(EventKind.DONE, status="accepted", retrain=result)
    assert ProgressEvent.from_json(event.to_json()) == event  # or in the last event
    path.write_text("{", encoding="utf-8")
    assert RetrainResult.read(path) is None
