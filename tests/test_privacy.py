"""Where a correction's text is copied (an admin's review decision, a retrain report's
examples) it goes with the last correction of it: by /forget, by the retention job, or
when a group stops keeping texts."""

from __future__ import annotations

from bot.storage import RunStatus, Storage
from tests.clocks import FakeClock

TEXT, OTHER_TEXT, NSMC_TEXT = "이 영화 정말 좋아요", "배우들이 아까웠다", "엔딩이 좋았던 영화"
DAY = 86_400.0


async def _correct(storage: Storage, text: str, user_id: int, **extra: int) -> int:
    result = await storage.corrections.add_correction(
        text=text,
        predicted_label=1,
        predicted_probability=0.8,
        corrected_label=0,
        user_id=user_id,
        chat_id=-5,
        model_version="m1",
        **extra,
    )
    return result.id


async def _report(storage: Storage, *texts: str) -> None:
    """A finished retrain whose report shows these corrections and one NSMC review."""
    run_id = await storage.runs.start_run(base_version="m1")
    flips = [
        {"text": t, "label": 0, "before": 0.8, "after": 0.2, "source": "correction"} for t in texts
    ]
    flips.append({"text": NSMC_TEXT, "label": 1, "before": 0.6, "after": 0.4, "source": "nsmc"})
    await storage.runs.finish_run(run_id, RunStatus.REJECTED, figures={"flips": flips})


async def _shown(storage: Storage) -> list[str]:
    [run] = await storage.runs.runs(limit=1)
    assert run.figures is not None
    return [flip["text"] for flip in run.figures["flips"]]


async def test_forget_takes_the_texts_review_and_report_examples(storage: Storage) -> None:
    await _correct(storage, TEXT, user_id=7)
    await _correct(storage, OTHER_TEXT, user_id=7)
    await _correct(storage, OTHER_TEXT, user_id=8)  # someone else's correction of it too
    await storage.corrections.review(TEXT, 0, "approved", admin_id=1)
    await storage.corrections.review(OTHER_TEXT, 0, "approved", admin_id=1)
    await _report(storage, TEXT, OTHER_TEXT)
    removed = await storage.retention.forget_user(7)
    assert removed.corrections == 2
    assert [r.text_key for r in await storage.corrections.reviews()] == [
        OTHER_TEXT
    ]  # still user 8's
    assert await _shown(storage) == [OTHER_TEXT, NSMC_TEXT]
    await storage.retention.forget_user(8)
    assert await storage.corrections.reviews() == []
    assert await _shown(storage) == [NSMC_TEXT]


async def test_forget_by_the_author_of_a_corrected_message(storage: Storage) -> None:
    await _correct(storage, TEXT, user_id=7, author_id=9)
    await storage.corrections.review(TEXT, 0, "rejected", admin_id=1)
    await _report(storage, TEXT)
    assert (await storage.retention.forget_user(9)).corrections == 1
    assert (
        await storage.corrections.all_corrections() == []
        and await storage.corrections.reviews() == []
    )
    assert await _shown(storage) == [NSMC_TEXT]


async def test_retention_keeps_what_a_model_learned_and_forget_takes_its_copies(
    storage: Storage, clock: FakeClock
) -> None:
    """A learned correction is taught again to every full retrain, so age never removes it
    (docs/learning-loop.md); its review and report example stay with it until /forget."""
    learned = await _correct(storage, TEXT, user_id=7)
    await storage.corrections.mark_consumed([learned], "m2")
    await storage.corrections.review(TEXT, 0, "approved", admin_id=1)
    await _report(storage, TEXT)
    clock.now += 91 * DAY
    removed = await storage.retention.prune(before=clock.now - 90 * DAY)
    assert removed.corrections == 0
    assert [r.text_key for r in await storage.corrections.reviews()] == [TEXT]
    assert await _shown(storage) == [TEXT, NSMC_TEXT]
    await storage.retention.forget_user(7)
    assert await storage.corrections.reviews() == []
    assert await _shown(storage) == [NSMC_TEXT]


async def test_a_group_that_stops_keeping_texts_drops_corrections_of_others(
    storage: Storage,
) -> None:
    await storage.chats.set_store_text(-5, True)
    await _correct(storage, TEXT, user_id=7, author_id=9)
    await _correct(storage, OTHER_TEXT, user_id=7)  # the corrector's own text stays
    await _report(storage, TEXT)
    await storage.chats.set_store_text(-5, False)
    assert [c.text for c in await storage.corrections.all_corrections()] == [OTHER_TEXT]
    assert await _shown(storage) == [NSMC_TEXT]
