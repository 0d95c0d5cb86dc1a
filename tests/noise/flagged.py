#!/usr/bin/env python3
"""What a diff flagged, for the noise scripts (false_alarms.sh, ab_power.sh):

    flagged.py DIFF.json   ->   COUNT|SLOWER KEYS|FASTER KEYS   (keys joined by ';')
"""
import json
import sys

d = json.load(open(sys.argv[1]))
slow = [c["key"] for c in d["cells"] if c["verdict"] == "slower"]
fast = [c["key"] for c in d["cells"] if c["verdict"] == "faster"]
print("|".join([str(len(slow) + len(fast)), ";".join(slow), ";".join(fast)]))
