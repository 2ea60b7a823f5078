# What the peer tests (tests/*/*_peer_test.sh) share, sourced by them after setting $ts (the
# touchstone binary): a scratch directory $work removed on exit; `peer_venv_python ROOT`, the python
# of the peers' venv (scripts/peer_venv.sh), or status 77 (skipped) with the reason when it cannot be
# made; `expect VERDICT ENTRY INPUTS OUTPUTS WHAT`, which runs `touchstone diff` and checks its
# verdict, printing one line either way and setting fail=1 when the verdict is not the expected one.
fail=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
peer_venv_python() {
  "$1/scripts/peer_venv.sh" || { local rc=$?; [ $rc -eq 77 ] && echo "skipped: peer venv unavailable" >&2; return $rc; }
}
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
