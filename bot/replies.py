"""Every text the bot sends, as pure functions of plain values (no Telegram here).

Korean first; English for people whose Telegram language is not Korean. Replies are plain
text (no parse mode), so nothing a user typed can break the markup.
"""

from __future__ import annotations

from typing import Literal

from bot.first_model import FollowUpState, Phase
from bot.overlay import ContestedText, OverlayVerdict, Source
from bot.serving import ServingStats
from nlp.inference import REASON_EMPTY
from nlp.trace import Trace
from training.gate import CheckName, GateCheck
from training.protocol import EventKind, ProgressEvent, RetrainResult, Stage

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


def label_name(label: int, lang: Lang = "ko") -> str:
    if lang == "en":
        return "positive" if label == 1 else "negative"
    return POSITIVE_KO if label == 1 else NEGATIVE_KO


def with_ro(word: str) -> str:
    """The particle 으로/로 chosen by the word's last syllable: 으로 after a final consonant
    other than ㄹ, 로 after a vowel or ㄹ (긍정으로, 부정으로, 사과로, 서울로)."""
    last = word[-1] if word else ""
    if "가" <= last <= "힣":
        final = (ord(last) - ord("가")) % 28
        return word + ("로" if final in (0, 8) else "으로")  # 8: ㄹ
    return word + "(으)로"


def label_with_ro(label: int, lang: Lang) -> str:
    """'긍정으로' in Korean; 'positive' in English (the sentence carries the preposition)."""
    return with_ro(label_name(label)) if lang == "ko" else label_name(label, "en")


def bar(probability: float) -> str:
    filled = round(probability * BAR_CELLS)
    return "█" * filled + "░" * (BAR_CELLS - filled)


def verdict_text(trace: Trace, lang: Lang = "ko", corrected: OverlayVerdict | None = None) -> str:
    """The verdict, then one line per word: bar, P(positive), the word; turns are marked.

    When corrections override the model, the headline says so and what the model said;
    the trace below stays the model's own reading."""
    if corrected is not None and corrected.label != trace.label:
        emoji = "😊" if corrected.label == 1 else "😞"
        headline = [
            f"{emoji} {label_name(corrected.label, lang)}",
            _overlay_note(trace, corrected, lang),
        ]
    else:
        emoji = "😊" if trace.label == 1 else "😞"
        headline = [f"{emoji} {label_name(trace.label, lang)} ({trace.confidence:.0%})"]
    lines = [*headline, "", _pick(lang, "단어별 흐름 (긍정 확률)", "Word by word (P positive)")]
    turns = set(trace.turning_points)
    shown = trace.words[:MAX_TRACE_LINES]
    for index, (word, probability) in enumerate(zip(shown, trace.probabilities, strict=False)):
        mark = ""
        if index == trace.decisive_word:
            mark = _pick(lang, "  ◀ 여기서 판정이 바뀌었어요", "  ◀ the verdict turned here")
        elif index in turns:
            mark = _pick(lang, "  ◀ 전환", "  ◀ turn")
        lines.append(f"{bar(probability)} {probability:.2f} {_short(word)}{mark}")
    more = len(trace.words) - MAX_TRACE_LINES
    if more > 0:
        lines.append(_pick(lang, f"… 단어 {more}개 더", f"… {more} more words"))
    if trace.truncated:  # the n-gram model reads all of it
        lines.append(_pick(lang, "(메시지가 길어 신경망은 앞부분만 읽었어요)",
                           "(a long message: the networks read only its beginning)"))  # fmt: skip
    lines += ["", _pick(lang, "판정이 맞았나요?", "Was the verdict right?")]
    return fit("\n".join(lines))


