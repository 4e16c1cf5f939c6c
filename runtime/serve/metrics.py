"""``/metrics`` of ``--serve``: the live run's counts in Prometheus' text format, through ``prometheus-client``.

Predictions, their latency, events and the extractor's batch sizes are
counted as they happen; frames read, dropped and reconnects are the
captures' own counts, read at each scrape (nothing is added to the capture
threads). Every series is labelled with its ``source``.
"""

from collections.abc import Iterator

from ..errors import MissingPackageError

try:
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
    from prometheus_client.core import CounterMetricFamily, Metric
except ImportError:  # the [serve] extra is not installed
    raise MissingPackageError("--serve: prometheus-client is not installed here (pip install 'vclf[serve]')") from None

LATENCY_BUCKETS_MS = (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class CaptureCounts:
    """A collector of each source's capture counts: frames read, sampled frames dropped, reconnects."""

    def __init__(self) -> None:
        self.states: dict = {}

    def collect(self) -> Iterator[Metric]:
        families = {
            "read": CounterMetricFamily("vclf_frames_read", "Frames read from the source", labels=["source"]),
            "dropped": CounterMetricFamily("vclf_frames_dropped", "Sampled frames dropped because inference was behind", labels=["source"]),
            "reconnects": CounterMetricFamily("vclf_reconnects", "Times the source was opened again after it stopped", labels=["source"]),
        }
        for name, state in list(self.states.items()):
            capture = state.capture
            families["read"].add_metric([name], capture.frames_read)
            families["dropped"].add_metric([name], capture.frames.dropped)
            families["reconnects"].add_metric([name], capture.connection)
        yield from families.values()


class Metrics:
    """The run's metrics in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.captures = CaptureCounts()
        self.registry.register(self.captures)
        self.predictions = Counter("vclf_predictions", "Predictions made", ["source"], registry=self.registry)
        self.latency = Histogram(
            "vclf_latency_ms", "Frame arrival to prediction, milliseconds", ["source"], buckets=LATENCY_BUCKETS_MS, registry=self.registry
        )
        self.events = Counter("vclf_events", "Events started, per label", ["source", "label"], registry=self.registry)
        self.batch_size = Histogram(
            "vclf_extractor_batch_size", "Frames in each extractor call", buckets=(1, 2, 4, 8, 16, 32), registry=self.registry
        )

    def watch_sources(self, states: dict) -> None:
        """Count these sources' captures from now on (their predictions series start at 0)."""
        self.captures.states = states
        for name in states:
            self.predictions.labels(name)
            self.latency.labels(name)

    def predicted(self, source: str, latency_ms: float) -> None:
        self.predictions.labels(source).inc()
        self.latency.labels(source).observe(latency_ms)

    def text(self) -> bytes:
        return generate_latest(self.registry)
