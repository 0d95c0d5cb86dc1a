"""Validates plans against plans/plan.schema.json with Python's jsonschema, as an editor would:
every plan given must pass, and a plan with a misspelled key must not (exit 1 otherwise).

    python3 tests/interop/validate_plans.py plans/*.toml
"""
import json
import sys
import tomllib

import jsonschema

schema = json.load(open("plans/plan.schema.json"))
jsonschema.Draft7Validator.check_schema(schema)
validator = jsonschema.Draft7Validator(schema)
failed = False
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        errors = list(validator.iter_errors(tomllib.load(f)))
    for e in errors:
        print(f"FAIL: {path}: {'.'.join(map(str, e.path))}: {e.message}", file=sys.stderr)
    failed |= bool(errors)
    print(f"{path}: {'valid' if not errors else f'{len(errors)} error(s)'}")

typo = tomllib.loads(
    'version = 1\nname = "t"\n[measure]\nwarmpu = 3\n'
    '[[experiments]]\nname = "m"\nworkload = "matmull"\n[experiments.matrix]\nn = [64]\n'
)
found = sorted(e.message for e in validator.iter_errors(typo))
if not any("warmpu" in m for m in found) or not any("matmull" in m for m in found):
    print(f"FAIL: the schema missed a misspelled key or workload: {found}", file=sys.stderr)
    failed = True
else:
    print("a misspelled key and workload are flagged")
# The schema's durations are what benchplan's parser (measure::parse_duration) accepts.
def timeout_ok(text):
    plan = {"version": 1, "name": "t", "measure": {"timeout": text}}
    return not list(validator.iter_errors(plan))


accepted = ["2s", "1.5min", ".5s", "2 s", " 10m ", "250ms", "3us", "1h", "2.s"]
rejected = ["2", "2sec", "s", "1.2.3s", "-1s", "2 hours", "1ns"]
wrong = [t for t in accepted if not timeout_ok(t)] + [t for t in rejected if timeout_ok(t)]
if wrong:
    print(f"FAIL: the schema's duration pattern disagrees with the parser on {wrong}", file=sys.stderr)
    failed = True
else:
    print("durations: the schema accepts what the parser accepts")
sys.exit(1 if failed else 0)
