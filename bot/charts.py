"""PNG charts from plain values.

Each chart builds its own ``matplotlib.figure.Figure`` on an Agg canvas (never pyplot),
so charts can be drawn from worker threads without sharing state; the only process-wide
change is registering a Hangul font with matplotlib's font manager, once.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import logging
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

from bot import i18n
from bot.mood import HourBucket
from nlp.trace import Trace
from training.demos import DemoResult

log = logging.getLogger(__name__)

# The Hangul font ships in the koreanize-matplotlib wheel. We only take its file: importing
# that package would change matplotlib's global rcParams as a side effect.
_FONT_PACKAGE = "koreanize_matplotlib"
_FONT_DIR = "fonts"
_FONT_REGULAR = "NanumGothic.ttf"
# Families that carry Hangul on common systems, tried when the package is missing.
_SYSTEM_KOREAN_FAMILIES = (
    "NanumGothic",
    "Noto Sans CJK KR",
    "Noto Sans KR",
    "Malgun Gothic",
    "Apple SD Gothic Neo",
    "AppleGothic",
    "UnDotum",
)
_FALLBACK_FAMILY = "DejaVu Sans"  # bundled with matplotlib; has U+2212 minus, no Hangul

DPI = 144
POSITIVE_COLOUR = "#2e9e44"
NEGATIVE_COLOUR = "#d1342f"
LINE_COLOUR = "#1f3b73"
BAR_COLOUR = "#b8c4d6"
TURN_COLOUR = "#e08a00"
NEUTRAL_COLOUR = "#555555"
_BAR_DAYS = 0.8 / 24  # bar width in days, the unit of date axes: 80% of an hour
_MAX_TICK_CHARS = 10

# --- fonts ----------------------------------------------------------------------------


def _packaged_font_files() -> list[Path]:
    """Regular first, then its weights (so bold tick labels do not fall back to regular)."""
    # find_spec locates the package without executing its __init__.
    spec = importlib.util.find_spec(_FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return []
    for location in spec.submodule_search_locations:
        regular = Path(location) / _FONT_DIR / _FONT_REGULAR
        if regular.is_file():
            weights = sorted(p for p in regular.parent.glob("*.ttf") if p != regular)
            return [regular, *weights]
    return []


@functools.cache
def korean_font_family() -> str | None:
    """The Hangul-capable family charts use, registering the packaged font if needed.

    None (logged once) means Korean words will render as boxes; charts still work.
    """
    font_files = _packaged_font_files()
    if font_files:
        try:
            for font_file in font_files:
                font_manager.fontManager.addfont(str(font_file))
            return font_manager.FontProperties(fname=str(font_files[0])).get_name()
        except (OSError, RuntimeError, ValueError):
            log.warning("could not load the Korean font from %s", font_files[0], exc_info=True)
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    for family in _SYSTEM_KOREAN_FAMILIES:
        if family in installed:
            return family
    log.warning("no font with Hangul found; Korean words in charts will not render")
    return None


def _font_families() -> list[str]:
    # A list lets matplotlib fall back glyph by glyph (e.g. to DejaVu for "−").
    korean = korean_font_family()
    return [korean, _FALLBACK_FAMILY] if korean else [_FALLBACK_FAMILY]


def _new_figure(width: float, height: float, *, constrained: bool = True) -> Figure:
    """``constrained=False`` for a chart that places its axes itself: constrained layout
    measures every text on each draw, a third of a digest picture's cost."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained" if constrained else None)
    FigureCanvasAgg(figure)  # Agg for this figure only; pyplot's backend is untouched
    return figure


# zlib level 1: a chart is drawn for every /mood, /trace and digest, and Telegram
# re-encodes photos anyway; level 6 (Pillow's default) took 30 ms more for 20% fewer bytes.
_PNG_COMPRESSION = 1


def _to_png(figure: Figure) -> bytes:
    """Apply the font to every text (titles, ticks, legends) and render, in one draw.

    Done on the figure's own artists rather than through rcParams, which are global and
    would leak between threads. Tick labels do not exist before a draw: each axes is told
    their font instead, so the figure is drawn once, not measured first.
    """
    families = _font_families()
    for axes in figure.axes:
        axes.tick_params(labelfontfamily=families)
    _set_font(figure, families)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, pil_kwargs={"compress_level": _PNG_COMPRESSION})
    return buffer.getvalue()


def _set_font(figure: Figure, families: list[str]) -> None:
    for text in figure.findobj(Text):
        text.set_fontfamily(families)


# --- charts ---------------------------------------------------------------------------
# Each chart has a ``*_figure`` builder (inspectable in tests) and a ``*_chart`` that
# renders it to PNG bytes for sending.


def trace_chart(trace: Trace, *, lang: str = "ko") -> bytes:
    return _to_png(trace_figure(trace, lang=lang))