def _overlay_note(trace: Trace, corrected: OverlayVerdict, lang: Lang) -> str:
    model = f"{label_name(trace.label, lang)} {trace.confidence:.0%}"
    if corrected.source is Source.YOURS:
        return _pick(lang, f"(내가 고친 판정이에요 · 모델은 {model})",
                     f"(your correction · the model says {model})")  # fmt: skip
    if corrected.source is Source.ADMIN:
        return _pick(lang, f"(관리자가 확인한 수정이에요 · 모델은 {model})",
                     f"(a correction confirmed by an admin · the model says {model})")  # fmt: skip
    return _pick(lang, f"(사용자 {corrected.users}명의 수정에 따른 판정이에요 · 모델은 {model})",
                 f"(corrected by {corrected.users} users · the model says {model})")  # fmt: skip


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
    "correction_saved": ("고마워요! 저장했어요. 이 문장은 이제 {label} 보여 드려요. {agreement}명 이상이 같은 의견이면 모두에게 바뀌고, 모델도 다음 학습에서 배워요.",
                         "Thanks, saved! From now on you will see this sentence as {label}. Once {agreement} people agree it changes for everyone, and the model learns it in the next training run."),
    "correction_updated": ("이미 고쳐 주신 문장이에요. {label} 다시 저장했어요.",
                           "You had corrected this sentence before; it is now saved as {label}."),
    "review_none": ("검토할 수정이 없어요.", "There are no contested corrections to review."),
    "review_approved": ("승인했어요: 모두에게 {label} 보이고 다음 학습에 쓰여요.",
                        "Approved: everyone now sees it as {label}, and the next training run uses it."),
    "review_rejected": ("거절했어요: 이 수정은 모두에게 적용되지 않고 학습에도 쓰이지 않아요.",
                        "Rejected: this correction will not apply to anyone else nor be used for training."),
    "review_button_approve": ("✅ 승인", "✅ Approve"),
    "review_button_reject": ("❌ 거절", "❌ Reject"),
    "confirmed": ("확인해 주셔서 고마워요!", "Thanks for confirming!"),
    "stale_button": ("이 판정은 더 이상 찾을 수 없어요 (삭제되었거나 오래된 버튼이에요).",
                     "I can no longer find this verdict (it was deleted or the button is stale)."),
    "not_your_verdict": ("다른 사람의 판정은 고칠 수 없어요. 판정을 받은 사람만 고칠 수 있어요.",
                         "Only the person that verdict answered can correct it."),
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
    "busy": ("지금 메시지가 너무 많이 몰려 있어요. 잠시 후 다시 보내 주세요.",
             "I have too many messages to read right now; please send it again in a moment."),
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
    "forget_confirm": ("저장된 내 데이터(고친 내용, 판정, 분위기 점수)를 모두 지울까요? 되돌릴 수 없어요.",
                       "Delete everything stored about you (corrections, verdicts, mood scores)? This cannot be undone."),
    "forget_yes": ("모두 지워 주세요", "Yes, delete it all"),
    "forget_no": ("취소", "Cancel"),
    "forget_kept": ("아무것도 지우지 않았어요.", "Nothing was deleted."),
    "not_your_button": ("이 버튼은 다른 사람의 것이에요.", "This button belongs to someone else."),
    "forgotten": ("지웠어요: 고친 내용 {corrections}개, 판정 {verdicts}개, 분위기 점수 {scores}개.",
                  "Deleted: {corrections} corrections, {verdicts} verdicts, {scores} mood scores."),
    "no_corrections": ("아직 저장된 수정 내역이 없어요.", "No corrections stored yet."),
    "rollback_usage": ("사용법: /rollback [버전] — 버전을 빼면 바로 전 버전으로 돌아가요.",
                       "Usage: /rollback [version] — without a version, go back to the previous one."),
    "rolled_back": ("이제 {version} 버전을 쓰고 있어요.", "Now serving version {version}."),
    "rollback_refused": ("{version} 버전은 없거나 쓸 수 없어요. /models 로 버전을 확인해 보세요.",
                         "Version {version} does not exist or cannot be used; /models lists the versions."),
    "no_previous": ("돌아갈 이전 버전이 없어요.", "There is no previous version to roll back to."),
    "retrain_busy": ("이미 재학습이 진행 중이에요.", "A retrain is already running."),
    "retrain_started": ("🔁 재학습을 시작해요…", "🔁 Retraining…"),
    "demo_usage": ("사용법: /{demo} [에포크 1~500] [시드 0 이상]", "Usage: /{demo} [epochs 1-500] [seed >= 0]"),
    "demo_failed": ("실습을 실행하지 못했어요: {error}", "The demo could not run: {error}"),
}  # fmt: skip


