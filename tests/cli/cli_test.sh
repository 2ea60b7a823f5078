#!/usr/bin/env bash
# The command line on numpy-written files: exit codes, messages, eval/diff/generate round trips.
# covers: CORE-CLI CORE-CLI-EXIT CORE-DIFF-VERDICT CORE-CLI-LIST-BENCH CORE-CHECK-HTML
# Usage: cli_test.sh path/to/touchstone path/to/tests/data
set -u
ts=$1
data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect CODE PATTERN -- command...: exit code and a pattern in stdout+stderr.
expect() {
  local code=$1 pattern=$2
  shift 3
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [[ $rc -ne $code ]] || ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL: $* -> exit $rc (want $code), pattern '$pattern'"
    echo "$out" | head -20
    failures=$((failures + 1))
  else
    echo "ok: $*"
  fi
}

expect 0 'mamba\.selective_scan' -- "$ts" list
expect 0 '"algorithms"' -- "$ts" list --json

# eval: the oracle's outputs as .npz and as .json with all digits.
expect 0 'wrote' -- "$ts" eval mamba.selective_scan --inputs "$data/scan_inputs.npz" --output "$tmp/oracle.npz"
expect 0 'wrote' -- "$ts" eval mamba.selective_scan --inputs "$data/scan_inputs_compressed.npz" \
  --output "$tmp/oracle.json" --precision 128
# asked for 128 bits: the answer is the verified one, at twice that ([CORE-ORACLE-VERIFIED]).
expect 0 '"precision_bits": (25[6-9]|26[0-9])' -- cat "$tmp/oracle.json"
expect 0 '"[-]?[0-9]\.[0-9]{38,}e[-+][0-9]+"' -- cat "$tmp/oracle.json"

# diff: the PyTorch peer's float32 outputs pass; a corrupted element fails, found at its index.
expect 0 'verdict: PASS' -- "$ts" diff mamba.selective_scan --inputs "$data/scan_inputs.npz" \
  --outputs "$data/scan_peer_outputs_f32.npz"

# diff of a backward pass: the PyTorch peer's autograd gradients pass (a 3-d B gets a 3-d dB);
# one corrupted dA element fails, found at its index.
# covers: MAMBA-BWD-BOUND-ANY MAMBA-BWD-SHAPES
expect 0 'verdict: PASS' -- "$ts" diff mamba.selective_scan_backward \
  --inputs "$data/scan_backward_inputs.npz" --outputs "$data/scan_backward_peer_grads_f32.npz"
expect 1 'dA: .*FAIL|worst at \(3, 5\)' -- "$ts" diff mamba.selective_scan_backward \
  --inputs "$data/scan_backward_inputs.npz" --outputs "$data/scan_backward_bad_grads_f32.npz"
expect 0 'baseline cpu-f32' -- "$ts" diff mamba.selective_scan --inputs "$data/scan_inputs.npz" \
  --outputs "$data/scan_peer_outputs_f32.npz" --json "$tmp/diff.json"
expect 0 '"verdict": "PASS"' -- cat "$tmp/diff.json"
expect 1 'worst at \(1, 2, 17\)' -- "$ts" diff mamba.selective_scan --inputs "$data/scan_inputs.npz" \
  --outputs "$data/scan_bad_outputs_f32.npz"
# The oracle rounded to double passes as a float64 implementation; as bfloat16 too.
expect 0 'verdict: PASS' -- "$ts" diff mamba.selective_scan --inputs "$data/scan_inputs.npz" \
  --outputs "$tmp/oracle.npz"
expect 0 'are not bfloat16 values' -- "$ts" diff mamba.selective_scan --inputs "$data/scan_inputs.npz" \
  --outputs "$data/scan_peer_outputs_f32.npz" --format bfloat16

# Invalid input: exit 2 with the array named.
expect 2 'A: expected shape \(dim, dstate\)' -- "$ts" eval mamba.selective_scan \
  --inputs "$data/scan_misshapen_A.npz" --output "$tmp/x.npz"
expect 2 'u: expected a float array, got int64' -- "$ts" eval mamba.selective_scan \
  --inputs "$data/scan_int_u.npz" --output "$tmp/x.npz"
expect 2 'delta: missing' -- "$ts" diff mamba.selective_scan --inputs "$data/scan_missing_delta.npz" \
  --outputs "$data/scan_peer_outputs_f32.npz"
