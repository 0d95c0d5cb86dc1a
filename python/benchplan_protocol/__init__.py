"""Measure your own program for benchplan's `command` workload (protocol version 1).

benchplan starts the program once per cell with the cell's parameters and measurement budget in
the environment and reads one JSON object per line from its stdout. This module writes those
lines: `measure` warms up, times each iteration with the device synchronized, and stops where the
budget says; `info`, `skip` and `fail` report facts and outcomes. The protocol itself is
described in benchplan's book (docs/src/workloads.md, "The command workload").
"""

import json
import os
import sys
import time

__all__ = [
    "PROTOCOL_VERSION",
    "Budget",
    "emit",
    "fail",
    "info",
    "measure",
    "model_spec",
    "params",
    "skip",
    "synchronizer",
    "torch_info",
]

PROTOCOL_VERSION = 1

# With no budget in the environment (the program run by hand), a short default.
_DEFAULT_ITERATIONS = 10


def emit(event, **fields):
    """Writes one protocol line: `{"event": EVENT, ...fields}`."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def params():
    """The cell's parameters (`BENCHPLAN_PARAMS`), as a dict; empty when run by hand."""
    return json.loads(os.environ.get("BENCHPLAN_PARAMS", "{}"))


def model_spec():
    """The plan's declaration of the cell's model (`BENCHPLAN_MODEL`), or None."""
    text = os.environ.get("BENCHPLAN_MODEL")
    return json.loads(text) if text else None


def info(**facts):
    """Reports facts about the cell (`samples_per_iteration`, `framework`, ...)."""
    emit("info", **facts)


def skip(reason):
    """Ends the cell as skipped (it cannot run here), exit status 0."""
    emit("skip", reason=str(reason))
    sys.exit(0)


def fail(message, status=1):
    """Ends the cell as failed, with `message` as its reason."""
    emit("error", message=str(message))
    sys.exit(status)


def _int(env, name):
    value = env.get(name)
    return int(value) if value not in (None, "") else None


def _float(env, name):
    value = env.get(name)
    return float(value) if value not in (None, "") else None


class Budget:
    """How long to warm up and to measure, as benchplan passed it in the environment."""

    def __init__(self, env=None):
        env = os.environ if env is None else env
        self.warmup_iterations = _int(env, "BENCHPLAN_WARMUP_ITERATIONS")
        self.warmup_seconds = _float(env, "BENCHPLAN_WARMUP_SECONDS")
        self.iterations = _int(env, "BENCHPLAN_ITERATIONS")
        self.seconds = _float(env, "BENCHPLAN_SECONDS")
        self.min_iterations = _int(env, "BENCHPLAN_MIN_ITERATIONS") or 1
        self.max_iterations = _int(env, "BENCHPLAN_MAX_ITERATIONS") or 10_000
        if self.iterations is None and self.seconds is None:
            self.iterations = _DEFAULT_ITERATIONS

    def warming(self, done, elapsed_s):
        """Whether another warm-up iteration is due."""
        if self.warmup_iterations is not None and done < self.warmup_iterations:
            return True
        return self.warmup_seconds is not None and elapsed_s < self.warmup_seconds

    def measuring(self, done, elapsed_s):
        """Whether another timed iteration is due."""
        if self.iterations is not None:
            return done < self.iterations
        if done >= self.max_iterations:
            return False
        return done < self.min_iterations or elapsed_s < self.seconds


def synchronizer(sync):
    """A function that waits for the device: from a `torch.device`, a device string
    (`cuda`, `cuda:1`, `mps`, `cpu`), any callable, or None."""
    if sync is None:
        return lambda: None
    if callable(sync):
        return sync
    kind = getattr(sync, "type", None) or str(sync).split(":")[0]
    if kind == "cpu":
        return lambda: None
    if kind not in ("cuda", "mps", "xpu"):
        raise ValueError(f"no synchronization known for device {sync!r}; pass a callable")
    import torch  # only a GPU needs it, and a GPU program has it

    if kind == "cuda":
        device = sync if not isinstance(sync, str) else torch.device(sync)
        return lambda: torch.cuda.synchronize(device)
    if kind == "mps":
        return torch.mps.synchronize
    return torch.xpu.synchronize


def measure(step, sync=None, budget=None, clock=time.perf_counter_ns):
    """Runs `step` for the warm-up, then for the timed iterations of the budget, each timed with
    the device synchronized after it; emits a `warmup` or `sample` line per iteration and returns
    the timed samples in milliseconds.

    The device is synchronized once before the first iteration too, so that work queued while
    building the model is not charged to it. benchplan also counts the samples and stops the
    program once it has enough.
    """
    wait = synchronizer(sync)
    budget = budget or Budget()
    wait()
    start = time.perf_counter()
    done = 0
    while budget.warming(done, time.perf_counter() - start):
        t0 = clock()
        step()
        wait()
        emit("warmup", ms=(clock() - t0) / 1e6)
        done += 1
    samples = []
    start = time.perf_counter()
    while budget.measuring(len(samples), time.perf_counter() - start):
        t0 = clock()
        step()
        wait()
        ms = (clock() - t0) / 1e6
        emit("sample", ms=ms)
        samples.append(ms)
    return samples


def torch_info(device=None, **facts):
    """`info` with PyTorch's name and version, and the device's name on CUDA."""
    import torch

    extra = {"framework": "PyTorch", "framework_version": torch.__version__}
    if device is not None and getattr(device, "type", str(device)).startswith("cuda"):
        extra["device_name"] = torch.cuda.get_device_name(device)
    extra["threads"] = torch.get_num_threads()
    info(**extra, **facts)
