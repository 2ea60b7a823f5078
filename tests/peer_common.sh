# What the peer tests (tests/*/*_peer_test.sh) share, sourced by them: `expect VERDICT ENTRY INPUTS
# OUTPUTS WHAT` runs `touchstone diff` (the binary in $ts) and checks its verdict, printing one line
# either way and setting fail=1 when the verdict is not the expected one.
fail=0
expect() {
  local want=$1 entry=$2 in=$3 out=$4 what=$5 report
  report=$("$ts" diff "$entry" --inputs "$in" --outputs "$out")
  local rc=$?
  if ! grep -q "verdict: $want" <<<"$report"; then
    echo "FAIL: $what: expected $want (diff exit $rc)"; echo "$report"; fail=1
  else
    echo "ok: $what: $want ($(grep -o 'err/bound max [0-9.e+-]*' <<<"$report" | head -1))"
  fi
}
