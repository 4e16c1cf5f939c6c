"""``vclf-run --serve`` and ``--record``: the page in a real browser, the endpoints, the clips on disk.

One replay (grow, shrink, grow) is run once with ``--serve`` and ``--record``
as two sources of a ``.streams`` listing (``served`` below); the endpoint
tests read that run after every source has ended, while the page is still
served, so what they compare is final. The
recorder is also fed a replay's frames directly with two known events, and
one run is killed with SIGKILL while a clip is being written.
"""

import json
import os
import resource
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.browser import Chromium
from support.clips import action_replay, counting_frames, replay_fps
from support.commands import BIN, EVERY_ACTION, BackgroundCommand, run_command

from vclf.runtime.bundle import load_bundle
from vclf.runtime.engine import Engine
from vclf.runtime.live.events import Event
from vclf.runtime.serve import record as record_module
from vclf.runtime.serve.record import Recorder, folder_name
from vclf.runtime.video_writer import write_video

DOCS_SCREENSHOT = Path(__file__).parents[1] / "docs" / "serve-page.png"
PRE_S, POST_S = 1.0, 1.0
START_TIMEOUT_S = 120
SOURCES = ("door", "yard")


@dataclass
class Served:
    """The served run: the command, its URL, what /healthz said while it ran, its replay's rate and the record folder."""

    run: BackgroundCommand
    url: str
    health_while_running: tuple[int, dict]
    fps: float
    stride: int
    record: Path

    def events(self, source: str | None = None) -> list[dict]:
        """The event lines it printed, of one source or all."""
        return [e for e in map(json.loads, self.run.stdout) if source in (None, e["source"])]


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def served_url(run: BackgroundCommand) -> str:
    run.wait_for_stderr("serving http://", START_TIMEOUT_S)
    return next(line for line in run.stderr if "serving http://" in line).split("serving ")[1].strip()


@pytest.fixture(scope="module")
def replay(bundle, tmp_path_factory) -> tuple[Path, float]:
    """Grow, shrink, grow, at a rate this machine keeps up with; the module's one replay."""
    fps = replay_fps(Engine(load_bundle(bundle), "cpu"))
    return action_replay(tmp_path_factory.mktemp("replay") / "replay.avi", ("grow", "shrink", "grow"), 2026, 40, fps), fps


@pytest.fixture(scope="module")
def served(bundle, replay, tmp_path_factory):
    clip, fps = replay
    folder = tmp_path_factory.mktemp("serve")
    (folder / "yard.avi").write_bytes(clip.read_bytes())
    listing = folder / "cams.streams"
    listing.write_text(f"{SOURCES[0]}={clip}\n{SOURCES[1]}=yard.avi\n")
    record = folder / "clips"
    run = BackgroundCommand(
        "vclf-run", listing, "--model", bundle, "--no-display", "--json", *EVERY_ACTION,
        "--serve", "0", "--record", record, "--pre", PRE_S, "--post", POST_S,
    )  # fmt: skip
    try:
        url = served_url(run)
        deadline = time.monotonic() + START_TIMEOUT_S
        while any(v["prediction"] is None for v in json.loads(fetch(url + "predictions.json")[1]).values()):
            assert time.monotonic() < deadline and run.process.poll() is None, "\n".join(run.stderr)
            time.sleep(0.1)
        status, body = fetch(url + "healthz")
        run.wait_for_stderr("every source has ended", START_TIMEOUT_S)
        yield Served(run, url, (status, json.loads(body)), fps, load_bundle(bundle).live_stride, record)
    finally:
        run.process.send_signal(signal.SIGINT)
        code = run.finish(timeout=30)
    assert code == 0, "\n".join(run.stderr)


def summary_counts(served: Served, source: str) -> dict[str, int]:
    """A source's summary line on stderr: ``vclf-run: NAME: 120 frames read, 0 dropped, 60 predictions, ..., 5 events``."""
    line = next(line for line in served.run.stderr if line.startswith(f"vclf-run: {source}: ")).split(": ", 2)[-1]
    figures = {}
    for part in line.split(", "):
        number, _, what = part.partition(" ")
        if number.isdigit():
            figures[what] = int(number)
    return figures


