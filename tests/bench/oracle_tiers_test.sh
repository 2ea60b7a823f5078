#!/usr/bin/env bash
# bench/oracle_tiers.py on two small entries: one row each, the fast tier and MPFR agreeing; the
# same run with an MPFR verdict made to disagree (mpfr_disagrees.py) must fail and say DIFFER; and
# `eval --backend`, which makes its float32 answers.
# covers: CORE-DIFF-TIERS CORE-CLI
# Usage: oracle_tiers_test.sh path/to/touchstone path/to/source
set -u
ts=$1
src=$2
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# Two entries at size small: s4.cauchy is cut into slices, dss.kernel_exp is not.
out=$("$py" "$src/bench/oracle_tiers.py" s4.cauchy dss.kernel_exp --size small --repeats 1 --cap 60 \
      --touchstone "$ts" --json "$tmp/rows.json" 2>&1)
rc=$?
echo "$out"
[[ $rc -eq 0 ]] || fail "oracle_tiers.py exited $rc on agreeing tiers"
for e in s4.cauchy dss.kernel_exp; do
  grep -qE "^$e +small .*PASS / PASS" <<<"$out" || fail "no agreeing row for $e"
done
"$py" - "$tmp/rows.json" <<'PY' || fail "rows.json"
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
assert sorted(r["entry"] for r in rows) == ["dss.kernel_exp", "s4.cauchy"], rows
for r in rows:
    assert r["same_verdict"] is True and r["fast_tier_used"] and r["elements"] > 0, r
    assert 0 <= r["enclosed"] <= r["elements"] and r["fast_cpu_s"] > 0 and r["mpfr_cpu_s"] > 0, r
PY

# The MPFR tier made to disagree: exit 1, DIFFER on both rows.
out=$(TOUCHSTONE_REAL="$ts" "$py" "$src/bench/oracle_tiers.py" s4.cauchy dss.kernel_exp --size small \
      --repeats 1 --cap 60 --touchstone "$src/tests/bench/mpfr_disagrees.py" 2>&1)
rc=$?
echo "$out"
[[ $rc -eq 1 ]] || fail "oracle_tiers.py exited $rc (want 1) when the verdicts differ"
[[ $(grep -c "DIFFER" <<<"$out") -eq 2 ]] || fail "want two DIFFER rows"
grep -q "verdicts differ: .*s4.cauchy" <<<"$out" || fail "summary does not name s4.cauchy"

# An unknown name is refused.
"$py" "$src/bench/oracle_tiers.py" no.such_entry --touchstone "$ts" >/dev/null 2>&1
[[ $? -eq 2 ]] || fail "unknown entry not refused with 2"

# eval --backend: the backend's outputs, float32 for cpu-f32, which diff then passes.
"$ts" generate s4.cauchy --size small --output "$tmp/in.npz" >/dev/null || fail generate
"$ts" eval s4.cauchy --inputs "$tmp/in.npz" --backend cpu-f32 --output "$tmp/f32.npz" | grep -q "backend cpu-f32" ||
  fail "eval --backend cpu-f32"
"$py" - "$tmp/f32.npz" <<'PY' || fail "eval --backend cpu-f32 did not write float32"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for n in z.namelist():
        assert b"'descr': '<f4'" in z.read(n)[:128], n
PY
"$ts" diff s4.cauchy --inputs "$tmp/in.npz" --outputs "$tmp/f32.npz" | grep -q "verdict: PASS" ||
  fail "the cpu-f32 answer does not pass"
# ... and it is the backend's, not the oracle's: cpu-f64's answer differs from it.
"$ts" eval s4.cauchy --inputs "$tmp/in.npz" --backend cpu-f64 --output "$tmp/f64.npz" >/dev/null || fail "eval cpu-f64"
cmp -s "$tmp/f32.npz" "$tmp/f64.npz" && fail "cpu-f32 and cpu-f64 answers identical"
msg=$("$ts" eval s4.cauchy --inputs "$tmp/in.npz" --backend cpu-f16 --output "$tmp/x.npz" 2>&1)
[[ $? -eq 2 ]] && grep -q -- "--backend.*no backend 'cpu-f16'" <<<"$msg" || fail "unknown backend: $msg"
msg=$("$ts" eval s4.cauchy --inputs "$tmp/in.npz" --backend cpu-f32 --output "$tmp/x.json" 2>&1)
[[ $? -eq 2 ]] && grep -q -- "--output" <<<"$msg" || fail "--backend with .json: $msg"

if [[ $failures -ne 0 ]]; then echo "$failures failure(s)"; exit 1; fi
echo "all passed"
