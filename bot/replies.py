"""Every text the bot sends, as pure functions of plain values (no Telegram here).

Korean first; English for people whose Telegram language is not Korean. Replies are plain
text (no parse mode), so nothing a user typed can break the markup.
"""

from __future__ import annotations

from typing import Literal

from nlp.inference import REASON_EMPTY
from nlp.trace import Trace

# The bot's own refusal: the model would score any text, but a Korean bot's verdict on
# "hello world" would be a guess dressed up as an answer.
REASON_NO_HANGUL = "no_hangul"

Lang = Literal["ko", "en"]
TELEGRAM_TEXT_LIMIT = 4096
BAR_CELLS = 10
MAX_TRACE_LINES = 40
MAX_WORD_CHARS = 14

POSITIVE_KO, NEGATIVE_KO = "긍정", "부정"
BUTTON_RIGHT, BUTTON_WRONG = "맞아요 👍", "틀렸어요 👎"


def language_of(language_code: str | None) -> Lang:
    return "ko" if (language_code or "ko").lower().startswith("ko") else "en"


def label_name(label: int) -> str:
    return POSITIVE_KO if label == 1 else NEGATIVE_KO


def bar(probability: float) -> str:
    filled = round(probability * BAR_CELLS)
    return "█" * filled + "░" * (BAR_CELLS - filled)


def verdict_text(trace: Trace) -> str:
    """The verdict, then one line per word: bar, P(positive), the word; turns are marked."""
    emoji = "😊" if trace.label == 1 else "😞"
    lines = [
        f"{emoji} {label_name(trace.label)} ({trace.confidence:.0%})",
        "",
        "단어별 흐름 (긍정 확률)",
    ]
    turns = set(trace.turning_points)
    shown = trace.words[:MAX_TRACE_LINES]
    for index, (word, probability) in enumerate(zip(shown, trace.probabilities, strict=False)):
        mark = ""
        if index == trace.decisive_word:
            mark = "  ◀ 여기서 판정이 바뀌었어요"
        elif index in turns:
            mark = "  ◀ 전환"
        lines.append(f"{bar(probability)} {probability:.2f} {_short(word)}{mark}")
    if len(trace.words) > MAX_TRACE_LINES:
        lines.append(f"… 단어 {len(trace.words) - MAX_TRACE_LINES}개 더")
    if trace.truncated:
        lines.append("(메시지가 길어 신경망은 앞부분만 읽었어요)")  # the n-gram model reads all
    lines += ["", "판정이 맞았나요?"]
    return fit("\n".join(lines))


def unreadable_text(trace: Trace, lang: Lang) -> str:
    if trace.reason == REASON_EMPTY:
        return _pick(lang, "분석할 글이 없어요. 한국어 문장을 보내 주세요.",
                     "There is no text to analyse. Please send a Korean sentence.")  # fmt: skip
    if trace.reason == REASON_NO_HANGUL:
        return _pick(
            lang,
            '한국어 문장만 분석할 수 있어요. 예: "배우 연기가 정말 좋았어요"',
            'I can only read Korean. Try: "배우 연기가 정말 좋았어요" (the acting was great).',
        )
    return _pick(lang, "이 글에서는 읽을 수 있는 단어를 찾지 못했어요.",
                 "I could not find any word I can read in this message.")  # fmt: skip