def test_page_in_headless_chromium_shows_each_sources_overlay_and_the_event_log(served):
    browser = Chromium(served.url)
    try:
        browser.wait_for(f"[...document.querySelectorAll('#sources img')].filter(i => i.naturalWidth > 0).length == {len(SOURCES)}", 30)
        browser.wait_for("document.querySelectorAll('#log .start').length > 0", 30)
        box = "(r => [r.x, r.y, r.width, r.height])"
        images = browser.evaluate(f"[...document.querySelectorAll('#sources img')].map(i => [i.alt, {box}(i.getBoundingClientRect())])")
        log = browser.evaluate(f"{box}(document.getElementById('log').getBoundingClientRect())")
        lines = browser.evaluate("[...document.querySelectorAll('#log div')].map(d => d.textContent)")
        png = browser.screenshot()
    finally:
        browser.close()
    shot = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    crop = lambda box: shot[int(box[1]) : int(box[1] + box[3]), int(box[0]) : int(box[0] + box[2])]  # noqa: E731
    assert sorted(name for name, _ in images) == sorted(SOURCES)
    for name, rectangle in images:
        overlay = crop(rectangle)
        print(f"\nscreenshot {shot.shape[1]}x{shot.shape[0]}: {name}'s overlay pixel std {overlay.std():.1f}")
        assert overlay.size and overlay.std() > 10, f"{name}: the overlay image is not blank"
        assert len({tuple(p) for p in overlay.reshape(-1, 3)[::7]}) > 50, f"{name}: the overlay has the frame's many colours"
    assert len(lines) == len(served.events()), "every event is in the log"
    assert all(any(f"{e['source']}: {e['label']} started" in line for line in lines) for e in served.events() if e["event"] == "start")
    bright = (crop(log).max(axis=2) > 150).mean()
    print(f"{len(lines)} log lines, {bright:.2%} of the log's pixels bright")
    assert 0.002 < bright < 0.5, "the log's text is in the screenshot"
    if os.environ.get("VCLF_UPDATE_DOCS"):
        DOCS_SCREENSHOT.write_bytes(png)


def test_metrics_parsed_by_prometheus_client_match_the_runs_summary(served):
    status, body = fetch(served.url + "metrics")
    assert status == 200
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }
    predictions = 0
    for name in SOURCES:
        source = (("source", name),)
        summary = summary_counts(served, name)
        starts = [e for e in served.events(name) if e["event"] == "start"]
        assert samples[("vclf_frames_read_total", source)] == summary["frames read"]
        assert samples[("vclf_frames_dropped_total", source)] == summary["dropped"]
        assert samples[("vclf_predictions_total", source)] == summary["predictions"]
        assert samples[("vclf_latency_ms_count", source)] == summary["predictions"]
        assert samples[("vclf_reconnects_total", source)] == 0
        for label in {e["label"] for e in starts}:
            assert samples[("vclf_events_total", (("label", label), ("source", name)))] == sum(e["label"] == label for e in starts)
        mine = sum(v for (metric, labels), v in samples.items() if metric == "vclf_events_total" and ("source", name) in labels)
        assert mine == summary["events"] == len(starts)
        predictions += summary["predictions"]
    assert samples[("vclf_extractor_batch_size_sum", ())] == predictions, "each prediction's frame went through one extractor call"
    steps = samples[("vclf_extractor_batch_size_count", ())]
    buckets = {float(dict(labels)["le"]): v for (metric, labels), v in samples.items() if metric == "vclf_extractor_batch_size_bucket"}
    print(f"\n{predictions} predictions in {steps:.0f} extractor calls, calls of at most 1 frame: {buckets[1.0]:.0f}")
    # On 2 cores the two workers often take one source's frame each (they split the waiting frames), so
    # whether calls hold two frames depends on timing; what holds is that none holds more than the sources.
    assert predictions / len(SOURCES) <= steps <= predictions
    assert buckets[float(len(SOURCES))] == buckets[float("inf")] == steps, "no call holds more frames than there are sources"


def test_json_endpoints_healthz_and_streams_tell_the_same_run(served):
    assert served.health_while_running == (200, {"ok": True, "down": []})
    assert fetch(served.url + "healthz") == (503, json.dumps({"ok": False, "down": list(SOURCES)}).encode()), "ended replays are down"
    assert json.loads(fetch(served.url + "events.json")[1]) == served.events()
    latest = json.loads(fetch(served.url + "predictions.json")[1])
    assert list(latest) == list(SOURCES)
    for name in SOURCES:
        assert latest[name]["up"] is False and latest[name]["frames_read"] == summary_counts(served, name)["frames read"]
        assert latest[name]["prediction"]["source"] == name
    assert fetch(served.url + "nowhere")[0] == 404

    with urllib.request.urlopen(served.url + "stream/" + SOURCES[1], timeout=10) as stream:
        assert stream.headers["Content-Type"].startswith("multipart/x-mixed-replace; boundary=")
        boundary = b"--" + stream.headers["Content-Type"].split("boundary=")[1].encode()
        assert stream.readline().strip() == boundary
        headers = dict(line.decode().strip().split(": ", 1) for line in iter(stream.readline, b"\r\n"))
        data = b""
        while boundary not in data:
            data += stream.read1(1 << 16)
        jpeg = data[: data.index(b"\r\n" + boundary)]
    assert headers == {"Content-Type": "image/jpeg"}
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[1] >= 480, "the overlay, enlarged for its text"

    with urllib.request.urlopen(served.url + "events", timeout=10) as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        sent = []
        while len(sent) < len(served.events()):
            line = stream.readline().decode()
            if line.startswith("data: "):
                sent.append(json.loads(line[len("data: ") :]))
    assert sent == served.events(), "a new subscriber gets the logged events first"