expect 2 'cannot read as .npz' -- "$ts" eval mamba.selective_scan --inputs "$data/not_a_zip.npz" \
  --output "$tmp/x.npz"
expect 2 'unknown algorithm' -- "$ts" eval mamba.selective_scn --inputs "$data/scan_inputs.npz" \
  --output "$tmp/x.npz"
expect 2 'delta_softplus: the .npz array and --option disagree' -- "$ts" eval mamba.selective_scan \
  --inputs "$data/scan_inputs.npz" --output "$tmp/x.npz" --option delta_softplus=0
expect 2 'bogus: unknown option' -- "$ts" eval mamba.selective_scan --inputs "$data/scan_inputs.npz" \
  --output "$tmp/x.npz" --option bogus=1
expect 2 'expected a float array|not an output' -- "$ts" diff mamba.selective_scan \
  --inputs "$data/scan_inputs.npz" --outputs "$data/scan_inputs.npz"
expect 2 'format: expected one of' -- "$ts" diff mamba.selective_scan --inputs "$data/scan_inputs.npz" \
  --outputs "$data/scan_peer_outputs_f32.npz" --format fp8
expect 2 'precision: expected between' -- "$ts" eval mamba.selective_scan \
  --inputs "$data/scan_inputs.npz" --output "$tmp/x.npz" --precision 16
expect 2 'output.*\.npz or \.json' -- "$ts" eval mamba.selective_scan \
  --inputs "$data/scan_inputs.npz" --output "$tmp/x.txt"
expect 2 'required' -- "$ts" diff mamba.selective_scan --inputs "$data/scan_inputs.npz"

# generate -> eval -> diff: the oracle's own float64 rounding passes its float64 judgement.
expect 0 'wrote' -- "$ts" generate mamba.selective_scan --size small --format float64 --output "$tmp/gen.npz"
expect 0 'wrote' -- "$ts" eval mamba.selective_scan --inputs "$tmp/gen.npz" --output "$tmp/gen_out.npz"
expect 0 'verdict: PASS' -- "$ts" diff mamba.selective_scan --inputs "$tmp/gen.npz" --outputs "$tmp/gen_out.npz"

# covers: CORE-METRIC-VERDICT CORE-DIFF-ORDER CORE-VERDICT-REGISTRY
# Wrong answers to the Mamba block (all three once PASSed with max error 0, its bound being +inf):
# every value times 1.5, all NaN, one element off by 1% each FAIL; the oracle rounded to float32
# PASSes. Arrays are edited with Debian's numpy.
py=/usr/bin/python3
expect 0 'wrote' -- "$ts" generate mamba.block --size tiny --output "$tmp/blk.npz"
expect 0 'wrote' -- "$ts" eval mamba.block --inputs "$tmp/blk.npz" --output "$tmp/blk_exact.npz"
"$py" - "$tmp" <<'PY'
import sys, numpy as np
d = sys.argv[1]
out = np.load(f"{d}/blk_exact.npz")["out"]
np.savez(f"{d}/blk_f32.npz", out=out.astype(np.float32))
np.savez(f"{d}/blk_scaled.npz", out=(out * 1.5).astype(np.float32))
np.savez(f"{d}/blk_nan.npz", out=np.full_like(out, np.nan, dtype=np.float32))
one = out.astype(np.float32).copy()
one.flat[np.argmax(np.abs(one))] *= np.float32(1.01)
np.savez(f"{d}/blk_one.npz", out=one)
PY
expect 0 'verdict: PASS' -- "$ts" diff mamba.block --inputs "$tmp/blk.npz" --outputs "$tmp/blk_f32.npz"
for bad in scaled nan one; do
  expect 1 'verdict: FAIL' -- "$ts" diff mamba.block --inputs "$tmp/blk.npz" --outputs "$tmp/blk_$bad.npz"
done

