#!/usr/bin/env bash
# check.sh -- build every Coq proof of touchstone and check that nothing is
# assumed outside theories/Assumptions.v.  Works from any cwd.
#
#  1. make -C <this dir>   (coq_makefile build of every theories/*.v)
#  2. reject Admitted / admit / Axiom(s) / Parameter(s) / Conjecture anywhere,
#     and Hypothesis / Hypotheses / Variable(s) / Context outside Sections
#     (there they silently become axioms), in every theories/*.v except
#     theories/Assumptions.v; comments and strings are ignored.
#  3. list every "(* proves: <spec id> *)" tag with the theorem that follows it,
#     and fail if a required spec ID has no tagged theorem.
#  4. Print Assumptions of every tagged theorem (a coqchk-free sanity check):
#     print the axioms used, fail if one comes from Touchstone other than
#     Touchstone.Assumptions.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
THEORIES="$HERE/theories"
JOBS="${JOBS:-2}"

# Spec IDs that must each have at least one tagged, proved theorem.
REQUIRED_IDS="MAMBA-SCAN-OP-ASSOC MAMBA-SCAN-CHUNKED CORE-ROUND-MODEL
CORE-ROUND-MUL CORE-ROUND-FMA CORE-TRACKED-ADD MAMBA-SCAN-BOUND-STATE MAMBA-SCAN-BOUND-DOT
S4-ID-BILINEAR-DISK S4-ID-GEN-TRUNC S4-ID-WOODBURY S4-ID-DFT-INV S4-ID-CAUCHY-BOUND
CORE-TRACKED-CADD CORE-TRACKED-CMUL CORE-TRACKED-CDIV CORE-TRACKED-SUM CORE-TRACKED-CSUM
PERF-ID-CAUSAL PERF-ID-REASSOC PERF-ID-SUBTRACT PERF-ID-SLICES PERF-ID-POSITIVE
ORTH-HH-PROPS ORTH-CWY-ORTH ORTH-CWY-EQ-HH ORTH-TCWY-STIEFEL ORTH-GIVENS-COMMUTE
BILEVEL-UFOM-UNBIASED BILEVEL-UFOM-MOMENT BILEVEL-QUAD-CLOSED BILEVEL-RECOMPUTE BILEVEL-FOM-BIAS"

echo "== build (make -C $HERE, -j$JOBS)"
make -C "$HERE" -j"$JOBS" || { echo "check.sh: FAILED (build)"; exit 1; }

fail=0

