#!/usr/bin/env python3
"""A stand-in for a real benchmark program, for tests of the `command` workload.

    fake_bench.py MODE [ARG]

Modes: ok (honours the budget in the environment), noisy (the same at a speed of its own in
each process), endless (ignores it: benchplan must stop
it), hang (prints nothing, sleeps), segv (crashes with SIGSEGV after two samples), exit3,
skip, error, typo (a misspelled event), silent (exits 0 with no sample), show (reports its
argument vector and environment as an error message), echo (the same as info, then a sample).
"""

import json
import os
import signal
import sys
import time


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


mode = sys.argv[1]
print("starting up (ordinary output, ignored)", flush=True)
if mode == "ok":
    emit("info", samples_per_iteration=4, param_count=123, device_name="Fake Accelerator")
    for _ in range(int(os.environ.get("BENCHPLAN_WARMUP_ITERATIONS", "0"))):
        emit("warmup", ms=2.0)
    for i in range(int(os.environ["BENCHPLAN_ITERATIONS"])):
        emit("sample", ms=1.0 + i / 100)
elif mode == "own-energy":
    # A program that reads its own energy (joules over its timed iterations).
    emit("info", samples_per_iteration=4, energy_j=3.5)
    emit("warmup", ms=2.0)
    for i in range(int(os.environ["BENCHPLAN_ITERATIONS"])):
        emit("sample", ms=1.0)
elif mode == "noisy":
    # Every process runs at its own speed (within ±30%), as processes on a busy machine do:
    # the n-th process here (counted in a file in the working directory) at the n-th level.
    try:
        with open("noisy-count.txt") as f:
            n = int(f.read())
    except OSError:
        n = 0
    with open("noisy-count.txt", "w") as f:
        f.write(str(n + 1))
    level = [0.7, 1.3, 1.0, 0.8, 1.2, 0.9][n % 6]
    for i in range(int(os.environ["BENCHPLAN_ITERATIONS"])):
        emit("sample", ms=level * (1.0 + i / 1000))
elif mode == "endless":
    i = 0
    while True:
        emit("sample", ms=1.0 + (i % 3) / 100)
        i += 1
        time.sleep(0.001)
elif mode == "hang":
    time.sleep(600)
elif mode == "pidfile":
    # Says where it is, then hangs: for the test that killing benchplan kills it too.
    with open(os.environ["FAKE_BENCH_PIDFILE"], "w") as f:
        f.write(str(os.getpid()))
    time.sleep(600)
elif mode == "segv":
    emit("sample", ms=1.0)
    emit("sample", ms=1.0)
    os.kill(os.getpid(), signal.SIGSEGV)
elif mode == "exit3":
    emit("sample", ms=1.0)
    print("something went wrong here", file=sys.stderr, flush=True)
    sys.exit(3)
elif mode == "skip":
    emit("skip", reason="no such device here")
elif mode == "error":
    emit("error", message="out of memory")
    sys.exit(1)
elif mode == "typo":
    emit("sampel", ms=1.0)
elif mode == "silent":
    pass
elif mode == "huge":
    # A sample of 1e308 ms: a bug in the program, which must fail its cell, not the run.
    emit("sample", ms=1.0)
    print('{"event": "sample", "ms": 1e308}', flush=True)
elif mode == "overflow":
    # 1e309 is past JSON's number range: not valid JSON, so not a sample.
    emit("sample", ms=1.0)
    print('{"event": "sample", "ms": 1e309}', flush=True)
elif mode == "longline":
    # 8 MB on one line: benchplan keeps a bounded part of it.
    emit("sample", ms=1.0)
    sys.stdout.write("x" * (8 << 20) + "\n")
    sys.stdout.flush()
    emit("sample", ms=1.0)
    emit("sample", ms=1.0)
elif mode == "show":
    # Reports what it was given as an error message, which the result row keeps.
    emit("error", message=json.dumps({"argv": sys.argv[1:], "params": json.loads(os.environ["BENCHPLAN_PARAMS"]),
                                      "model": json.loads(os.environ.get("BENCHPLAN_MODEL", "null"))}))
elif mode == "echo":
    emit(
        "info",
        argv=sys.argv[1:],
        params=json.loads(os.environ["BENCHPLAN_PARAMS"]),
        model=json.loads(os.environ.get("BENCHPLAN_MODEL", "null")),
    )
    print(json.dumps({"argv": sys.argv[1:]}), file=sys.stderr, flush=True)
    emit("sample", ms=1.0)
