"""Folders and globs: clips decoded in worker processes while this process runs inference.

```
files ──► DecoderPool workers (read_clip) ──► decoded clips, in finishing order
      ──► extractor batches (several clips' frames on a GPU, one clip's on the CPU) ──► head ──► outcomes in input order
```
"""

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..bundle import Bundle
from ..classify import Classifier, ClipResult
from ..engine import EXTRACT_BATCH
from ..errors import VclfError
from ..video import Clip, read_clip
from .decoders import Decode, Decoded, DecoderPool

DECODE_AHEAD = 16  # clips decoded ahead of the first one not yet reported (~3 MB each at 224 px)


def default_decoders() -> int:
    """Decoding processes beside inference: half the cores, at least one."""
    return max(1, (os.cpu_count() or 2) // 2)


@dataclass(frozen=True)
class Outcome:
    """What became of one input: its result, or the error that stopped it."""

    path: Path
    result: ClipResult | None = None
    error: VclfError | None = None


@dataclass
class Summary:
    """Clips classified and failed so far, and the rate since it was made (once the model is loaded)."""

    ok: int = 0
    failed: int = 0
    started: float = field(default_factory=time.perf_counter)

    def count(self, outcome: Outcome) -> None:
        if outcome.error is None:
            self.ok += 1
        else:
            self.failed += 1

    def line(self) -> str:
        rate = (self.ok + self.failed) / max(time.perf_counter() - self.started, 1e-9)
        return f"{self.ok} clips ok, {self.failed} failed, {rate:.2f} clips/s"


class FolderPipeline:
    """Classify many files: a DecoderPool feeding a Classifier, outcomes in input order.

    The workers start first and decode while the model loads, so start-up
    overlaps too. ``decode`` runs in the workers (``read_clip`` unless a test
    wants a decoder that crashes or hangs), each file within ``decode_timeout``
    seconds (see ``DecoderPool``). Close it (or use ``with``) to stop the workers.
    """

    def __init__(
        self,
        bundle: Bundle,
        files: Sequence[Path],
        device: str = "auto",
        top_k: int | None = None,
        workers: int | None = None,
        decode: Decode = read_clip,
        decode_timeout: float | None = None,
        verbose: bool = False,
    ):
        self.files = list(files)
        self.top_k = top_k
        self.pool = DecoderPool(self.files, bundle.sampling, workers or default_decoders(), DECODE_AHEAD, decode, decode_timeout)
        try:
            self.classifier = Classifier(bundle, device, verbose)
        except BaseException:
            self.pool.close()
            raise

    def __enter__(self) -> "FolderPipeline":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.pool.close()

    def outcomes(self) -> Iterator[Outcome]:
        """An Outcome per file, in input order, each as soon as it and those before it are done."""
        finished: dict[int, Outcome] = {}
        waiting: list[Decoded] = []
        reported = 0
        while reported < len(self.files):
            batch = next_batch(self.pool, waiting, self.classifier.engine.folder_batch_frames)
            for position, outcome in batch_outcomes(self.classifier, batch, self.files, self.top_k):
                finished[position] = outcome
            while reported in finished:
                yield finished.pop(reported)
                reported += 1
            self.pool.release(reported)


def next_batch(pool: DecoderPool, waiting: list[Decoded], batch_frames: int = EXTRACT_BATCH) -> list[Decoded]:
    """Decoded clips to classify together: the earliest in input order, up to ``batch_frames`` frames
    (at least one clip).

    Waits for a clip when none is decoded. Whatever is decoded joins
    ``waiting``; what does not fit in this batch stays there for the next.
    """
    if not waiting:
        first = pool.get()
        assert first is not None  # called only while files are unreported, and each file comes out once
        waiting.append(first)
    while (item := pool.get(block=False)) is not None:
        waiting.append(item)
    waiting.sort(key=lambda item: item[0])
    batch = [waiting.pop(0)]
    frames = _frame_count(batch[0])
    while waiting and frames + _frame_count(waiting[0]) <= batch_frames:
        frames += _frame_count(waiting[0])
        batch.append(waiting.pop(0))
    return batch


def _frame_count(item: Decoded) -> int:
    return len(item[1].frames) if isinstance(item[1], Clip) else 0


def batch_outcomes(classifier: Classifier, batch: list[Decoded], files: Sequence[Path], top_k: int | None) -> Iterator[tuple[int, Outcome]]:
    """Outcomes for a batch: failures as they came, clips classified by one extractor and one head call."""
    clips = [(position, item) for position, item in batch if isinstance(item, Clip)]
    for position, item in batch:
        if not isinstance(item, Clip):
            yield position, Outcome(files[position], error=item)
    if not clips:
        return
    probabilities = classifier.probabilities_of([clip for _, clip in clips])
    for (position, clip), probs in zip(clips, probabilities):
        result = ClipResult.ranked(files[position], probs, classifier.bundle.labels, clip, classifier.engine.provider, top_k)
        yield position, Outcome(files[position], result=result)