def say(key: str, lang: Lang, **values: object) -> str:
    korean, english = TEXTS[key]
    return fit(_pick(lang, korean, english).format(**values))


STAGES = {
    Stage.READING: ("수정 내역 읽는 중", "reading the corrections"),
    Stage.TOKENISING: ("형태소 분석 중", "tokenising"),
    Stage.TRAINING: ("학습 중", "training"),
    Stage.EVALUATING: ("평가 중", "evaluating"),
    Stage.GATING: ("검증 게이트 확인 중", "checking the gate"),
}
MEMBER_NAMES = {
    "kiwi": ("Kiwi 신경망", "Kiwi network"),
    "mecab": ("mecab 신경망", "mecab network"),
    "syllable": ("음절 신경망", "syllable network"),
    "ngram": ("n-gram 모델", "n-gram model"),
}


def _job_name(job: str | None, lang: Lang) -> str:
    if not job:
        return ""
    if job == "final":
        return _pick(lang, "최종 모델", "final model")
    fold = job.removeprefix("fold ")
    return _pick(lang, f"교차 검증 {fold}", f"cross-validation {fold}")


def retrain_progress_text(event: ProgressEvent, lang: Lang = "ko") -> str:
    """One line per state of a running retrain, for an edited Telegram message: which
    training job (a cross-validation fold or the final model) and which member."""
    head = _pick(lang, "🔁 재학습", "🔁 Retraining")
    if event.kind is EventKind.MEMBER:
        ko, en = MEMBER_NAMES.get(event.member_name or "", (event.member_name, event.member_name))
        member = f"{_pick(lang, ko, en)} {event.member}/{event.members}"
        return f"{head} · {_job_name(event.job, lang)} · {member} ✓"
    if event.stage is None:
        return head
    stage = _pick(lang, *STAGES[event.stage])
    job = _job_name(event.job, lang)
    return f"{head} · {job + ' · ' if job else ''}{stage}"


def retrain_outcome_text(outcome, lang: Lang = "ko") -> str:
    """The admin's report: what happened, the corrections, before/after, the gate's checks,
    and examples whose verdict flipped."""
    result: RetrainResult | None = outcome.result
    lines = [_headline(outcome, lang)]
    if result is None:
        lines.append(outcome.message)
        return fit("\n".join(lines))
    lines += _corrections_lines(result, lang)
    if result.decision is not None:
        lines += ["", _pick(lang, "검증 게이트", "Gate checks")]
        lines += [_check_line(check, lang) for check in result.decision.checks]
    if result.flips:
        lines += ["", _pick(lang, "판정이 바뀐 예", "Verdicts that flipped")]
        for flip in result.flips[:6]:
            arrow = f"{flip.before:.2f} → {flip.after:.2f}"
            lines.append(f"· {_short_text(flip.text)} ({arrow}, {_pick(lang, '정답', 'label')} "
                         f"{label_name(flip.label, lang)})")  # fmt: skip
    lines.append(f"⏱ {outcome.seconds:.0f}{_pick(lang, '초', ' s')}")
    return fit("\n".join(lines))


def _headline(outcome, lang: Lang) -> str:
    version = outcome.candidate_version or ""
    texts = {
        "accepted": (f"✅ 새 모델을 쓰기 시작했어요: {version}", f"✅ Now serving a new model: {version}"),
        "rejected": ("🚫 새 모델이 검증 게이트를 통과하지 못해 기존 모델을 계속 써요.",
                     "🚫 The new model did not pass the gate; the current one stays."),
        "failed": ("❌ 재학습이 실패했어요. 서비스 중인 모델과 저장소는 그대로예요.",
                   "❌ The retrain failed. The served model and the registry are unchanged."),
        "cancelled": ("⏹ 재학습을 취소했어요. 서비스 중인 모델은 그대로예요.",
                      "⏹ The retrain was cancelled. The served model is unchanged."),
        "nothing_to_do": ("ℹ️ 아직 모델이 배울 수정이 없어요.", "ℹ️ Nothing for the model to learn yet."),
    }  # fmt: skip
    return _pick(lang, *texts[str(outcome.status)])


