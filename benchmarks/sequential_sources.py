"""One process stepping several live sources one after another: a frame of one source per step,
each its own extractor and head call, as Ultralytics runs several streams. The benchmark's
baseline against batching; prints what ``vclf-run --json`` prints.

    python sequential_sources.py BUNDLE_DIR STRIDE SOURCE...
"""

import json
import sys

from vclf.runtime.bundle import load_bundle
from vclf.runtime.engine import Engine
from vclf.runtime.errors import VclfError
from vclf.runtime.live.capture import quiet_opencv
from vclf.runtime.live.loop import LoopSettings
from vclf.runtime.live.multi_source import run_sources
from vclf.runtime.sources import resolve_source


def main(bundle: str, stride: str, *sources: str) -> int:
    quiet_opencv()
    engine = Engine(load_bundle(bundle), "cpu")
    emit = lambda prediction: print(json.dumps(prediction.to_dict()), flush=True)  # noqa: E731
    report = lambda line: print(f"sequential: {line}", file=sys.stderr, flush=True)  # noqa: E731
    try:
        run_sources([(s, resolve_source(s)) for s in sources], engine, LoopSettings(int(stride)), emit, report, max_batch=1, workers=1)
    except VclfError as exc:
        report(f"error: {exc}")
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
