#!/bin/bash
# report.html in a real headless browser (Debian's chromium, no network): it renders, its tables
# and figures are in the DOM, and the console shows no error.
# Usage: report_html_browser_test.sh ATTNBENCH_CLI SAMPLE_RUN_DIR
set -u
cli=$1
sample=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "SKIPPED: no chromium (scripts/setup installs Debian's chromium)"
  exit 77
fi
if ! "${ATTNBENCH_PYTHON:-/usr/bin/python3}" -c "import matplotlib" 2>/dev/null; then
  echo "SKIPPED: /usr/bin/python3 has no matplotlib (scripts/setup installs python3-matplotlib)"
  exit 77
fi
cp -r "$sample" "$tmp/run"
"$cli" plot "$tmp/run" >"$tmp/plot.log" 2>&1 || { cat "$tmp/plot.log"; fail "plot exited $?"; }
html=$tmp/run/report.html
[ -s "$html" ] || fail "no report.html"
svgs=$(ls "$tmp/run/plots/"*.svg | wc -l)

# A private profile; no network at all (--proxy-server to a closed port would catch a fetch too).
flags=(--headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$tmp/profile"
       --proxy-server=127.0.0.1:9 --virtual-time-budget=2000)
timeout 120 "$browser" "${flags[@]}" --enable-logging=stderr --v=0 --dump-dom "file://$html" \
  >"$tmp/dom.html" 2>"$tmp/console.log" || { tail -20 "$tmp/console.log"; fail "chromium exited $?"; }
[ -s "$tmp/dom.html" ] || { tail -20 "$tmp/console.log"; fail "chromium dumped no DOM"; }
grep -q "<h1>attnbench report: run</h1>" "$tmp/dom.html" || fail "the title did not render"
tables=$(grep -o "<table>" "$tmp/dom.html" | wc -l)
[ "$tables" -ge 3 ] || fail "expected >= 3 tables (machine, peaks, cells), the DOM has $tables"
for id in machine peaks peers plots cells failures; do
  grep -q "<h2 id=\"$id\">" "$tmp/dom.html" || fail "section '$id' missing from the DOM"
done
grep -q "<td>PASS</td>" "$tmp/dom.html" || fail "the cells table has no PASS row"
figures=$(grep -o "<figure id=\"fig-" "$tmp/dom.html" | wc -l)
[ "$figures" -eq "$svgs" ] || fail "expected $svgs figures, the DOM has $figures"
inline=$(grep -o "<svg[ >]" "$tmp/dom.html" | wc -l)
[ "$inline" -ge "$svgs" ] || fail "the figures' SVGs are not inline ($inline < $svgs)"
# Console messages are logged as ":INFO:CONSOLE:<line>] "<text>""; the page has no script, so any
# console message (an uncaught error, a console.error) or a failed load (net::ERR_) is a failure.
if grep -E ":CONSOLE|net::ERR_|Failed to load" "$tmp/console.log"; then
  fail "console errors while rendering report.html"
fi
# A screenshot renders the page for real (layout and paint, not just the parse).
timeout 120 "$browser" "${flags[@]}" --window-size=1280,2000 --screenshot="$tmp/shot.png" "file://$html" \
  >/dev/null 2>&1 || fail "chromium --screenshot exited $?"
[ -s "$tmp/shot.png" ] || fail "no screenshot"
echo "PASS: report.html renders in $("$browser" --version 2>/dev/null | head -1): $tables tables, $figures figures, no console error"
