#!/usr/bin/env bash
# The peers runner's round-by-round protocol (run_peers.py --paced FD, driven as attnbench bench
# drives it, over a socketpair): `prepare K`, `rep K` per round, `finish K` beside `run K`; each
# answer in order; the rows' repetitions are the rounds taken; a FAIL peer is not timed; a peer
# that raises in a round is an ERROR row, not a crash; a prepared config that is never finished
# is written as ERROR; commands out of order are bad input (exit 2). Uses the numpy test peers
# (ATTNBENCH_PEERS_TESTING=1) with the system python, so it needs no framework.
#   peers_rounds_test.sh ATTNBENCH SOURCE_DIR
set -u
cli=$1; src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
sys_py=/usr/bin/python3

# Six configs, every one with a score scale and several keys, so numpy-noscale FAILs on each.
"$cli" peers-manifest --variant causal --seq-len 17,5,9 --heads 1,2 --d-in 12 --d-out 12 --threads 1 \
  --out "$tmp/manifest" >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "peers-manifest"; }

# A peer whose calls raise from the first repetition on (the check and the warm-up pass).
cat >"$tmp/flaky_runner.py" <<'PY'
import sys
sys.path.insert(0, sys.argv.pop(1))
import run_peers  # noqa: E402
import testing_peers  # noqa: E402


class FlakyPeer(testing_peers.NumpyF32Peer):
    name = "numpy-flaky"

    @classmethod
    def prepare(cls, p, x, w, threads):
        run, calls = super().prepare(p, x, w, threads), [0]

        def call():
            calls[0] += 1
            if calls[0] > 2:
                raise RuntimeError("flaky peer")
            return run()
        return call


run_peers.PEERS[FlakyPeer.name] = FlakyPeer
sys.exit(run_peers.main())
PY

"$sys_py" - "$src" "$tmp" <<'PY' || fail "see above"
import csv, json, os, socket, subprocess, sys

src, tmp = sys.argv[1:3]
manifest = os.path.join(tmp, "manifest", "manifest.json")
configs = json.load(open(manifest))["configs"]
assert len(configs) == 6, len(configs)
NOT_FINISHED = "not finished: the bench stopped before its rounds ended"
errors = []


def check(cond, what):
    if not cond:
        errors.append(what)
        print("FAIL:", what)


def session(name, commands, peers="numpy-f32,numpy-noscale", reps=2, flaky=False):
    """Starts the runner paced on a socketpair (its stdin and --paced FD, as the bench does),
    sends each command once the answer to the one before has come, then closes its stdin.
    Returns (answers, exit code, stderr, rows of its summary.csv)."""
    out = os.path.join(tmp, name)
    ours, theirs = socket.socketpair()
    ours.settimeout(120)
    runner = ([os.path.join(tmp, "flaky_runner.py"), os.path.join(src, "peers")] if flaky
              else [os.path.join(src, "peers", "run_peers.py")])
    proc = subprocess.Popen(
        [sys.executable] + runner + ["--manifest", manifest, "--peers", peers, "--repetitions", str(reps),
                                     "--min-time", "0.002", "--out", out, "--paced", str(theirs.fileno())],
        stdin=theirs, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=(theirs.fileno(),), text=True,
        env=dict(os.environ, ATTNBENCH_PEERS_TESTING="1"))
    theirs.close()
    replies = ours.makefile("r")
    answers = [replies.readline().strip()]
    for c in commands:
        try:
            ours.sendall((c + "\n").encode())
        except OSError:  # it exited after a bad command
            break
        if c != "end":
            line = replies.readline().strip()
            if not line:
                break
            answers.append(line)
    ours.shutdown(socket.SHUT_WR)
    err = proc.stderr.read()
    rc = proc.wait()
    path = os.path.join(out, "summary.csv")
    rows = list(csv.DictReader(open(path))) if os.path.exists(path) else None
    return answers, rc, err, rows


def row(rows, k, peer):
    name = configs[k]["name"].replace("{backend}", "peer-" + peer)
    got = [r for r in rows if r["name"] == name]
    assert len(got) == 1, (name, [r["name"] for r in rows])
    return got[0]


# 1. rounds on config 0, then a sequential `run 1`.
answers, rc, err, rows = session("rounds", ["prepare 0", "rep 0", "rep 0", "rep 0", "finish 0", "run 1", "end"])
check(answers == ["ready", "prepared 0", "rep 0", "rep 0", "rep 0", "done 0", "done 1"], f"answers {answers}")
check(rc == 1, f"a FAIL peer: exit {rc}, want 1 ({err})")
check([(r["name"].split("/")[0], r["status"]) for r in rows] ==
      [("peer-numpy-f32", "PASS"), ("peer-numpy-noscale", "FAIL")] * 2, "rows or their order")
