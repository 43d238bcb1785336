from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import matplotlib
import matplotlib.colors
import matplotlib.dates
import matplotlib.image
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from bot import charts
from bot.mood import HourBucket, summarize
from nlp.trace import Trace
from tests.test_mood import NOW, synthetic_chat

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

WORDS = ("처음엔", "지루했지만", "결말은", "정말", "감동적이었다", "ㅠㅠ", "똠양꿍", "뷁")
TRACE = Trace(
    text=" ".join(WORDS),
    words=WORDS,
    probabilities=(0.55, 0.21, 0.35, 0.48, 0.91, 0.42, 0.6, 0.7),
    positive=0.7,
    model_version="m1",
)
HISTORIES = {
    "기존 모델": {"loss": [0.7, 0.5, 0.42], "val_loss": [0.72, 0.55, 0.5]},
    "candidate": {"loss": [0.6, 0.45, 0.35, 0.3], "val_loss": [0.62, 0.5, 0.46, 0.47]},
}


@pytest.fixture(scope="module")
def series() -> tuple[HourBucket, ...]:
    return summarize(synthetic_chat(), NOW, hours=24).series


def assert_png(data: bytes) -> np.ndarray:
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 10_000
    image = matplotlib.image.imread(io.BytesIO(data), format="png")
    height, width = image.shape[:2]
    assert width >= 600 and height >= 400
    assert image.std() > 0.05  # not a blank canvas
    return image


def bar_heights(axes: Axes) -> list[float]:
    bars = [patch for patch in axes.patches if isinstance(patch, Rectangle)]
    assert len(bars) == len(axes.patches)
    return [bar.get_height() for bar in bars]


def glyph_warnings(render: Callable[[], object]) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        render()
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


