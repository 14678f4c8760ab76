"""Shared onnxruntime sessions: one per model file and process, CPU by default, CUDA when present.

Inference runs under its own concurrency limit (``inference_concurrency``), apart from the
transformation workers that do codec work, so a burst of ``segment=foreground`` requests cannot
take every core, and memory stays bounded by the number of concurrent runs. :func:`memory` reports
what the loaded models and the process hold, :func:`latency` how long their runs took (both on
``/metrics``).

Session options, measured on IS-Net (1024², 2 cores): the default ``ORT_ENABLE_ALL`` graph
optimisation, the CPU memory arena on, and the memory-pattern planner off: with it, peak RSS was
1.3 GiB instead of 0.9 GiB for no measurable speed-up (docs/models.md).
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from enlarger import deadline, tracing
from enlarger.errors import FeatureUnavailableError
from enlarger.settings import Settings

if TYPE_CHECKING:
    import onnxruntime

_LOCK = threading.Lock()  # the tables below; held for moments only
_LOAD_LOCK = threading.Lock()  # one model load at a time (seconds), without holding up runs or /metrics
_SESSIONS: dict[tuple[str, tuple[str, ...], int], Session] = {}
#: loads made for a request under a time limit, which waits for them only until its limit
_LOADER = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="enlarger-model-load")
_SLOTS: dict[int, threading.BoundedSemaphore] = {}
#: per model file: [runs, seconds spent in them]
_RUNS: dict[str, list[float]] = {}


@dataclass(frozen=True)
class Session:
    """A loaded model: the onnxruntime session, where it came from and what it runs on."""

    path: Path
    inner: onnxruntime.InferenceSession
    providers: tuple[str, ...]
    file_bytes: int

    @property
    def input_name(self) -> str:
        return str(self.inner.get_inputs()[0].name)

    @property
    def input_shape(self) -> list[Any]:
        return list(self.inner.get_inputs()[0].shape)

    def run(self, feed: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
        """Run on one input tensor and return every output (as float32 arrays).

        Under a transformation's time limit (:mod:`enlarger.deadline`), onnxruntime is told to
        terminate the run when the limit passes, which raises :class:`TransformTimeoutError`.
        """
        limit = deadline.current()
        started = time.perf_counter()
        traced = {"enlarger.model": self.path.name, "enlarger.model.providers": ",".join(self.providers)}
        with tracing.span("model inference", traced if tracing.ENABLED else None), _terminated_at(limit) as run_options:
            try:
                outputs = self.inner.run(None, {self.input_name: feed}, run_options)
            except Exception as exc:  # onnxruntime raises its own (unexported) exception types
                if limit is not None and limit.expired():
                    raise limit.error() from exc
                raise
        elapsed = time.perf_counter() - started
        with _LOCK:
            totals = _RUNS.setdefault(self.path.name, [0.0, 0.0])
            totals[0] += 1
            totals[1] += elapsed
        return [np.asarray(o, dtype=np.float32) for o in outputs]


@contextmanager
def _terminated_at(limit: deadline.Deadline | None) -> Iterator[onnxruntime.RunOptions | None]:
    """Run options whose ``terminate`` flag a timer sets when ``limit`` passes (none without a limit)."""
    if limit is None:
        yield None
        return
    limit.check()
    import onnxruntime

    options = onnxruntime.RunOptions()
    options.log_severity_level = 4  # a terminated run is reported as the timeout, not logged as an error
    timer = threading.Timer(limit.remaining(), setattr, (options, "terminate", True))
    timer.daemon = True
    timer.start()
    try:
        yield options
    finally:
        timer.cancel()


def providers(device: str) -> tuple[str, ...]:
    """Execution providers for ``device`` (auto, cpu, cuda), best first, always ending with the CPU."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
        return ("CUDAExecutionProvider", "CPUExecutionProvider")
    if device == "cuda":
        raise FeatureUnavailableError("inference_device=cuda, but onnxruntime has no CUDA execution provider here")
    return ("CPUExecutionProvider",)


def session(path: Path, settings: Settings) -> Session:
    """The process-wide session for the model at ``path`` (loaded on first use).

    A load (seconds for the larger models) cannot be interrupted, so under a transformation's time
    limit it runs on a loader thread and the request waits only until its limit: past it the
    request fails with the usual timeout while the load finishes for the requests after it.
    The server loads the configured models at start (:mod:`enlarger.models.preload`), so a
    request meets a load only when it asks for a model before that is done.
    """
    chosen = providers(settings.inference_device)
    key = (str(path.resolve()), chosen, settings.inference_threads)
    with _LOCK:
        found = _SESSIONS.get(key)
    if found is not None:
        return found
    limit = deadline.current()
    if limit is None:
        return _load(path, settings, key)
    limit.check()
    loading = _LOADER.submit(_load, path, settings, key)
    try:
        return loading.result(timeout=limit.remaining())
    except concurrent.futures.TimeoutError:
        raise limit.error() from None


def _load(path: Path, settings: Settings, key: tuple[str, tuple[str, ...], int]) -> Session:
    chosen = key[1]
    with _LOAD_LOCK:
        with _LOCK:
            found = _SESSIONS.get(key)
        if found is not None:
            return found
        if not path.is_file():
            raise FeatureUnavailableError(f"the model file {path} does not exist")
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = settings.inference_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.enable_cpu_mem_arena = True
        options.enable_mem_pattern = False  # −0.4 GiB peak on IS-Net, same speed (see the docstring)
        try:
            inner = onnxruntime.InferenceSession(str(path), sess_options=options, providers=list(chosen))
        except Exception as exc:  # onnxruntime raises its own (unexported) exception types
            raise FeatureUnavailableError(f"the model file {path} could not be loaded: {exc}") from exc
        loaded = Session(path, inner, tuple(inner.get_providers()), path.stat().st_size)
        with _LOCK:
            _SESSIONS[key] = loaded
        return loaded


@contextmanager
def inference_slot(settings: Settings) -> Iterator[None]:
    """Hold one of the ``inference_concurrency`` slots while a model runs.

    Waiting for a slot counts against the transformation's time limit: past it, the wait gives up.
    """
    with _LOCK:
        slot = _SLOTS.setdefault(
            settings.inference_concurrency, threading.BoundedSemaphore(settings.inference_concurrency)
        )
    limit = deadline.current()
    if limit is None:
        slot.acquire()
    elif not slot.acquire(timeout=limit.remaining()):
        raise limit.error()
    try:
        yield
    finally:
        slot.release()


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory() -> dict[str, object]:
    """Memory held by the process and the models loaded in it (file sizes approximate weights)."""
    with _LOCK:
        models = [
            {"path": str(s.path), "providers": list(s.providers), "file_bytes": s.file_bytes}
            for s in _SESSIONS.values()
        ]
    return {
        "process_rss_bytes": _rss_bytes(),
        "models_loaded": len(models),
        "model_file_bytes": sum(int(str(m["file_bytes"])) for m in models),
        "models": models,
    }


def latency() -> dict[str, tuple[int, float]]:
    """Per model file name: (runs, total seconds) since the process started."""
    with _LOCK:
        return {name: (int(runs), seconds) for name, (runs, seconds) in _RUNS.items()}