r = row(rows, 0, "numpy-f32")
med, mn, mean = float(r["median_s"]), float(r["min_s"]), float(r["mean_s"])
check(r["status"] == "PASS" and r["repetitions"] == "3", f"rounds: {r['status']}, {r['repetitions']} repetitions, want 3")
check(0 < mn <= med < 1.0 and mn <= mean and int(r["iterations"]) >= 1, f"rounds: min {mn}, median {med}, mean {mean}")
check(abs(float(r["gflops"]) - float(r["flops"]) / med / 1e9) < 1e-6 * float(r["gflops"]), "gflops not from the median")
r = row(rows, 0, "numpy-noscale")
check(r["status"] == "FAIL" and float(r["median_s"]) == 0 and r["repetitions"] == "0", "the FAIL peer was timed")
r = row(rows, 1, "numpy-f32")
check(r["status"] == "PASS" and r["repetitions"] == "2", f"run: {r['status']}, {r['repetitions']} repetitions, want 2")

# 2. commands out of order are bad input: exit 2, the message says why.
for name, commands, message in [
        ("rep-first", ["rep 5"], "`rep 5` without `prepare 5`"),
        ("finish-first", ["finish 0"], "`finish 0` without `prepare 0`"),
        ("prepare-twice", ["prepare 0", "prepare 0"], "config 0 was started already"),
        ("prepare-after-run", ["run 0", "prepare 0"], "config 0 was started already"),
        ("rep-after-finish", ["prepare 0", "rep 0", "finish 0", "rep 0"], "`rep 0` without `prepare 0`"),
        ("out-of-range", ["prepare 6"], "(K < 6)")]:
    answers, rc, err, rows = session(name, commands)
    check(rc == 2, f"{name}: exit {rc}, want 2 ({err})")
    check(message in err, f"{name}: message {err!r}")
answers, rc, err, rows = session("prepare-after-run", ["run 0", "prepare 0"])
check(rows is not None and len(rows) == 2, "the rows of a config run before a bad command were lost")

# 3. a prepared config not finished at `end` (or before a bad line): its rows as they are, the
# timed peer ERROR with the reason; the config finished before it is intact.
for name, commands in [("unfinished", ["prepare 0", "rep 0", "finish 0", "prepare 2", "rep 2", "end"]),
                       ("unfinished-bad", ["prepare 0", "rep 0", "finish 0", "prepare 2", "rep 2", "bogus"])]:
    answers, rc, err, rows = session(name, commands)
    check(rc == (1 if name == "unfinished" else 2), f"{name}: exit {rc} ({err})")
    check(rows is not None and len(rows) == 4, f"{name}: rows {rows and len(rows)}, want 4")
    if rows:
        r = row(rows, 2, "numpy-f32")
        check(r["status"] == "ERROR" and r["reason"] == NOT_FINISHED, f"{name}: {r['status']}: {r['reason']}")
        check(row(rows, 2, "numpy-noscale")["status"] == "FAIL", f"{name}: the FAIL verdict was lost")
        r = row(rows, 0, "numpy-f32")
        check(r["status"] == "PASS" and r["repetitions"] == "1", f"{name}: config 0 {r['status']}, {r['repetitions']}")

# 4. finished before any round: the timed peer is an ERROR row, not a crash.
answers, rc, err, rows = session("no-rounds", ["prepare 0", "finish 0", "end"], peers="numpy-f32")
check(answers == ["ready", "prepared 0", "done 0"] and rc == 1, f"no rounds: {answers}, exit {rc} ({err})")
check(rows and rows[0]["status"] == "ERROR" and "before any repetition" in rows[0]["reason"], "no rounds: row")

# 5. a peer that raises in a round leaves the rounds as an ERROR row; the others go on.
answers, rc, err, rows = session("flaky", ["prepare 0", "rep 0", "rep 0", "finish 0", "run 1", "end"],
                                 peers="numpy-f32,numpy-flaky", flaky=True)
check(answers == ["ready", "prepared 0", "rep 0", "rep 0", "done 0", "done 1"], f"flaky: answers {answers} ({err})")
check(rc == 1, f"flaky: exit {rc}, want 1")
if rows:
    for k in (0, 1):
        r = row(rows, k, "numpy-flaky")
        check(r["status"] == "ERROR" and r["reason"] == "timing: RuntimeError: flaky peer",
              f"flaky config {k}: {r['status']}: {r['reason']}")
    check(row(rows, 0, "numpy-f32")["repetitions"] == "2", "flaky: numpy-f32 lost rounds")
sys.exit(1 if errors else 0)
PY
echo "OK"