@pytest.fixture
def no_korean_font(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    charts.korean_font_family.cache_clear()
    monkeypatch.setattr(charts, "_packaged_font_files", list)
    monkeypatch.setattr(charts, "_SYSTEM_KOREAN_FAMILIES", ("No Such Font",))
    yield
    charts.korean_font_family.cache_clear()


# --- fonts ----------------------------------------------------------------------------


def test_packaged_hangul_font_is_registered() -> None:
    assert charts.korean_font_family() == "NanumGothic"


def test_korean_words_render_without_missing_glyphs(
    series: tuple[HourBucket, ...],
) -> None:
    assert glyph_warnings(lambda: charts.trace_chart(TRACE)) == []
    assert (
        glyph_warnings(lambda: charts.mood_chart(series, threshold=0.35, title="지난 하루")) == []
    )
    assert glyph_warnings(lambda: charts.loss_chart(HISTORIES, -0.5, "재학습")) == []


def test_missing_font_degrades_without_failing(no_korean_font: None) -> None:
    assert charts.korean_font_family() is None
    # Drawn all the same; and the glyph check used above does notice the boxes.
    assert glyph_warnings(lambda: assert_png(charts.trace_chart(TRACE)))


def test_charts_leave_global_matplotlib_state_alone(series: tuple[HourBucket, ...]) -> None:
    before = (matplotlib.get_backend(), dict(matplotlib.rcParams))
    charts.trace_chart(TRACE)
    charts.mood_chart(series)
    charts.loss_chart(HISTORIES)
    assert (matplotlib.get_backend(), dict(matplotlib.rcParams)) == before


# --- trace chart ----------------------------------------------------------------------


def test_trace_chart_is_a_png() -> None:
    assert_png(charts.trace_chart(TRACE))
    assert_png(charts.trace_chart(TRACE, lang="en"))


def test_trace_chart_has_a_tick_per_word() -> None:
    [axes] = charts.trace_figure(TRACE).axes
    assert np.asarray(axes.get_xticks()).tolist() == list(range(len(WORDS)))
    assert [label.get_text() for label in axes.get_xticklabels()] == list(WORDS)
    assert np.asarray(axes.lines[-1].get_ydata()).tolist() == list(TRACE.probabilities)


def test_trace_chart_marks_turning_words() -> None:
    [axes] = charts.trace_figure(TRACE).axes
    labels = axes.get_xticklabels()
    marked = [i for i, label in enumerate(labels) if label.get_color() == charts.TURN_COLOUR]
    assert marked == list(TRACE.turning_points) == [1, 4, 5, 6]
    assert TRACE.decisive_word is not None
    assert labels[TRACE.decisive_word].get_fontweight() == "bold"


def test_long_words_are_shortened_on_the_axis() -> None:
    long = Trace("가" * 30, ("가" * 30,), (0.4,), 0.4, "m1")
    [axes] = charts.trace_figure(long).axes
    [label] = axes.get_xticklabels()
    assert label.get_text() == "가" * 9 + "…"


def test_single_word_trace_is_drawn() -> None:
    assert_png(charts.trace_chart(Trace("최고", ("최고",), (0.93,), 0.93, "m1")))


def test_empty_trace_raises_a_clear_error() -> None:
    empty = Trace("😀", (), (), 0.5, "m1", reason="no known words")
    with pytest.raises(ValueError, match="nothing to plot: no known words"):
        charts.trace_chart(empty)


def test_unknown_language_is_rejected() -> None:
    with pytest.raises(ValueError, match="language"):
        charts.trace_chart(TRACE, lang="fr")


# --- mood chart -----------------------------------------------------------------------


def test_mood_chart_is_a_png_with_bars_line_and_threshold(
    series: tuple[HourBucket, ...],
) -> None:
    assert_png(charts.mood_chart(series, threshold=0.35, title="지난 24시간"))
    mood_axes, count_axes = charts.mood_figure(series, threshold=0.35).axes
    assert bar_heights(count_axes) == [b.count for b in series]
    levels = [tuple(np.asarray(line.get_ydata()).tolist()) for line in mood_axes.lines]
    assert (0.35, 0.35) in levels


def test_mood_chart_shows_gaps_for_silent_hours() -> None:
    """An hour without messages has no mood: the line stops there instead of running
    through it (or down to 0), and picks up again at the next hour with messages."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    quiet = (
        HourBucket(start, 4, 0.6),
        HourBucket(start.replace(hour=1), 0, None),
        HourBucket(start.replace(hour=2), 2, 0.2),
        HourBucket(start.replace(hour=3), 3, 0.4),
    )
    figure = charts.mood_figure(quiet)
    mood_axes, count_axes = figure.axes
    [line] = [line for line in mood_axes.lines if line.get_color() == charts.LINE_COLOUR]
    means = np.asarray(line.get_ydata(), dtype=float)
    assert np.isnan(means[1]) and list(means[[0, 2, 3]]) == [0.6, 0.2, 0.4]
    assert bar_heights(count_axes) == [4, 0, 2, 3]

    # The PNG as sent (rendered from this figure, so its coordinates hold for the pixels).
    pixels = (assert_png(charts._to_png(figure))[..., :3] * 255).astype(int)
    colour = np.array(matplotlib.colors.to_rgb(charts.LINE_COLOUR)) * 255
    xs = matplotlib.dates.date2num(line.get_xdata())

    def line_drawn_between(first: int, second: int) -> bool:
        """Whether the line's colour is at the midpoint of the segment between two hours."""
        x, y = mood_axes.transData.transform(
            ((xs[first] + xs[second]) / 2, (means[first] + means[second]) / 2)
        )
        row, column = pixels.shape[0] - round(y), round(x)
        around = pixels[row - 2 : row + 3, column - 2 : column + 3].reshape(-1, 3)
        return bool((np.abs(around - colour).sum(axis=1) < 60).any())

    assert line_drawn_between(2, 3)  # two hours with messages: joined
    assert not line_drawn_between(0, 2)  # the silent hour between them: a gap


def test_mood_chart_without_messages_raises() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="nothing to plot"):
        charts.mood_chart([HourBucket(start, 0, None)])
    with pytest.raises(ValueError, match="nothing to plot"):
        charts.mood_chart([])


# --- loss chart -----------------------------------------------------------------------


def test_loss_chart_is_a_png_with_a_line_per_curve() -> None:
    assert_png(charts.loss_chart(HISTORIES, baseline=0.48, title="재학습 곡선"))
    [axes] = charts.loss_figure(HISTORIES, baseline=0.48).axes
    assert len(axes.lines) == 4 + 1
    dashed = [line.get_label() for line in axes.lines if line.get_linestyle() == "--"]
    assert dashed == ["기존 모델 · val_loss", "candidate · val_loss"]


def test_loss_chart_without_history_raises() -> None:
    with pytest.raises(ValueError, match="nothing to plot"):
        charts.loss_chart({"candidate": {"loss": []}}, None, "x")
