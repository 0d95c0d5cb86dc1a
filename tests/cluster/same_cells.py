"""Checks that two result sets hold the same cells, once each, all measured (exit 1 if not).

    python3 tests/cluster/same_cells.py SINGLE/cells.parquet MERGED/cells.parquet

Reads the files with pyarrow, independently of benchplan's own reader.
"""
import sys
from collections import Counter

import pyarrow.parquet as pq


def cells(path):
    table = pq.read_table(path, columns=["cell_id", "status", "study"]).to_pydict()
    return table["cell_id"], table["status"], set(table["study"])


single_ids, single_status, single_study = cells(sys.argv[1])
merged_ids, merged_status, merged_study = cells(sys.argv[2])
problems = []
dupes = [c for c, n in Counter(merged_ids).items() if n > 1]
if dupes:
    problems.append(f"cells twice in the merged set: {dupes}")
if set(single_ids) != set(merged_ids):
    problems.append(
        f"only in the single run: {sorted(set(single_ids) - set(merged_ids))}; "
        f"only in the merged set: {sorted(set(merged_ids) - set(single_ids))}"
    )
not_ok = [c for c, s in zip(merged_ids, merged_status) if s != "ok"]
if not_ok:
    problems.append(f"cells not ok in the merged set: {not_ok}")
if single_study != merged_study:
    problems.append(f"studies differ: {single_study} vs {merged_study}")
if problems:
    print("FAIL: " + "; ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"same cells: {len(merged_ids)} in each set, every one ok, none twice")
