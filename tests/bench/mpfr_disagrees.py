#!/usr/bin/env python3
"""A stand-in for `touchstone` that runs the real one (TOUCHSTONE_REAL) and, for
`diff --oracle mpfr` only, reports the opposite verdict (FAIL for PASS, else PASS) in its JSON and
exit status: what bench/oracle_tiers.py must catch (tests/bench/oracle_tiers_test.sh)."""
import json
import os
import subprocess
import sys

args = sys.argv[1:]
rc = subprocess.call([os.environ["TOUCHSTONE_REAL"]] + args)
if args[:1] == ["diff"] and "--oracle" in args and args[args.index("--oracle") + 1] == "mpfr":
    path = args[args.index("--json") + 1]
    report = json.load(open(path))
    report["verdict"] = "FAIL" if report["verdict"] == "PASS" else "PASS"
    json.dump(report, open(path, "w"))
    rc = 1 if report["verdict"] == "FAIL" else 0
sys.exit(rc)
