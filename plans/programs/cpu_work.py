#!/usr/bin/env python3
"""Real CPU and memory work for benchplan's noise study (plans/noise.toml), through the
`command` protocol: one kernel per cell, 1 to 6 ms an iteration on a 2-core machine.

    cpu_work.py KERNEL

Kernels: sort (30k floats), sha256 (4 MiB), compress (zlib, ~200 KiB of words), json (a
3k-entry document, dumped and parsed), regex (~130 KiB of words scanned), copy (a 24 MiB
buffer copied).

To plant a known slowdown (the power check of tests/noise/false_alarms.sh), set
NOISE_SLOW_KERNEL to a kernel's name and NOISE_SLOWDOWN to a factor (1.10): that kernel then
does that much more work per iteration. Standard library only.
"""

import hashlib
import json
import os
import random
import re
import sys
import time
import zlib


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


kernel = sys.argv[1]
scale = float(os.environ.get("NOISE_SLOWDOWN", "1")) if os.environ.get("NOISE_SLOW_KERNEL") == kernel else 1.0
rng = random.Random(0)


def sized(n):
    return max(1, int(round(n * scale)))


if kernel == "sort":
    data = [rng.random() for _ in range(sized(30_000))]
    work = lambda: sorted(data)
elif kernel == "sha256":
    blob = os.urandom(sized(4 << 20))
    work = lambda: hashlib.sha256(blob).digest()
elif kernel == "compress":
    words = [b"alpha", b"beta", b"gamma", b"delta", b"epsilon", b"zeta"]
    text = b" ".join(rng.choice(words) for _ in range(sized(30_000)))
    work = lambda: zlib.compress(text, 6)
elif kernel == "json":
    doc = {f"key{i}": [i, str(i), {"x": i * 0.5}] for i in range(sized(3_000))}
    work = lambda: json.loads(json.dumps(doc))
elif kernel == "regex":
    text = " ".join(rng.choice(["foo", "bar", "baz", "qux42", "quux"]) for _ in range(sized(25_000)))
    pattern = re.compile(r"\b[a-z]+\d+\b")
    work = lambda: pattern.findall(text)
elif kernel == "copy":
    buf = bytearray(sized(24 << 20))
    work = lambda: bytes(buf)
else:
    emit("error", message=f"unknown kernel {kernel!r}; use sort, sha256, compress, json, regex or copy")
    sys.exit(1)

emit("info", kernel=kernel, python=sys.version.split()[0])


def timed():
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) * 1e3


if "BENCHPLAN_WARMUP_ITERATIONS" in os.environ:
    for _ in range(int(os.environ["BENCHPLAN_WARMUP_ITERATIONS"])):
        emit("warmup", ms=timed())
else:
    end = time.perf_counter() + float(os.environ.get("BENCHPLAN_WARMUP_SECONDS", "0"))
    while time.perf_counter() < end:
        emit("warmup", ms=timed())

lo = int(os.environ.get("BENCHPLAN_MIN_ITERATIONS", "1"))
hi = int(os.environ.get("BENCHPLAN_MAX_ITERATIONS", "100000"))
if "BENCHPLAN_ITERATIONS" in os.environ:
    for _ in range(int(os.environ["BENCHPLAN_ITERATIONS"])):
        emit("sample", ms=timed())
else:
    budget = float(os.environ["BENCHPLAN_SECONDS"])
    start, n = time.perf_counter(), 0
    while n < hi and (n < lo or time.perf_counter() - start < budget):
        emit("sample", ms=timed())
        n += 1
