"""Checks that benchplan result sets open as they are in pandas/pyarrow and duckdb.

Usage: python3 tests/interop/read_results.py results/STUDY/MACHINE/COMMIT/cells.parquet
Exits non-zero, naming the problem, if either library cannot read the file or the figures
disagree with the raw samples.
"""
import statistics
import sys

import duckdb
import pandas as pd
import pyarrow.parquet as pq

path = sys.argv[1]

table = pq.read_table(path)
df = table.to_pandas()
assert len(df) > 0, "no rows"
for column in ["study", "cell_id", "status", "samples_ms", "median_ms", "git_commit", "machine"]:
    assert column in df.columns, f"missing column {column}"
params = [c for c in df.columns if c.startswith("param_")]
assert params, "no parameter columns"

ok = df[df.status == "ok"]
for _, row in ok.iterrows():
    samples = list(row.samples_ms)
    assert len(samples) == row.sample_count, row.cell_key
    median = statistics.median(samples)
    assert abs(median - row.median_ms) <= 1e-9 * max(1.0, median), (row.cell_key, median, row.median_ms)

con = duckdb.connect()
n, cells = con.execute(
    "select count(*), count(distinct cell_id) from read_parquet(?)", [path]
).fetchone()
assert n == len(df) == cells, (n, len(df), cells)
medians = con.execute(
    "select cell_id, median(s) from (select cell_id, unnest(samples_ms) as s "
    "from read_parquet(?) where status = 'ok') group by cell_id",
    [path],
).fetchall()
by_id = dict(zip(ok.cell_id, ok.median_ms))
for cell_id, median in medians:
    assert abs(by_id[cell_id] - median) <= 1e-9 * max(1.0, median), (cell_id, median)

print(f"ok: {path}: {len(df)} rows, {len(params)} parameter columns; pandas/pyarrow and duckdb agree on every median")
