"""The digest's picture: mood against activity over the period, and the week heatmap.

Both panels are in one PNG so the digest is one message (a photo with its text as the
caption). Drawn like bot.charts (its own Figure on Agg, the Hangul font applied at the
end), in the group's language and local time.
"""

from __future__ import annotations

import math

from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.dates import DateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bot import i18n
from bot.charts import (
    BAR_COLOUR,
    LINE_COLOUR,
    _labels,
    _new_figure,
    _to_png,
    plot_mood_over_counts,
)
from bot.digests import Digest, weekday_names

_NO_MOOD_GREY = "#d9d9d9"  # a cell with messages whose mood may not be shown
_MOOD_COLOURS = "RdYlGn"
_GRID = {
    "left": 0.075,
    "right": 0.92,
    "top": 0.955,
    "bottom": 0.075,
    "hspace": 0.33,
    "wspace": 0.09,
}


def digest_chart(digest: Digest, *, lang: str = "ko") -> bytes:
    return _to_png(digest_figure(digest, lang=lang))


def digest_figure(digest: Digest, *, lang: str = "ko") -> Figure:
    """Top: messages per hour as a filled step, and the mean mood per hour (daily digests)
    or per day (weekly) as a line, hidden where too few members wrote, so a quiet stretch
    reads as quiet rather than unhappy. Bottom: mean positivity by weekday and hour over
    the seven days before the digest.

    Raises ValueError for a period without messages: the digest is then text only.
    """
    if not digest.current.messages:
        raise ValueError("nothing to plot: no messages in this period")
    labels = _labels(lang)
    figure = _new_figure(width=9.0, height=7.6, constrained=False)
    # Fixed margins instead of constrained layout (a third of the drawing time, and the
    # texts are the same on every digest): the right column holds the count axis's labels
    # at the top and the heatmap's colour bar at the bottom.
    grid = figure.add_gridspec(2, 2, **_GRID, height_ratios=[1.1, 1.0], width_ratios=[1.0, 0.025])
    top = figure.add_subplot(grid[0, 0])
    bottom = figure.add_subplot(grid[1, 0])
    _activity_panel(top, digest, lang)
    _heatmap_panel(figure, bottom, figure.add_subplot(grid[1, 1]), digest, lang)
    top.set_title(labels["digest_activity"])
    return figure


def _activity_panel(mood_axes: Axes, digest: Digest, lang: str) -> None:
    labels = _labels(lang)
    count_axes = mood_axes.twinx()
    starts = [bucket.start for bucket in digest.series]
    edges = [*starts, digest.end]
    # One filled step outline instead of a bar per hour: a week has 168 hours, and a
    # patch each made drawing several times slower. Dates are matplotlib units; its type
    # stubs know only numbers, hence the ignores.
    count_axes.stairs(
        [bucket.count for bucket in digest.series],
        edges,  # type: ignore[arg-type]
        fill=True,
        color=BAR_COLOUR,
    )
    count_axes.set_ylabel(labels["messages"])
    count_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    shown = [span for span in digest.spans if span.mean is not None]
    centres = [span.start + (span.end - span.start) / 2 for span in digest.spans]
    plot_mood_over_counts(mood_axes, count_axes, centres, [s.mean for s in digest.spans], 1.5)
    mood_axes.hlines(  # each mean across the stretch it describes
        [span.mean or 0.0 for span in shown],  # all shown: never None
        [span.start for span in shown],  # type: ignore[arg-type]
        [span.end for span in shown],  # type: ignore[arg-type]
        color=LINE_COLOUR,
        linewidth=2.5,
        alpha=0.35,
    )
    mood_axes.set_ylim(0.0, 1.0)
    mood_axes.set_ylabel(labels["mood"])
    zone = digest.end.tzinfo
    pattern = "%m-%d" if digest.period.days > 1 else "%H:%M"
    mood_axes.xaxis.set_major_formatter(DateFormatter(pattern, tz=zone))
    mood_axes.set_xlabel(labels.format("local_time", zone=i18n.zone_label(zone, digest.end)))


def _heatmap_panel(figure: Figure, axes: Axes, colour_bar: Axes, digest: Digest, lang: str) -> None:
    labels = _labels(lang)
    heatmap = digest.heatmap
    means = [[math.nan if m is None else m for m in row] for row in heatmap.means]
    active = [[1.0 if c else math.nan for c in row] for row in heatmap.counts]
    # Grey under everything that had messages, the mood colour over the cells that may
    # show it: a grey cell is activity without a shown mood, a white one silence.
    axes.imshow(active, cmap=ListedColormap([_NO_MOOD_GREY]), aspect="auto", vmin=0, vmax=1)
    image = axes.imshow(means, cmap=_MOOD_COLOURS, aspect="auto", vmin=0.0, vmax=1.0)
    figure.colorbar(image, cax=colour_bar, label=labels["mood"])
    axes.set_yticks(range(7), weekday_names(lang))
    axes.set_xticks(range(0, 24, 3), [f"{hour:02d}" for hour in range(0, 24, 3)])
    zone = i18n.zone_label(digest.end.tzinfo, digest.end)
    axes.set_xlabel(f"{labels['hour']} ({zone}) · {labels['no_mood']}")
    axes.set_title(labels["week_heatmap"])