WAIT_REASONS = {
    "capped": ("사용자당 한도 초과", "over the per-user cap"),
    "tie": ("의견이 반반", "users disagree evenly"),
    "confident": ("확신 높은 판정에 반대 · 더 많은 동의나 관리자 필요",
                  "against a confident verdict: needs more agreement or an admin"),
    "few_users": ("참여한 사용자가 적어 동의를 기다림", "too few users in the batch: waiting for agreement"),
    "over_share": ("한 사용자 몫을 넘음", "beyond one user's share of the batch"),
    "rejected": ("관리자가 거절", "rejected by an admin"),
}  # fmt: skip


def _corrections_lines(result: RetrainResult, lang: Lang) -> list[str]:
    report = result.corrections
    routes = report.used_by_route
    used = _pick(
        lang,
        f"사용한 수정 {report.used}개 (동의 {routes.get('agreed', 0)} · 관리자 승인 "
        f"{routes.get('approved', 0)} · 여러 사용자 {routes.get('broad', 0)})",
        f"Corrections used: {report.used} (agreed {routes.get('agreed', 0)} · approved "
        f"{routes.get('approved', 0)} · from many users {routes.get('broad', 0)})",
    )
    lines = [used]
    for reason, count in report.waiting_by_reason.items():
        ko, en = WAIT_REASONS.get(reason, (reason, reason))
        lines.append(_pick(lang, f"· 대기 {count}개: {ko}", f"· waiting {count}: {en}"))
    if report.accuracy_before is not None and report.accuracy_after is not None:
        lines.append(_pick(lang, "수정 내역 정확도", "Accuracy on these corrections")
                     + f" {report.accuracy_before:.0%} → {report.accuracy_after:.0%}")  # fmt: skip
    return lines


def _check_line(check: GateCheck, lang: Lang) -> str:
    mark = "✅" if check.passed else "❌"
    f = check.figures
    if check.name is CheckName.NSMC:
        detail = _pick(
            lang,
            f"NSMC 정확도 {f['accuracy_before']:.2%} → {f['accuracy_after']:.2%} ({f['n']:,}개; "
            f"하락 상한 {f['drop_bound'] * 100:+.2f}점, 허용 {f['max_drop'] * 100:.2f}점)",
            f"NSMC accuracy {f['accuracy_before']:.2%} → {f['accuracy_after']:.2%} ({f['n']:,} "
            f"reviews; drop bound {f['drop_bound'] * 100:+.2f} points, {f['max_drop'] * 100:.2f} allowed)",
        )
    elif check.name is CheckName.CANARIES:
        detail = _pick(lang, f"카나리아 {f['n']}개 중 뒤집힌 판정 {f['flipped']}개",
                       f"canaries: {f['flipped']} of {f['n']} flipped")  # fmt: skip
    elif check.name is CheckName.LEARNED:
        detail = _pick(lang, f"학습한 수정 {f['n']}개 중 {f['right']}개를 고친 대로 답함 (필요 {f['min_share']:.0%})",
                       f"answers {f['right']} of its {f['n']} corrections as corrected ({f['min_share']:.0%} needed)")  # fmt: skip
    else:
        detail = _pick(
            lang,
            f"일반화: 자기 몫 없이 학습해도 {f['toward']}개는 정답 쪽, {f['away']}개는 반대로 "
            f"움직임 (부호 검정 p = {f['p_value']:.3f}, 기준 {f['max_p_value']})",
            f"generalises: trained without them, {f['toward']} moved towards their label and "
            f"{f['away']} away (sign test p = {f['p_value']:.3f}, at most {f['max_p_value']})",
        )
    return f"{mark} {detail}"