def mood_chart(
    series: Sequence[HourBucket],
    *,
    threshold: float | None = None,
    title: str | None = None,
    lang: str = "ko",
) -> bytes:
    return _to_png(mood_figure(series, threshold=threshold, title=title, lang=lang))


def loss_chart(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    baseline: float | None = None,
    title: str = "",
    *,
    lang: str = "ko",
) -> bytes:
    return _to_png(loss_figure(histories, baseline, title, lang=lang))


class _Labels:
    """Chart words from the message catalogue (`chart.*`): `labels["epoch"]`."""

    def __init__(self, lang: str) -> None:
        try:
            self._texts = i18n.catalogue(lang)
        except KeyError:
            raise ValueError(f"no chart labels for language {lang!r}") from None
        self.lang = lang

    def __getitem__(self, key: str) -> str:
        return self._texts[f"chart.{key}"]

    def format(self, key: str, **values: object) -> str:
        return i18n.text(f"chart.{key}", self.lang, **values)


def _labels(lang: str) -> _Labels:
    return _Labels(lang)


def trace_figure(trace: Trace, *, lang: str = "ko") -> Figure:
    """P(positive) after each word, with the words as tick labels.

    An empty trace raises ValueError: there is nothing to show, and the bot should
    answer with ``trace.reason`` in text rather than send a blank picture.
    """
    if trace.is_empty:
        raise ValueError(f"nothing to plot: {trace.reason or 'the trace has no words'}")
    labels = _labels(lang)
    count = len(trace.words)
    figure = _new_figure(width=min(16.0, max(6.0, 1.0 + 0.75 * count)), height=4.2)
    axes = figure.add_subplot()
    positions = list(range(count))

    axes.axhspan(0.5, 1.0, color=POSITIVE_COLOUR, alpha=0.12, linewidth=0)
    axes.axhspan(0.0, 0.5, color=NEGATIVE_COLOUR, alpha=0.12, linewidth=0)
    axes.axhline(0.5, color=NEUTRAL_COLOUR, linewidth=1, linestyle="--")
    axes.plot(positions, trace.probabilities, color=LINE_COLOUR, marker="o", linewidth=2)
    axes.set_xlim(-0.5, count - 0.5)
    axes.set_ylim(0.0, 1.0)
    rotate = count > 8 or any(len(word) > 6 for word in trace.words)
    axes.set_xticks(
        positions,
        [_short(word) for word in trace.words],
        rotation=40 if rotate else 0,
        ha="right" if rotate else "center",
    )
    _mark_turns(axes, trace)

    axes.set_ylabel(labels["probability"])
    axes.text(0.01, 0.97, labels["positive"], transform=axes.transAxes, va="top")
    axes.text(0.01, 0.03, labels["negative"], transform=axes.transAxes, va="bottom")
    verdict = labels["positive"] if trace.label == 1 else labels["negative"]
    axes.set_title(f"{verdict} {trace.confidence:.0%} · {trace.model_version}")
    return figure


def _mark_turns(axes: Axes, trace: Trace) -> None:
    """Ring the points and colour the words that flipped the verdict; the decisive one is
    filled and bold. Marked on the axis itself so no legend covers the curve."""
    turns = trace.turning_points
    if not turns:
        return
    turn_values = [trace.probabilities[i] for i in turns]
    axes.scatter(
        turns,
        turn_values,
        s=180,
        facecolors="none",
        edgecolors=TURN_COLOUR,
        linewidths=2.5,
        zorder=3,
    )
    decisive = trace.decisive_word
    if decisive is not None:
        axes.scatter([decisive], [trace.probabilities[decisive]], s=70, color=TURN_COLOUR, zorder=4)
    tick_labels = axes.get_xticklabels()
    for index in turns:
        tick_labels[index].set_color(TURN_COLOUR)
        if index == decisive:
            tick_labels[index].set_fontweight("bold")


def _short(word: str) -> str:
    return word if len(word) <= _MAX_TICK_CHARS else word[: _MAX_TICK_CHARS - 1] + "…"