def fit(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(word: str) -> str:
    return word if len(word) <= MAX_WORD_CHARS else word[: MAX_WORD_CHARS - 1] + "…"


def _pick(lang: Lang, korean: str, english: str) -> str:
    return korean if lang == "ko" else english


HELP_KO = """안녕하세요! 한국어 문장의 감정을 단어 하나하나 따라가며 읽는 봇이에요.

• 아무 문장이나 보내면 긍정/부정 판정과 단어별 흐름을 보여 드려요.
• 판정이 틀렸다면 [틀렸어요]를 누르거나, 판정 메시지에 답장으로 /correct 긍정 또는 /correct 부정 을 보내 주세요. 고친 내용은 저장되어 다음 학습에 쓰여요.
• /trace <문장> — 단어별 흐름을 그래프로도 보내 드려요.
• /forget — 저장된 내 데이터를 모두 지워요.

그룹에서는
• 메시지마다 분위기 점수만 저장해요 (글 내용은 저장하지 않아요. 관리자가 /store_text on 으로 켤 때만 저장).
• /mood [시간] — 최근 분위기 요약과 그래프 (기본 24시간).
• /mood_alert <0~1 | off> — 분위기가 기준 아래로 떨어지면 한 번 알려 드려요 (그룹 관리자만).

순환 신경망 실습
• /rnn, /lstm, /gru [에포크] [시드] — 작은 예제로 왜 게이트가 있는 셀이 긴 의존성을 잘 배우는지 보여 드려요.

관리자: /status, /corrections, /retrain, /models, /rollback [버전]"""

HELP_EN = """Hi! I read Korean sentences word by word and tell you how the sentiment moves.

• Send any Korean sentence: you get a positive/negative verdict and a word-by-word trace.
• If I got it wrong, press [틀렸어요] ("wrong"), or reply to my verdict with /correct 긍정 (positive) or /correct 부정 (negative). Corrections are saved and used in the next training run.
• /trace <sentence> — the trace as a chart too.
• /forget — delete everything stored about you.

In groups
• I store only a mood score per message (no text, unless an admin enables /store_text on).
• /mood [hours] — recent mood summary and chart (default 24 hours).
• /mood_alert <0-1 | off> — one alert when the mood drops below the threshold (group admins).

Recurrent network demos
• /rnn, /lstm, /gru [epochs] [seed] — small experiments showing why gated cells learn long dependencies.

Admins: /status, /corrections, /retrain, /models, /rollback [version]"""


def help_text(lang: Lang) -> str:
    return _pick(lang, HELP_KO, HELP_EN)


TEXTS: dict[str, tuple[str, str]] = {
    "correction_saved": ("고마워요! '{label}'(으)로 고친 내용을 저장했어요. 다음 학습에 반영돼요.",
                         "Thanks! Saved your correction to '{label}'. It will be used in the next training run."),
    "correction_updated": ("이미 고쳐 주신 문장이에요. '{label}'(으)로 다시 저장했어요.",
                           "You already corrected this sentence; it is now saved as '{label}'."),
    "confirmed": ("확인해 주셔서 고마워요!", "Thanks for confirming!"),
    "stale_button": ("이 판정은 더 이상 찾을 수 없어요 (삭제되었거나 오래된 버튼이에요).",
                     "I can no longer find this verdict (it was deleted or the button is stale)."),
    "not_your_verdict": ("다른 대화의 판정은 고칠 수 없어요.", "That verdict belongs to another chat."),
    "correct_usage": ("사용법: 판정 메시지에 답장으로 /correct 긍정 또는 /correct 부정",
                      "Usage: reply to my verdict with /correct 긍정 (positive) or /correct 부정 (negative)"),
    "unknown_command": ("모르는 명령이에요. /help 를 보내 보세요.", "I don't know that command. Try /help."),
    "trace_usage": ("사용법: /trace <한국어 문장>", "Usage: /trace <Korean sentence>"),
    "text_only": ("글만 분석할 수 있어요. 한국어 문장을 보내 주세요.",
                  "I can only analyse text. Please send a Korean sentence."),
    "rate_limited": ("메시지가 너무 빨라요. 잠시 후 다시 보내 주세요.",
                     "That's a lot of messages; please wait a moment and try again."),
    "storage_error": ("지금은 저장할 수 없어요 ({error}). 잠시 후 다시 시도해 주세요. 아무것도 저장되지 않았어요.",
                      "I cannot save right now ({error}). Please try again shortly; nothing was saved."),
    "internal_error": ("죄송해요, 처리 중에 문제가 생겼어요. 잠시 후 다시 시도해 주세요.",
                       "Sorry, something went wrong. Please try again in a moment."),
    "admins_only": ("관리자만 쓸 수 있는 명령이에요.", "Sorry, this command is for the bot's admins only."),
    "chat_admins_only": ("그룹 관리자만 쓸 수 있는 명령이에요.", "Only this group's admins can use this command."),
    "groups_only": ("그룹에서만 쓸 수 있는 명령이에요.", "This command works in group chats only."),
    "mood_usage": ("사용법: /mood [시간] (1~720, 기본 24)", "Usage: /mood [hours] (1-720, default 24)"),
    "mood_empty": ("지난 {hours}시간 동안 분석한 메시지가 없어요.", "No messages analysed in the last {hours} hours."),
    "alert_usage": ("사용법: /mood_alert <0~1 사이 숫자 | off>", "Usage: /mood_alert <number between 0 and 1 | off>"),
    "alert_set": ("분위기가 {threshold:.2f} 아래로 떨어지면 알려 드릴게요.",
                  "I will post an alert when the mood falls below {threshold:.2f}."),
    "alert_off": ("분위기 알림을 껐어요.", "Mood alerts are off."),
    "alert_fired": ("⚠️ 요즘 대화 분위기가 가라앉았어요 (최근 {window}개 메시지 평균 긍정도 {rolling:.2f} < 기준 {threshold:.2f}).",
                    "⚠️ The mood in this chat has dropped (mean positivity {rolling:.2f} over the last {window} messages, below {threshold:.2f})."),
    "alert_recovered": ("🌤 분위기가 다시 좋아졌어요 (평균 긍정도 {rolling:.2f}).",
                        "🌤 The mood has recovered (mean positivity {rolling:.2f})."),
    "store_text_usage": ("사용법: /store_text on|off", "Usage: /store_text on|off"),
    "store_text_on": ("이제 이 그룹의 메시지 글도 저장해요. /store_text off 로 끄면 저장된 글도 지워요.",
                      "Message texts in this group are now stored. /store_text off turns it off and erases them."),
    "store_text_off": ("글 저장을 껐어요. 저장되어 있던 글 {count}개를 지웠어요.",
                       "Text storage is off; {count} stored texts were erased."),
    "forgotten": ("지웠어요: 고친 내용 {corrections}개, 판정 {verdicts}개, 분위기 점수 {scores}개.",
                  "Deleted: {corrections} corrections, {verdicts} verdicts, {scores} mood scores."),
    "no_corrections": ("아직 저장된 수정 내역이 없어요.", "No corrections stored yet."),
    "rollback_usage": ("사용법: /rollback [버전] — 버전을 빼면 바로 전 버전으로 돌아가요.",
                       "Usage: /rollback [version] — without a version, go back to the previous one."),
    "rolled_back": ("이제 {version} 버전을 쓰고 있어요.", "Now serving version {version}."),
    "no_previous": ("돌아갈 이전 버전이 없어요.", "There is no previous version to roll back to."),
    "retrain_busy": ("이미 재학습이 진행 중이에요.", "A retrain is already running."),
    "retrain_started": ("🔁 재학습을 시작해요…", "🔁 Retraining…"),
    "demo_usage": ("사용법: /{demo} [에포크 1~500] [시드 0 이상]", "Usage: /{demo} [epochs 1-500] [seed >= 0]"),
    "demo_failed": ("실습을 실행하지 못했어요: {error}", "The demo could not run: {error}"),
}  # fmt: skip


def say(key: str, lang: Lang, **values: object) -> str:
    korean, english = TEXTS[key]
    return fit(_pick(lang, korean, english).format(**values))


STAGES_KO = {
    "started": "시작",
    "tokenising": "형태소 분석",
    "training": "학습",
    "evaluating": "평가",
    "gating": "검증 게이트",
}


def retrain_progress_text(event: dict) -> str:
    """One line per state of a running retrain, for an edited Telegram message."""
    kind = event.get("event")
    if kind == "epoch":
        detail = f"에포크 {event.get('epoch')}/{event.get('epochs')}"
        if "val_accuracy" in event:
            detail += f" · 검증 정확도 {float(event['val_accuracy']):.4f}"
        return f"🔁 재학습 중 · {detail}"
    stage = event.get("stage") if kind == "stage" else kind
    return f"🔁 재학습 중 · {STAGES_KO.get(str(stage), str(stage))}"


def retrain_outcome_text(outcome) -> str:
    """The admin's report: what happened, the gate's figures and reasons."""
    headline = {
        "accepted": f"✅ 새 모델을 쓰기 시작했어요: {outcome.candidate_version}",
        "rejected": "🚫 새 모델이 검증 게이트를 통과하지 못해 기존 모델을 계속 써요.",
        "failed": "❌ 재학습이 실패했어요. 서비스 중인 모델과 저장소는 그대로예요.",
        "cancelled": "⏹ 재학습을 취소했어요. 서비스 중인 모델은 그대로예요.",
        "nothing_to_do": "ℹ️ 학습할 수정 내역이 없어요.",
    }[str(outcome.status)]
    lines = [headline, outcome.message]
    figures = outcome.figures or {}
    if "candidate_test_accuracy" in figures:
        lines.append(
            f"테스트 정확도 {figures.get('current_test_accuracy', 0):.4f} → "
            f"{figures['candidate_test_accuracy']:.4f} (n={figures.get('test_n')})"
        )
    if "wrong_before" in figures:
        lines.append(
            f"보류된 수정 {figures.get('n_heldout')}개 중 기존 모델이 틀린 "
            f"{figures['wrong_before']}개에서 {figures.get('fixed_on_heldout')}개를 바로잡음"
        )
    lines += [f"· {reason}" for reason in outcome.reasons]
    if outcome.corrections_used:
        lines.append(f"사용한 수정: {outcome.corrections_used}개 · {outcome.seconds:.0f}초")
    return fit("\n".join(line for line in lines if line))


DEMO_TITLES = {
    "rnn": "SimpleRNN: 숫자 4개로 다음 숫자 맞히기",
    "lstm": "SimpleRNN vs LSTM: 100단계 곱셈 문제",
    "gru": "GRU vs LSTM: 100단계 곱셈 문제",
}
DEMO_LESSONS = {
    "rnn": "짧은 창(4단계)만 기억하면 되는 문제는 단순한 RNN도 잘 풀어요.",
    "lstm": "SimpleRNN은 기울기가 100단계를 거슬러 가며 사라져 평균만 맞히지만, LSTM은 "
    "게이트로 표시된 두 숫자를 셀 상태에 붙잡아 두었다가 곱할 수 있어요.",
    "gru": "GRU도 LSTM처럼 업데이트·리셋 게이트로 필요한 값을 오래 간직해요. 게이트가 하나 "
    "적어 파라미터는 더 적지만, 긴 의존성을 배우는 힘은 비슷해요.",
}


def demo_queued_text(demo: str, place: int) -> str:
    return f"⏳ /{demo} 대기 중 · 앞에 {place}개의 실습이 있어요"


def demo_progress_text(demo: str, model: str, epoch: int, epochs: int) -> str:
    return f"🧪 /{demo} · {model} 학습 중 · 에포크 {epoch}/{epochs}"


def demo_summary(result) -> str:
    """The result of a demo in a few Korean lines: figures, then why gates help."""
    lines = [
        f"🧪 {DEMO_TITLES[result.demo]}",
        f"평균만 예측하는 기준선 MSE {result.baseline_mse:.4f}",
    ]
    for name, model in result.models.items():
        share = model.val_loss / result.baseline_mse if result.baseline_mse else float("nan")
        lines.append(
            f"{name}: 검증 MSE {model.val_loss:.4f} (기준선의 {share:.0%}) · "
            f"파라미터 {model.params:,}개"
        )
    if result.prediction is not None:
        lines.append(
            f"[-0.1, 0.0, 0.1, 0.2] 다음 값 예측: {result.prediction:.3f} (정답 {result.target})"
        )
    lines.append(f"에포크 {result.epochs} · 시드 {result.seed} · {result.seconds:.0f}초")
    lines += ["", DEMO_LESSONS[result.demo]]
    return fit("\n".join(lines))