def _short_text(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def review_text(item: ContestedText, lang: Lang) -> str:
    model = f"{label_name(int(item.model_positive >= 0.5), lang)} {max(item.model_positive, 1 - item.model_positive):.0%}"
    return _pick(
        lang,
        f"«{_short_text(item.text, 300)}»\n→ {label_name(item.label)}: 찬성 {item.votes_for}명 · "
        f"반대 {item.votes_against}명 · 모델 {model}",
        f"«{_short_text(item.text, 300)}»\n→ {label_name(item.label, 'en')}: {item.votes_for} for · "
        f"{item.votes_against} against · model {model}",
    )


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


def status_text(
    stats: ServingStats, accuracy: float | None, pending: int, uptime_s: float,
    last_run: tuple[str, str | None] | None, first_model: FollowUpState | None, lang: Lang,
    now: float,
) -> str:  # fmt: skip
    """The admins' /status: the served version, its figures, and the full model's training
    while a quick stand-in answers."""
    lines = [
        _pick(lang, f"모델 버전: {stats.version}", f"Model version: {stats.version}"),
        _pick(lang, "테스트 정확도: ", "Test accuracy: ")
        + (f"{accuracy:.4f}" if accuracy is not None else "-"),
        _pick(lang, f"대기 중인 수정: {pending}개", f"Pending corrections: {pending}"),
        _pick(lang, "가동 시간: ", "Uptime: ") + duration(uptime_s, lang),
        _pick(lang, f"분석한 메시지: {stats.served}개", f"Messages analysed: {stats.served}"),
        _pick(lang, "지연 시간 p50: ", "Latency p50: ")
        + (f"{stats.p50_ms:.1f} ms" if stats.p50_ms is not None else "-"),
        _pick(lang, f"핫 스왑 횟수: {stats.swaps}", f"Hot swaps: {stats.swaps}"),
    ]
    if last_run is not None:
        status, version = last_run
        lines.append(
            _pick(lang, "마지막 재학습: ", "Last retrain: ") + f"{status} ({version or '-'})"
        )
    if first_model is not None:
        lines.append(first_model_text(first_model, lang, now))
    return fit("\n".join(lines))


def first_model_text(state: FollowUpState, lang: Lang, now: float) -> str:
    """Where the full model is: training (how far, for how long), serving, or failed."""
    elapsed = duration(now - state.started_at, lang)
    if state.phase is Phase.SERVING:
        return _pick(
            lang,
            f"✅ 전체 모델로 바꿨어요: {state.full_version} (빠른 모델 {state.quick_version} 대신)",
            f"✅ The full model {state.full_version} replaced the quick model {state.quick_version}.",
        )
    if state.phase is Phase.FAILED:
        return _pick(
            lang,
            f"❌ 전체 모델 학습이 실패해 빠른 모델을 계속 써요 ({state.error}). 다시 시작하면 다시 학습해요.",
            f"❌ Training the full model failed, so the quick model stays ({state.error}). A restart tries again.",
        )
    where = ""
    if state.last is not None:
        ko, en = MEMBER_NAMES.get(
            state.last.member_name or "", (state.last.member_name, state.last.member_name)
        )
        where = _pick(
            lang,
            f" · {ko} {state.last.member}/{state.last.members} 에포크 {state.last.epoch}/{state.last.epochs} 끝",
            f" · {en} {state.last.member}/{state.last.members}, epoch {state.last.epoch}/{state.last.epochs} done",
        )
    if state.evaluating:
        where += _pick(lang, " · 테스트 세트로 평가 중", " · evaluating on the test set")
    return _pick(
        lang,
        f"⏳ 지금은 빠른 모델(n-gram)로 답해요. 전체 모델 학습 중 {bar(state.fraction)} {state.fraction:.0%}{where} · {elapsed} 경과",
        f"⏳ Answering with the quick (n-gram) model. Training the full model {bar(state.fraction)} {state.fraction:.0%}{where} · {elapsed} so far",
    )


def duration(seconds: float, lang: Lang = "ko") -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return _pick(lang, f"{days}일 {hours}시간 {minutes}분", f"{days} d {hours} h {minutes} min")
    return _pick(
        lang, f"{hours}시간 {minutes}분 {seconds}초", f"{hours} h {minutes} min {seconds} s"
    )
