"""Prometheus figures for operators, served at /metrics (bot/webhook.py).

Per process (each replica its own; a dashboard sums them): updates read, messages sent,
the time an update takes from the moment it is handled to its last reply, internal
errors, the updates waiting in memory, the model served and its swaps. For the bot as a
whole, from the database every MODEL_POLL_SECONDS-ish (`refresh`): the updates received and
not yet handled, and the retrains by outcome. One registry per process, not
prometheus_client's global one, so several bots in one test process do not collide.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.storage import Storage

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Bot API methods that answer someone: what "messages answered" counts.
ANSWERS = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "editMessageText", "answerCallbackQuery"}
)
# Seconds from the start of handling to the end: a verdict takes milliseconds, a /trace
# chart tens of them, a demo or /retrain minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120, 600)


@dataclass(frozen=True)
class Probes:
    """What the collector reads at each scrape, from the running parts."""

    served_version: Callable[[], str]
    swaps: Callable[[], int]
    backlog: Callable[[], int]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.updates = Counter(
            "bot_updates",
            "Updates handled (messages, commands, button presses)",
            registry=self.registry,
        )
        self.answers = Counter(
            "bot_answers", "Answers sent, by Bot API method", ["method"], registry=self.registry
        )
        self.latency = Histogram(
            "bot_update_seconds",
            "Time to handle one update, replies included",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "bot_errors", "Errors in updates and jobs, by kind", ["kind"], registry=self.registry
        )
        self._database = _DatabaseFigures()
        self.registry.register(self._database)
        self._probes: _ProbeCollector | None = None

    def watch(self, probes: Probes) -> None:
        """Read these at every scrape (the model served, the backlog in memory)."""
        if self._probes is not None:
            self.registry.unregister(self._probes)
        self._probes = _ProbeCollector(probes)
        self.registry.register(self._probes)

    def answered(self, method: str) -> None:
        if method in ANSWERS:
            self.answers.labels(method=method).inc()

    def handled(self, started: float) -> None:
        self.updates.inc()
        self.latency.observe(time.perf_counter() - started)

    async def refresh(self, storage: Storage) -> None:
        """The figures only the database knows, for the bot as a whole."""
        self._database.unhandled = await storage.inbox.count_unhandled()
        self._database.runs = await storage.runs.run_counts()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _DatabaseFigures(Collector):
    def __init__(self) -> None:
        self.unhandled: int | None = None
        self.runs: dict[str, int] = {}

    def collect(self) -> Iterator[Metric]:
        if self.unhandled is not None:
            yield GaugeMetricFamily(
                "bot_inbox_unhandled",
                "Updates received by any process and not yet handled (the database inbox)",
                value=self.unhandled,
            )
        runs = CounterMetricFamily(
            "bot_retrains", "Retrain runs recorded in the database, by outcome", labels=["outcome"]
        )
        for outcome, count in sorted(self.runs.items()):
            runs.add_metric([outcome], count)
        yield runs


class _ProbeCollector(Collector):
    def __init__(self, probes: Probes) -> None:
        self.probes = probes

    def collect(self) -> Iterator[Metric]:
        served = GaugeMetricFamily(
            "bot_model_served",
            "The model version this process serves (always 1)",
            labels=["version"],
        )
        served.add_metric([self.probes.served_version()], 1)
        yield served
        yield CounterMetricFamily(
            "bot_model_swaps", "Hot swaps of the served model", value=self.probes.swaps()
        )
        yield GaugeMetricFamily(
            "bot_backlog", "Updates waiting in this process's memory", value=self.probes.backlog()
        )
