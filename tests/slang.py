"""Slang a small NSMC model reads as negative ("it kills", "it's a cheat" = it is great):
the corrections users teach in the retrain tests and benches, and held-out variants that
show whether a retrain generalised."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.storage import Storage


SUBJECTS = (
    "이 영화",
    "오늘 본 영화",
    "배우들 연기",
    "결말",
    "영상미",
    "음악",
    "스토리",
    "주인공",
    "감독 연출",
    "이번 작품",
    "액션 장면",
    "마지막 장면",
    "OST",
    "반전",
    "캐릭터",
)
SLANG = ("죽인다", "진짜 죽인다", "사기다")
SLANG_TEXTS = [f"{subject} {slang}" for subject in SUBJECTS for slang in SLANG]


async def correct_to_positive(storage: Storage, text: str, user_id: int, version: str) -> None:
    """One user saying that the model's "negative (0.3)" on `text` was wrong."""
    await storage.corrections.add_correction(
        text=text,
        predicted_label=0,
        predicted_probability=0.3,
        corrected_label=1,
        user_id=user_id,
        chat_id=1,
        model_version=version,
    )
