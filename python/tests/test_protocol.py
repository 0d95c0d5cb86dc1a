"""Tests of benchplan_protocol without PyTorch: the budget, the lines written, outcomes."""

import io
import json
import os
import subprocess
import sys
import unittest
from contextlib import redirect_stdout

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import benchplan_protocol as bp  # noqa: E402


def lines(text):
    return [json.loads(l) for l in text.splitlines() if l.strip()]


class BudgetTests(unittest.TestCase):
    def test_counts_come_from_the_environment(self):
        b = bp.Budget({"BENCHPLAN_WARMUP_ITERATIONS": "2", "BENCHPLAN_ITERATIONS": "3"})
        self.assertTrue(b.warming(1, 0.0))
        self.assertFalse(b.warming(2, 0.0))
        self.assertTrue(b.measuring(2, 99.0))
        self.assertFalse(b.measuring(3, 0.0))

    def test_a_time_budget_keeps_its_minimum_and_maximum(self):
        b = bp.Budget({"BENCHPLAN_SECONDS": "0.5", "BENCHPLAN_MIN_ITERATIONS": "4",
                       "BENCHPLAN_MAX_ITERATIONS": "6"})
        self.assertTrue(b.measuring(3, 10.0), "the minimum holds past the time")
        self.assertTrue(b.measuring(4, 0.1))
        self.assertFalse(b.measuring(4, 0.6))
        self.assertFalse(b.measuring(6, 0.0), "the maximum holds within the time")

    def test_by_hand_a_short_default(self):
        b = bp.Budget({})
        self.assertEqual(b.iterations, 10)
        self.assertFalse(b.warming(0, 0.0))


class MeasureTests(unittest.TestCase):
    def test_warmup_then_samples_each_synchronized(self):
        calls = []
        ticks = iter(range(0, 10**9, 2_000_000))  # every clock read 2 ms later
        out = io.StringIO()
        with redirect_stdout(out):
            samples = bp.measure(
                lambda: calls.append("step"),
                sync=lambda: calls.append("sync"),
                budget=bp.Budget({"BENCHPLAN_WARMUP_ITERATIONS": "1", "BENCHPLAN_ITERATIONS": "2"}),
                clock=lambda: next(ticks),
            )
        events = lines(out.getvalue())
        self.assertEqual([e["event"] for e in events], ["warmup", "sample", "sample"])
        self.assertEqual(samples, [2.0, 2.0])
        self.assertEqual(events[1]["ms"], 2.0)
        self.assertEqual(calls, ["sync"] + ["step", "sync"] * 3, "synchronized before and after each")

    def test_cpu_needs_no_torch_and_unknown_devices_are_refused(self):
        self.assertIsNone(bp.synchronizer("cpu")())
        self.assertIsNone(bp.synchronizer(None)())
        with self.assertRaises(ValueError):
            bp.synchronizer("tpu")

    def test_info_skip_and_fail_lines(self):
        out = io.StringIO()
        with redirect_stdout(out):
            bp.info(framework="Fake", framework_version="1.0", samples_per_iteration=4)
            with self.assertRaises(SystemExit) as done:
                bp.skip("no GPU")
            self.assertEqual(done.exception.code, 0)
            with self.assertRaises(SystemExit) as done:
                bp.fail("out of memory")
            self.assertEqual(done.exception.code, 1)
        events = lines(out.getvalue())
        self.assertEqual(events[0], {"event": "info", "framework": "Fake", "framework_version": "1.0",
                                     "samples_per_iteration": 4})
        self.assertEqual(events[1], {"event": "skip", "reason": "no GPU"})
        self.assertEqual(events[2], {"event": "error", "message": "out of memory"})


class ProgramTests(unittest.TestCase):
    def test_a_program_run_as_benchplan_runs_it(self):
        program = "import benchplan_protocol as bp; p = bp.params(); bp.info(samples_per_iteration=p['batch']); bp.measure(lambda: sum(range(1000)))"
        env = dict(os.environ, BENCHPLAN_PARAMS='{"batch": 8}', BENCHPLAN_ITERATIONS="5",
                   PYTHONPATH=os.path.dirname(HERE))
        out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True,
                             text=True, check=True).stdout
        events = lines(out)
        self.assertEqual(events[0], {"event": "info", "samples_per_iteration": 8})
        self.assertEqual(sum(e["event"] == "sample" for e in events), 5)
        self.assertTrue(all(e["ms"] >= 0 for e in events[1:]))


if __name__ == "__main__":
    unittest.main()
