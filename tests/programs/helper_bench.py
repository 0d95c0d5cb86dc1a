#!/usr/bin/env python3
"""A user's own program written with benchplan's protocol helper (python/, `pip install
./python`), for the test of a plan made only of `command` cells. It "runs" a model whose step
time grows with the batch, and says what framework it is.

    helper_bench.py infer|train|other
"""

import os
import sys
import time

try:
    import benchplan_protocol as bp
except ImportError:
    # Not installed: the checkout's copy.
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    import benchplan_protocol as bp

task = sys.argv[1]
p = bp.params()
batch = int(p.get("batch", 1))
spec = bp.model_spec() or {}
# Work that grows with the batch (and the model's width): a real loop, timed for real.
work = batch * 2000 * len(spec.get("hidden", [1]))
bp.info(
    framework="FakeTorch",
    framework_version="1.0",
    samples_per_iteration=batch,
    device_name="Fake Accelerator" if p.get("device") == "gpu" else None,
    threads=1,
    backend={"kernels": "python"},
)
bp.measure(lambda: sum(range(work)), sync="cpu")
time.sleep(0)