# INCONCLUSIVE (exit 3): a selective scan whose B u overflows float32 in an intermediate, while
# the output (C ~ 1e-30) is finite: the any-order bound has no finite value there, so a finite
# answer is unjudged, never PASS; the JSON says how many elements and where.
expect 0 'wrote' -- "$ts" generate mamba.selective_scan --size tiny --output "$tmp/ovf.npz"
"$py" - "$tmp" <<'PY'
import sys, numpy as np
d = sys.argv[1]
a = dict(np.load(f"{d}/ovf.npz"))
a["B"] = (a["B"] * np.float32(1e30)).astype(np.float32)
a["C"] = (a["C"] * np.float32(1e-30)).astype(np.float32)
a["u"] = (a["u"] * np.float32(1e10)).astype(np.float32)
np.savez(f"{d}/ovf.npz", **a)
PY
expect 0 'wrote' -- "$ts" eval mamba.selective_scan --inputs "$tmp/ovf.npz" --output "$tmp/ovf_exact.npz"
"$py" -c "import sys, numpy as np; d=sys.argv[1]; e=np.load(d+'/ovf_exact.npz'); np.savez(d+'/ovf_f32.npz', out=e['out'].astype(np.float32))" "$tmp"
expect 3 'verdict: INCONCLUSIVE' -- "$ts" diff mamba.selective_scan --inputs "$tmp/ovf.npz" \
  --outputs "$tmp/ovf_f32.npz" --json "$tmp/ovf.json"
expect 0 '"unjudged": [1-9]' -- cat "$tmp/ovf.json"
expect 0 '"first_unjudged_index"' -- cat "$tmp/ovf.json"

# An entry whose bound rests on one order says so, in the text and the JSON.
expect 0 'wrote' -- "$ts" generate s4.cauchy_backward --size tiny --format float64 --output "$tmp/cb.npz"
expect 0 'wrote' -- "$ts" eval s4.cauchy_backward --inputs "$tmp/cb.npz" --output "$tmp/cb_exact.npz"
expect 0 'ASSUMING ONE ORDER' -- "$ts" diff s4.cauchy_backward --inputs "$tmp/cb.npz" \
  --outputs "$tmp/cb_exact.npz" --json "$tmp/cb.json"
expect 0 '"any_order": false' -- cat "$tmp/cb.json"
expect 0 'any association order' -- "$ts" diff mamba.selective_scan --inputs "$data/scan_inputs.npz" \
  --outputs "$data/scan_peer_outputs_f32.npz"

# check: one size, JSON written, exit 0.
expect 0 'PASS' -- "$ts" check mamba.selective_scan --size tiny --json "$tmp/check.json" --html "$tmp/check.html"
expect 0 '"pass": true' -- cat "$tmp/check.json"
# the HTML page: summary, version, machine, the link to the spec section, a PASS colour
expect 0 'class="count PASS">[1-9][0-9]* PASS' -- cat "$tmp/check.html"
expect 0 '<th>version</th><td>[0-9]+\.[0-9]+\.[0-9]+' -- cat "$tmp/check.html"
expect 0 '<th>machine</th><td>Linux' -- cat "$tmp/check.html"
expect 0 'href="spec-html/mamba\.html#MAMBA-SCAN-DEF"' -- cat "$tmp/check.html"
expect 0 '<tr class="row-PASS">' -- cat "$tmp/check.html"
expect 0 'PASS' -- "$ts" check mamba.selective_scan --size tiny --backend cpu-f64 \
  --html "$tmp/check2.html" --spec-url https://example.org/spec/
expect 0 'href="https://example\.org/spec/mamba\.html#MAMBA-SCAN-DEF"' -- cat "$tmp/check2.html"

# list ALGO: one entry, its meanings, options and sizes; an unknown name is invalid input
expect 0 'options \(--option NAME=VALUE\)' -- "$ts" list mamba.selective_scan
expect 0 'delta_softplus +default' -- "$ts" list mamba.selective_scan
expect 0 'bench size: yes' -- "$ts" list mamba.selective_scan
out=$("$ts" list mamba.selective_scan)
if grep -q '^mamba.block$' <<<"$out"; then echo "FAIL: list ALGO shows other entries"; failures=$((failures + 1)); fi
expect 2 'no-such-algo' -- "$ts" list no-such-algo

# bench with no algorithm: entries without the size are skipped with a line, the others timed
# (--size tiny --repeats 1: the same path as the default `bench` size, in seconds)
expect 0 'skipped: no .tiny. size' -- "$ts" bench --size tiny --repeats 1 --backend cpu-f64
expect 0 'mamba\.selective_scan +cpu-f64 +[0-9.]+ +[0-9.]+' -- "$ts" bench --size tiny --repeats 1 --backend cpu-f64
# a named entry without the size is invalid input naming --size
expect 2 '--size' -- "$ts" bench mamba.selective_scan --size enormous
expect 2 'size' -- "$ts" check mamba.selective_scan --size enormous