def clip_frames(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    return frames


def test_each_event_of_the_served_run_is_a_clip_from_pre_before_to_post_after_with_its_sidecar(served):
    for name in SOURCES:
        folder = served.record / folder_name(name)
        ends = [e for e in served.events(name) if e["event"] == "end"]
        clips = sorted(folder.glob("*.avi"))
        assert len(clips) == len(ends) >= 2 and not list(folder.glob(".*")), "a clip per event, no temp files left"
        last = summary_counts(served, name)["frames read"] - 1
        for clip, end in zip(clips, ends):
            sidecar = json.loads(clip.with_suffix(".json").read_text())
            assert {k: sidecar[k] for k in end} == end, "the sidecar holds the event's line"
            first_wanted = max(0, end["start_frame"] - round(PRE_S * served.fps))
            last_wanted = min(last, end["end_frame"] + round(POST_S * served.fps))
            frames = clip_frames(clip)
            print(
                f"\n{name}/{clip.name}: {frames} frames, {sidecar['first_frame']}..{sidecar['last_frame']}, {first_wanted}..{last_wanted} wanted"
            )
            assert frames == sidecar["clip"]["frames"] == sidecar["last_frame"] - sidecar["first_frame"] + 1
            assert abs(sidecar["first_frame"] - first_wanted) <= served.stride
            assert abs(sidecar["last_frame"] - last_wanted) <= served.stride
            assert sidecar["clip"]["fps"] == pytest.approx(served.fps, rel=1e-3)


@pytest.mark.parametrize("post", [POST_S, 3.0], ids=["post-shorter-than-an-end-is-late", "post-longer"])
def test_two_known_events_give_two_clips_of_pre_event_post_read_back_frame_by_frame(tmp_path, post):
    fps, late = 10.0, 10  # the loop tells of a start min_duration (1 s) late, of an end min_gap (1 s) late
    frames = counting_frames(64)  # frame i is grey 4 * i: a clip's frames tell which they are
    times = [1000.0 + i / fps for i in range(len(frames))]
    lines: list[str] = []
    recorder = Recorder(tmp_path / "clips", PRE_S, post, lookback=1.0, report=lines.append)
    source = recorder.source("cam", fps)
    known = [(14, 18), (22, 26)]  # (start frame, end frame); the second starts in the first's post-roll
    for index, (image, t) in enumerate(zip(frames, times)):
        source.tap(index, image, t)
        for start, end in known:
            if index == start + late:
                recorder.event(
                    "cam",
                    Event("start", "grow", times[start], start, None, None, 0.9, 0.8),
                    {"event": "start", "label": "grow", "start": times[start]},
                )
            if index == end + late:
                line = {"event": "end", "label": "grow", "start": times[start], "end": times[end]}
                recorder.event("cam", Event("end", "grow", times[start], start, times[end], end, 0.9, 0.8), line)
    recorder.close()

    clips = sorted((tmp_path / "clips" / "cam").glob("*.avi"))
    assert len(clips) == 2 and not lines
    for clip, (start, end) in zip(clips, known):
        capture = cv2.VideoCapture(str(clip))
        assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(fps)
        greys = []
        while (read := capture.read())[0]:
            greys.append(round(float(read[1].mean()) / 4))
        wanted = list(range(start - round(PRE_S * fps), end + round(post * fps) + 1))
        print(f"\n{clip.name}: frames {greys[0]}..{greys[-1]}, {wanted[0]}..{wanted[-1]} wanted")
        assert greys == wanted, "every frame from pre before the start to post after the end, in order"
        sidecar = json.loads(clip.with_suffix(".json").read_text())
        assert (sidecar["end"], sidecar["clip"]["frames"], sidecar["post"]) == (times[end], len(wanted), post)


def test_a_clip_the_writer_falls_behind_on_is_given_up_with_one_line_and_the_feeding_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(record_module, "QUEUE_MB", 0.05)  # 50 KB: a few of these 18 KB frames, not a pre-roll's worth
    frames = counting_frames(40)
    lines: list[str] = []
    recorder = Recorder(tmp_path / "clips", PRE_S, POST_S, lookback=1.0, report=lines.append)
    source = recorder.source("cam", 10.0)
    for index, image in enumerate(frames):
        source.tap(index, image, 1000.0 + index / 10)
        if index == 20:
            recorder.event(
                "cam", Event("start", "grow", 1001.0, 10, None, None, 0.9, 0.8), {"event": "start", "label": "grow", "start": 1001.0}
            )
    recorder.close()
    assert len(lines) == 1 and "the writer is 0.05 MB of frames behind; the clip of grow" in lines[0] and "is not kept" in lines[0]
    assert not source.clips and len(source.ring) == round(recorder.keep_s * 10) + 1, (
        "the ring still takes every frame, bounded by its seconds"
    )
    assert not [p for p in (tmp_path / "clips").rglob("*") if p.is_file()], "nothing of the clip is left"


def test_sigkill_while_a_clip_is_written_leaves_no_partial_clip_under_a_final_name(bundle, replay, tmp_path):
    clip, _ = replay
    record = tmp_path / "clips"
    run = BackgroundCommand(
        "vclf-run", clip, "--model", bundle, "--live", "--no-display", "--json", *EVERY_ACTION,
        "--record", record, "--post", "60",
    )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_S
    while not list(record.glob("*/.*.partial.avi")):
        assert time.monotonic() < deadline and run.process.poll() is None, "\n".join(run.stderr)
        time.sleep(0.05)
    time.sleep(0.5)  # frames are being written
    run.process.send_signal(signal.SIGKILL)
    run.finish(timeout=10)
    partial = list(record.glob("*/.*.partial.avi"))
    final = list(record.glob("*/[!.]*.avi"))
    print(f"\nkilled while writing: {len(partial)} temp clip(s), {len(final)} final clip(s)")
    assert partial and partial[0].stat().st_size > 0
    for kept in final:  # only a clip completed before the kill, each whole
        assert clip_frames(kept) == json.loads(kept.with_suffix(".json").read_text())["clip"]["frames"]


def test_record_dir_unwritable_is_one_line_and_events_are_still_reported(bundle, replay, tmp_path):
    clip, _ = replay
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = run_command(
        "vclf-run", clip, "--model", bundle, "--live", "--no-display", "--json", *EVERY_ACTION,
        "--record", blocker / "clips",
    )  # fmt: skip
    complaints = [line for line in result.stderr.splitlines() if "--record" in line]
    assert len(complaints) == 1 and str(blocker / "clips") in complaints[0] and "cannot write there" in complaints[0]
    assert [json.loads(line)["event"] for line in result.stdout.splitlines()][:2] == ["start", "end"]


def test_clips_that_cannot_be_written_whole_are_one_line_each_and_leave_nothing(bundle, replay, tmp_path):
    """A full disk, as the writer meets it: a file-size limit (SIGXFSZ ignored) makes writes past 64 KiB fail."""
    clip, _ = replay

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    record = tmp_path / "clips"
    command = [BIN / "vclf-run", clip, "--model", bundle, "--live", "--no-display", "--json", *EVERY_ACTION, "--record", record]
    result = subprocess.run(command, capture_output=True, text=True, preexec_fn=small_files, timeout=300)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    complaints = [line for line in result.stderr.splitlines() if line.startswith("vclf-run: --record")]
    print(f"\n{len(events)} event lines; {complaints[:1]}")
    assert len(complaints) == sum(e["event"] == "end" for e in events) >= 2, "a line per clip, each event still reported"
    assert all("not kept" in line and "the event is reported as ever" in line for line in complaints)
    assert not [p for p in record.rglob("*") if p.is_file()], "no partial clip or sidecar is left"


def test_serve_on_another_host_is_said_and_a_missing_serve_extra_or_pre_without_record_is_exit_2(bundle, tmp_path):
    blocked = tmp_path / "blocked" / "prometheus_client"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('not installed')\n")
    env = {**os.environ, "PYTHONPATH": str(blocked.parent)}
    clip = write_video(tmp_path / "replay.avi", counting_frames(8, 160, 120), fps=25)
    missing = run_command("vclf-run", clip, "--model", bundle, "--live", "--no-display", "--serve", "0", check=False, env=env)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "vclf-run: error: --serve: prometheus-client is not installed here (pip install 'vclf[serve]')"
    ]

    alone = run_command("vclf-run", clip, "--model", bundle, "--live", "--no-display", "--pre", "1", check=False)
    assert alone.returncode == 2 and "--pre and --post apply with --record" in alone.stderr

    run = BackgroundCommand("vclf-run", clip, "--model", bundle, "--live", "--no-display", "--serve", "0.0.0.0:0")
    try:
        run.wait_for_stderr("reachable from other machines", START_TIMEOUT_S)
    finally:
        run.process.send_signal(signal.SIGINT)
        run.finish(timeout=30)
    assert any(line.startswith("vclf-run: --serve 0.0.0.0 is reachable from other machines") for line in run.stderr)
