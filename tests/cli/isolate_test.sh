#!/usr/bin/env bash
# --isolate: plugins that segfault, abort or hang are reported CRASHED / TIMEOUT, the other
# backends and configs still run, and the exit code says something failed.
# Usage: isolate_test.sh ATTNBENCH_CLI TEST_PLUGIN_DIR
set -u
cli=$1
dir=$2
# The table is read from stdout alone: a crashing worker's own stderr (ASan's DEADLYSIGNAL
# report under the sanitizer build) is inherited and written at any moment, and merged into the
# same capture it once split a row ("AddressSanitizerPASS  mutant-abort ...").
err=$(mktemp)
trap 'rm -f "$err"' EXIT
out=$("$cli" validate --isolate --timeout 5 --plugin "$dir/mutant-segv.so" --plugin "$dir/mutant-hang.so" \
  --plugin "$dir/mutant-abort.so" --backends mutant-segv,naive,mutant-hang,mutant-abort \
  --variant mha --seq-len 3,17,20 --heads 1 --batch 1 --dropout 0 --qkv-bias 0 2>"$err")
rc=$?
echo "$out"
cat "$err"
fail() { echo "FAIL: $*"; exit 1; }
[ $rc -eq 1 ] || fail "exit code $rc, want 1"
[ "$(grep -c '^CRASHED' <<<"$out")" -eq 4 ] || fail "want 4 CRASHED rows (segv, abort at T=17,20)"
[ "$(grep -c '^TIMEOUT' <<<"$out")" -eq 2 ] || fail "want 2 TIMEOUT rows (hang at T=17,20)"
grep -q "killed by SIGSEGV\|exited with code" <<<"$out" || fail "no crash reason"
[ "$(grep -c '^PASS        naive' <<<"$out")" -eq 3 ] || fail "naive must PASS on every config"
[ "$(grep -c '^PASS        mutant' <<<"$out")" -eq 3 ] || fail "the mutants pass T=3"
echo ok