# covers: CORE-DIFF-FORMATS CORE-DIFF-SUSPECT
# Per-output formats: out rounded to bfloat16 beside a float32 last_state, as a bfloat16 kernel
# returns them. Named per output, it passes; judged all as float32, out fails and the report says
# every value of out is a bfloat16 value. float64 outputs show 17 digits.
expect 0 'wrote' -- "$ts" generate mamba.selective_scan --size small --output "$tmp/mix.npz"
expect 0 'wrote' -- "$ts" eval mamba.selective_scan --inputs "$tmp/mix.npz" --output "$tmp/mix_exact.npz"
"$py" - "$tmp" <<'PY'
import sys, numpy as np, torch
d = sys.argv[1]
e = np.load(f"{d}/mix_exact.npz")
out = torch.from_numpy(e["out"]).to(torch.bfloat16).to(torch.float32).numpy()
np.savez(f"{d}/mix_bf16.npz", out=out, last_state=e["last_state"].astype(np.float32))
np.savez(f"{d}/mix_f64.npz", out=e["out"].astype(np.float32), last_state=e["last_state"] * (1 + 2.0**-40))
biased = (e["out"] * (1 + 2.0**-20)).astype(np.float32)
np.savez(f"{d}/mix_biased.npz", out=biased)
PY
expect 0 'out \(bfloat16\): .*within bound' -- "$ts" diff mamba.selective_scan --inputs "$tmp/mix.npz" \
  --outputs "$tmp/mix_bf16.npz" --format out=bfloat16,last_state=float32
expect 1 "every value of 'out' is a bfloat16 value.*--format out=bfloat16" -- "$ts" diff mamba.selective_scan \
  --inputs "$tmp/mix.npz" --outputs "$tmp/mix_bf16.npz"
expect 2 "format: names 'outt', which is not among their outputs" -- "$ts" diff mamba.selective_scan \
  --inputs "$tmp/mix.npz" --outputs "$tmp/mix_bf16.npz" --format outt=bfloat16
# Mixed dtypes, no --format: each output in its own dtype (last_state float64, 2^-40 off: FAIL).
expect 1 'last_state \(float64\): .*OUTSIDE BOUND' -- "$ts" diff mamba.selective_scan --inputs "$tmp/mix.npz" \
  --outputs "$tmp/mix_f64.npz"
expect 1 'theirs [-]?[0-9]\.[0-9]{16,}(e[-+][0-9]+)?, exact [-]?[0-9]\.[0-9]{16,}' -- "$ts" diff mamba.selective_scan \
  --inputs "$tmp/mix.npz" --outputs "$tmp/mix_f64.npz"
# SUSPECT: the oracle times 1 + 2^-20 is within the bound, and SUSPECT; exit 0, 4 with --strict.
expect 0 'SUSPECT out: its signed errors lean one way' -- "$ts" diff mamba.selective_scan \
  --inputs "$tmp/mix.npz" --outputs "$tmp/mix_biased.npz"
expect 0 'verdict: PASS, SUSPECT' -- "$ts" diff mamba.selective_scan \
  --inputs "$tmp/mix.npz" --outputs "$tmp/mix_biased.npz"
expect 4 'verdict: PASS, SUSPECT' -- "$ts" diff mamba.selective_scan --inputs "$tmp/mix.npz" \
  --outputs "$tmp/mix_biased.npz" --strict
expect 0 'verdict: PASS, SUSPECT' -- "$ts" diff mamba.selective_scan --inputs "$tmp/mix.npz" \
  --outputs "$tmp/mix_biased.npz" --json "$tmp/biased.json"
expect 0 '"bias": true' -- cat "$tmp/biased.json"
expect 0 '"suspect": true' -- cat "$tmp/biased.json"
# The correctly rounded answer: not SUSPECT, --strict exits 0.
"$py" -c "import sys, numpy as np; d=sys.argv[1]; e=np.load(d+'/mix_exact.npz'); np.savez(d+'/mix_f32.npz', out=e['out'].astype(np.float32))" "$tmp"
expect 0 'verdict: PASS$' -- "$ts" diff mamba.selective_scan --inputs "$tmp/mix.npz" \
  --outputs "$tmp/mix_f32.npz" --strict

if [[ $failures -ne 0 ]]; then
  echo "$failures CLI check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
