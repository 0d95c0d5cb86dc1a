#!/usr/bin/env python3
"""Checks `benchplan diff`'s between-run statistics against an independent implementation:
pandas reads both result sets, splits each cell's samples into its rounds, and SciPy's Welch
t-test and Student's t distribution recompute every tested cell's ratio, degrees of freedom and
p-value from the same round values.

    check_diff_stats.py BENCHPLAN OLD_SET NEW_SET

Exits 1 naming the first cell that disagrees (beyond 1e-6 relative).
"""
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
from scipy import stats

bin_, old_path, new_path = sys.argv[1:4]
diff = json.loads(
    subprocess.run([bin_, "diff", old_path, new_path, "--format", "json", "--fail-on", "never"],
                   check=True, capture_output=True, text=True).stdout)


def round_values(path):
    df = pd.read_parquet(path if path.endswith(".parquet") else f"{path}/cells.parquet")
    out = {}
    for _, row in df[df.status == "ok"].iterrows():
        samples = np.asarray(row.samples_ms, dtype=float)
        counts = row.get("round_sample_counts")
        counts = [] if counts is None else list(counts)
        if not counts or sum(counts) != len(samples):
            counts = [len(samples)]
        parts = np.split(samples, np.cumsum(counts)[:-1])
        figure = np.mean if row.workload == "dataload" else np.median
        out[row.cell_id] = [math.log(figure(p)) for p in parts if len(p)]
    return out


old, new = round_values(old_path), round_values(new_path)
shift = diff["shift"]
applied = shift and shift["applied"]
shift_log, shift_var = (math.log(shift["ratio"]), shift["log_variance"]) if applied else (0.0, 0.0)
checked = 0
for c in diff["cells"]:
    if c["method"] != "rounds":
        continue
    a, b = old[c["cell_id"]], new[c["cell_id"]]
    t = stats.ttest_ind(b, a, equal_var=False)
    d = np.mean(b) - np.mean(a)
    se = math.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b))
    if se > 0 and not math.isclose(d / se, t.statistic, rel_tol=1e-9):
        sys.exit(f"{c['key']}: SciPy's t {t.statistic} is not d/se {d / se}")
    expect = {
        "ratio": math.exp(d),
        "relative": math.exp(d - shift_log),
        "df": t.df,
        "std_error": math.sqrt(se * se + shift_var),
    }
    e = d - shift_log
    expect["p_value"] = min(1.0, 2 * stats.t.sf(abs(e) / expect["std_error"], t.df))
    for k, v in expect.items():
        if not math.isclose(c[k], v, rel_tol=1e-6, abs_tol=1e-9):
            sys.exit(f"{c['key']}: {k} is {c[k]}, SciPy gives {v}")
    checked += 1
if checked == 0:
    sys.exit("no cell was tested on rounds: nothing to check")
print(f"{checked} cell(s): ratio, relative ratio, degrees of freedom, standard error and p-value agree with SciPy")