def mood_figure(
    series: Sequence[HourBucket],
    *,
    threshold: float | None = None,
    title: str | None = None,
    lang: str = "ko",
) -> Figure:
    """Hourly mean P(positive) as a line over message counts as bars.

    Raises ValueError when no hour has a message, for the same reason as trace_figure.
    """
    if not any(bucket.count for bucket in series):
        raise ValueError("nothing to plot: no messages in this period")
    labels = _labels(lang)
    figure = _new_figure(width=9.0, height=4.2)
    mood_axes = figure.add_subplot()
    count_axes = mood_axes.twinx()
    starts = [bucket.start for bucket in series]

    # Dates are matplotlib units; its type stubs know only numbers, hence the ignores.
    count_axes.bar(
        starts,  # type: ignore[arg-type]
        [b.count for b in series],
        width=_BAR_DAYS,
        align="edge",
        color=BAR_COLOUR,
    )
    count_axes.set_ylabel(labels["messages"])
    centres = [start + timedelta(minutes=30) for start in starts]
    plot_mood_over_counts(
        mood_axes, count_axes, centres, [b.mean for b in series], 2, labels["mood"]
    )
    if threshold is not None:
        mood_axes.axhline(
            threshold,
            color=NEGATIVE_COLOUR,
            linewidth=1.5,
            linestyle="--",
            label=f"{labels['threshold']} {threshold:.2f}",
        )
    mood_axes.set_ylim(0.0, 1.0)
    mood_axes.set_ylabel(labels["mood"])
    zone = starts[0].tzinfo
    mood_axes.xaxis.set_major_formatter(DateFormatter("%m-%d %H:%M", tz=zone))
    mood_axes.set_xlabel(labels.format("local_time", zone=i18n.zone_label(zone, starts[-1])))
    mood_axes.tick_params(axis="x", labelrotation=30)
    mood_axes.legend(loc="upper left", frameon=False)
    if title:
        mood_axes.set_title(title)
    return figure


def plot_mood_over_counts(
    mood_axes: Axes,
    count_axes: Axes,
    centres: Sequence[datetime],
    means: Sequence[float | None],
    linewidth: float,
    label: str | None = None,
) -> None:
    """The mood line (gaps where no mood may be shown) in front of the message counts of
    its twin axes, with the neutral 0.5 dotted: the /mood chart's and the digest's."""
    # The twin is created later and so drawn on top; put the mood line back in front.
    mood_axes.set_zorder(count_axes.get_zorder() + 1)
    mood_axes.patch.set_visible(False)
    mood_axes.plot(
        centres,  # type: ignore[arg-type]
        [math.nan if mean is None else mean for mean in means],
        color=LINE_COLOUR,
        marker="o",
        markersize=3,
        linewidth=linewidth,
        label=label,
    )
    mood_axes.axhline(0.5, color=NEUTRAL_COLOUR, linewidth=1, linestyle=":")


def loss_figure(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    baseline: float | None = None,
    title: str = "",
    *,
    lang: str = "ko",
) -> Figure:
    """Training curves: one line per run and metric (e.g. ``{"candidate": {"loss": [...],
    "val_loss": [...]}}``), a run keeping one colour, validation metrics dashed, and an
    optional baseline (e.g. the serving model's validation loss) to beat."""
    curves = [
        (run, metric, values)
        for run, metrics in histories.items()
        for metric, values in metrics.items()
        if len(values)
    ]
    if not curves:
        raise ValueError("nothing to plot: no training history")
    labels = _labels(lang)
    figure = _new_figure(width=8.0, height=4.5)
    axes = figure.add_subplot()
    colours = {run: f"C{index}" for index, run in enumerate(histories)}
    for run, metric, values in curves:
        style = "--" if metric.startswith("val") else "-"
        axes.plot(
            range(1, len(values) + 1),
            values,
            style,
            color=colours[run],
            marker="o",
            markersize=3,
            label=f"{run} · {metric}",
        )
    if baseline is not None:
        axes.axhline(
            baseline,
            color=NEUTRAL_COLOUR,
            linewidth=1.2,
            linestyle=":",
            label=f"{labels['baseline']} {baseline:.3f}",
        )
    axes.set_xlabel(labels["epoch"])
    cast(MaxNLocator, axes.xaxis.get_major_locator()).set_params(integer=True)
    axes.legend(frameon=False)
    if title:
        axes.set_title(title)
    return figure


_DEMO_COLOURS = {"SimpleRNN": "tab:red", "LSTM": "tab:blue", "GRU": "tab:green"}


def demo_chart(result: DemoResult, *, lang: str = "ko") -> bytes:
    return _to_png(demo_figure(result, lang=lang))


def demo_figure(result: DemoResult, *, lang: str = "ko") -> Figure:
    """Training and validation MSE per model against predicting the mean, on a log axis
    (the gated models fall decades below the baseline), epochs in whole numbers."""
    labels = _labels(lang)
    figure = _new_figure(width=8.0, height=4.6)
    axes = figure.add_subplot()
    for name, model in result.models.items():
        colour = _DEMO_COLOURS.get(name)
        epochs = range(1, len(model.history["loss"]) + 1)
        axes.plot(
            epochs,
            model.history["loss"],
            "-",
            color=colour,
            label=labels.format("loss", model=name),
        )
        axes.plot(
            epochs,
            model.history["val_loss"],
            "--",
            color=colour,
            label=labels.format("val_loss", model=name),
        )
    axes.axhline(result.baseline_mse, color=NEUTRAL_COLOUR, linestyle=":", label=labels["baseline"])
    axes.set_yscale("log")
    axes.set_xlabel(labels["epoch"])
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel(labels["mse"])
    title = i18n.text(f"demo.title_{result.demo}", lang)
    axes.set_title(labels.format("demo_title", title=title, seed=result.seed))
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize="small", frameon=False)
    return figure
