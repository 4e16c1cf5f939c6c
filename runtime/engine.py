"""The ``Engine``: a bundle's two graphs as ONNX Runtime sessions, loaded once and run many times.

Which provider runs them is ``providers.py``'s choice; each session comes
from ``graph_cache.py`` (the CPU-optimised graph cached between starts).
"""

import click
import numpy as np
import onnxruntime as ort

from .bundle import EXTRACTOR_FILE, HEAD_FILE, Bundle, check_graph
from .graph_cache import create_session
from .providers import CPU, DeviceUnavailableError, choose_providers, provider_options
from .sampling import frame_mask

EXTRACT_BATCH = 64  # frames per extractor call, at most


class Engine:
    """Both graphs of a bundle, loaded once and run many times.

    A clip runs through I/O binding: its uint8 frames go to the provider's
    device once, the extractor writes features into a ``[T, F]`` buffer that
    stays there, and the head reads that buffer as ``[1, T, F]``. Rows past
    the clip's frames hold whatever the previous clip left; the mask hides
    them (the head ignores masked positions, which export checks).

    ``threads`` is each session's intra-op threads (None: ONNX Runtime's
    default, one per physical core); a caller that runs several calls at
    once gives each its share of the cores.
    """

    def __init__(
        self,
        bundle: Bundle,
        device: str = "auto",
        notice=lambda line: click.echo(line, err=True),
        verbose: bool = False,
        threads: int | None = None,
    ):
        self.bundle = bundle
        choice = choose_providers(device)
        providers = [provider_options(p, bundle) for p in choice.providers]
        repairs = notice if verbose else None
        self.extractor = create_session(bundle.extractor_path, providers, bundle.sha256.get(EXTRACTOR_FILE), repairs, threads)
        self.head = create_session(bundle.head_path, providers, bundle.sha256.get(HEAD_FILE), repairs, threads)
        for name, session in ((EXTRACTOR_FILE, self.extractor), (HEAD_FILE, self.head)):
            check_graph(bundle, name, session.get_inputs(), session.get_outputs())
        if self.provider != choice.providers[0]:
            if device != "auto":
                raise DeviceUnavailableError(f"{device}: onnxruntime could not start {choice.providers[0]}")
            notice(f"vclf: {choice.providers[0]} did not start; using {self.provider}")
        elif choice.fallback_note():
            notice(f"vclf: {choice.fallback_note()}")
        if bundle.precision == "fp16" and self.provider == CPU:
            notice("vclf: this fp16 bundle is made for GPUs and runs slowly on the CPU; export fp32 or int8 for CPUs")
        self.passed_over = choice.passed_over
        self._device = "cpu" if self.provider == CPU else "cuda"
        self._features = ort.OrtValue.ortvalue_from_shape_and_type(
            [bundle.sequence_length, bundle.feature_size], np.float32, self._device, 0
        )

    @property
    def provider(self) -> str:
        return self.extractor.get_providers()[0]

    @property
    def folder_batch_frames(self) -> int:
        """Frames a folder run puts in one extractor call: several clips' on a GPU, one clip's on the CPU.

        On the CPU the cost per frame does not fall with the batch (measured:
        20 and 60 frames, the same per frame) and each new batch shape runs
        cold once; five interleaved folder runs of 12 clips gave int8 3.63
        clips/s (median) with one clip per call against 3.02 with 64 frames,
        fp32 1.77 against 1.72.
        """
        return EXTRACT_BATCH if self.provider != CPU else self.bundle.sequence_length

    def extract(self, frames: np.ndarray) -> np.ndarray:
        """float32 ``[N, F]`` features for uint8 RGB frames ``[N, S, S, 3]``, batched."""
        chunks = [
            self.extractor.run(None, {"frames": frames[start : start + EXTRACT_BATCH]})[0] for start in range(0, len(frames), EXTRACT_BATCH)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.bundle.feature_size), np.float32)

    def classify(self, features: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Probabilities ``[B, C]`` for features ``[B, T, F]`` and mask ``[B, T]``."""
        return self.head.run(None, {"features": features.astype(np.float32), "mask": mask.astype(bool)})[0]

    def classify_clip(self, frames: np.ndarray) -> np.ndarray:
        """Probabilities ``[C]`` for one clip's frames ``[n, S, S, 3]``, ``n`` at most the sequence length."""
        length, size = self.bundle.sequence_length, self.bundle.feature_size
        if not 0 < len(frames) <= length:
            raise ValueError(f"a clip has 1 to {length} frames, not {len(frames)}")
        pointer = self._features.data_ptr()
        extract = self.extractor.io_binding()
        extract.bind_cpu_input("frames", np.ascontiguousarray(frames))
        extract.bind_output("features", self._device, 0, np.float32, [len(frames), size], pointer)
        self.extractor.run_with_iobinding(extract)
        extract.synchronize_outputs()
        head = self.head.io_binding()
        head.bind_input("features", self._device, 0, np.float32, [1, length, size], pointer)
        head.bind_cpu_input("mask", frame_mask(len(frames), length)[None])
        head.bind_output("probabilities")
        self.head.run_with_iobinding(head)
        return head.copy_outputs_to_cpu()[0][0]