# --- 2. forbidden commands ----------------------------------------------
# The awk program removes (nested) comments and strings, keeping line
# numbers, tracks Section/Module nesting, and prints file:line: message.
SCAN_AWK='
function strip(line,    out, i, ch, nx) {
  out = ""
  for (i = 1; i <= length(line); i++) {
    ch = substr(line, i, 1); nx = substr(line, i + 1, 1)
    if (instr) { if (ch == "\"") instr = 0; out = out " "; continue }
    if (depth > 0) {
      if (ch == "(" && nx == "*") { depth++; i++ }
      else if (ch == "*" && nx == ")") { depth--; i++ }
      out = out " "; continue
    }
    if (ch == "(" && nx == "*") { depth = 1; i++; out = out " "; continue }
    if (ch == "\"") { instr = 1; out = out " "; continue }
    out = out ch
  }
  return out
}
function has(code, word) {
  return code ~ ("(^|[^A-Za-z0-9_'"'"'.])" word "([^A-Za-z0-9_'"'"']|$)")
}
FNR == 1 { depth = 0; instr = 0; sp = 0; nsec = 0 }
{
  code = strip($0)
  if (match(code, /^[ \t]*Section[ \t]+[A-Za-z_][A-Za-z0-9_'"'"']*/)) {
    n = code; sub(/^[ \t]*Section[ \t]+/, "", n); sub(/[^A-Za-z0-9_'"'"'].*$/, "", n)
    stk[++sp] = "S " n; nsec++
  } else if (code ~ /^[ \t]*Module[ \t]/ && code !~ /:=/) {
    n = code; sub(/^[ \t]*Module[ \t]+(Type[ \t]+)?/, "", n); sub(/[^A-Za-z0-9_'"'"'].*$/, "", n)
    stk[++sp] = "M " n
  } else if (match(code, /^[ \t]*End[ \t]+[A-Za-z_][A-Za-z0-9_'"'"']*/)) {
    if (sp > 0) { if (stk[sp] ~ /^S /) nsec--; sp-- }
  }
  split("Admitted admit Axiom Axioms Parameter Parameters Conjecture", always, " ")
  for (k in always) if (has(code, always[k]))
    printf "%s:%d: forbidden \"%s\"\n", FILENAME, FNR, always[k]
  if (nsec == 0) {
    split("Hypothesis Hypotheses Variable Variables Context", top, " ")
    for (k in top) if (has(code, top[k]) && code ~ ("^[ \t]*((Local|Global)[ \t]+)?" top[k]))
      printf "%s:%d: \"%s\" outside a Section (acts as an axiom)\n", FILENAME, FNR, top[k]
  }
}'

echo "== assumption scan (everything except theories/Assumptions.v)"
mapfile -t VS < <(find "$THEORIES" -name '*.v' ! -path "$THEORIES/Assumptions.v" | sort)
bad="$(cd "$HERE" && awk "$SCAN_AWK" "${VS[@]/#$HERE\//}")"
if [ -n "$bad" ]; then
  echo "$bad"
  echo "FAIL: unproved assumptions outside theories/Assumptions.v"
  fail=1
else
  echo "ok: no Admitted/admit/Axiom/Parameter/Conjecture/top-level Hypothesis"
fi
if [ -f "$THEORIES/Assumptions.v" ]; then
  nass="$(cd "$HERE" && awk "$SCAN_AWK" theories/Assumptions.v | wc -l)"
  echo "theories/Assumptions.v declares $nass named assumption(s)"
else
  echo "FAIL: theories/Assumptions.v is missing"; fail=1
fi

# --- 3. proves: tags -------------------------------------------------------
echo "== proves: tags"
# Output lines: ID<TAB>Module.name<TAB>file:line
TAGS="$(cd "$HERE" && awk '
  # (POSIX awk: no ENDFILE, so a dangling tag is reported at the next file)
  FNR == 1 {
    if (pending != "") printf "UNATTACHED\t%s\t%s\n", pending, ploc
    pending = ""; mod = FILENAME; sub(/^.*\//, "", mod); sub(/\.v$/, "", mod)
  }
  {
    line = $0
    while (match(line, /proves: [A-Z0-9-]+/)) {
      id = substr(line, RSTART + 8, RLENGTH - 8)
      pending = pending (pending == "" ? "" : " ") id; ploc = FILENAME ":" FNR
      line = substr(line, RSTART + RLENGTH)
    }
    if (pending != "" && match($0, /^[ \t]*(Theorem|Lemma|Corollary|Proposition|Fact|Remark)[ \t]+[A-Za-z_][A-Za-z0-9_'"'"']*/)) {
      n = substr($0, RSTART, RLENGTH); sub(/^[ \t]*[A-Za-z]+[ \t]+/, "", n)
      k = split(pending, ids, " ")
      for (j = 1; j <= k; j++) printf "%s\t%s.%s\t%s\n", ids[j], mod, n, ploc
      pending = ""
    }
  }
  END { if (pending != "") printf "UNATTACHED\t%s\t%s\n", pending, ploc }
' theories/*.v)"
printf '%s\n' "$TAGS" | awk -F'\t' '{ printf "  %-24s %-40s %s\n", $1, $2, $3 }'
if printf '%s\n' "$TAGS" | grep -q '^UNATTACHED'; then
  echo "FAIL: a proves: tag is not followed by a Theorem/Lemma/Corollary"; fail=1
fi
for id in $REQUIRED_IDS; do
  if ! printf '%s\n' "$TAGS" | cut -f1 | grep -qx "$id"; then
    echo "FAIL: no theorem tagged proves: $id"; fail=1
  fi
done

# --- 4. Print Assumptions ---------------------------------------------------
echo "== Print Assumptions of tagged theorems"
NAMES="$(printf '%s\n' "$TAGS" | grep -v '^UNATTACHED' | cut -f2 | sort -u | tr '\n' ' ')"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
{
  for m in $(printf '%s\n' "$TAGS" | grep -v '^UNATTACHED' | cut -f2 | sed 's/\.[^.]*$//' | sort -u); do
    echo "From Touchstone Require $m."
  done
  for n in $NAMES; do echo "Print Assumptions Touchstone.$n."; done
} > "$TMP/PA.v"
PA="$(cd "$TMP" && coqc -R "$THEORIES" Touchstone PA.v 2>&1)" || {
  echo "$PA"; echo "FAIL: Print Assumptions could not run"; exit 1; }
# Each theorem's answer starts with "Axioms:" or "Closed under the global
# context"; an axiom is a line starting in column 0 with "name :" or "name".
printf '%s\n' "$PA" | awk -v names="$NAMES" '
  BEGIN { nn = split(names, nm, " ") }
  /^Axioms:/ { flush(); b++; next }
  /^Closed under the global context/ { flush(); b++; closed = 1; next }
  /^[A-Za-z_][A-Za-z0-9_.'"'"']*( :|$)/ { n = $1; ax = ax (ax == "" ? "" : ", ") n }
  function flush() {
    if (b > 0) printf "  %-40s %s\n", nm[b], (closed ? "closed (no axioms)" : "axioms: " ax)
    ax = ""; closed = 0
  }
  END { flush() }'
AX="$(printf '%s\n' "$PA" | grep -E '^[A-Za-z_][A-Za-z0-9_.'"'"']*( :|$)' | sed 's/ :.*//' | sort -u)"
# Axioms are printed by their shortest name, so match our module names too.
MODS="$(cd "$THEORIES" && ls *.v | sed 's/\.v$//' | grep -vx Assumptions | tr '\n' '|')"
if printf '%s\n' "$AX" | grep -E "^(Touchstone\.)?(${MODS%|})\." >/dev/null; then
  echo "FAIL: an axiom from Touchstone outside Assumptions.v is used"; fail=1
fi

if [ "$fail" -ne 0 ]; then echo "check.sh: FAILED"; exit 1; fi
echo "check.sh: all proofs built, no unlisted assumptions"
