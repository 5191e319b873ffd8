#!/usr/bin/env bash
# tests/study/test_study_resume.sh WATTSCALE - `wattscale study run`, killed with SIGKILL at
# several moments (mid-run after a checkpoint, just after a run finished, at start-up),
# resumes each time and ends with exactly the planned runs: every run done once, none lost,
# none repeated (a finished run's record is never rewritten), the interrupted one continued
# from its checkpoint, no process left behind. Exits 77 (skip) without MPI in the build.
set -u
ws=$1
"$ws" --version | grep -q '^mpi *yes' || { echo "skip: no MPI in this build"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; for f in "$tmp"/run*.log; do echo "--- $f" >&2; tail -5 "$f" >&2; done; exit 1; }
cat > "$tmp/s.yaml" <<EOF2
study: resume
database: $tmp/s.db
runs_dir: $tmp/runs
model: {name: resnet18, width: 4}
data: {spec: synthetic, synthetic_shape: 3x16x16, synthetic_classes: 5, synthetic_count: 512}
stopping: {epochs: 3}
optimizer: {lr: 0.1, warmup_epochs: 0, schedule: constant}
repetitions: 2
series:
  - {name: g, scaling: constant_gbs, global_batch: 32, gpus: [1, 2]}
  - {name: l, scaling: constant_lbs, local_batch: 16, gpus: [1, 2]}
launcher: {type: local, cpu_threads: 1}   # one thread per rank: no OpenMP spinning on a busy machine
EOF2
planned=6

# run records that say completed: "KEY SHA" lines
completed() {
  for d in "$tmp"/runs/*/; do
    [ -f "$d/run.json" ] && grep -q '"status":[[:space:]]*"completed"' "$d/run.json" &&
      echo "$(basename "$d") $(sha1sum < "$d/run.json" | cut -c1-40)"
  done 2>/dev/null | sort
}
# a run that has a checkpoint but is still running
interrupted_candidate() {
  for d in "$tmp"/runs/*/; do
    [ -f "$d/checkpoint.wstf" ] && [ -f "$d/run.json" ] && grep -q '"status":[[:space:]]*"running"' "$d/run.json" &&
      { basename "$d"; return 0; }
  done 2>/dev/null
  return 1
}
wait_for() { # wait_for SECONDS COMMAND...: poll every 50 ms
  local until=$(( $(date +%s%N) + $1 * 1000000000 )); shift
  while [ "$(date +%s%N)" -lt "$until" ]; do "$@" >/dev/null && return 0; sleep 0.05; done
  return 1
}

start() { "$ws" study run "$tmp/s.yaml" >"$tmp/run$1.log" 2>&1 & pid=$!; }
snapshot() { completed > "$tmp/done$1"; }

# 1. killed in the middle of a run, after its first checkpoint
start 1
wait_for 120 interrupted_candidate || fail "no run reached a checkpoint"
victim=$(interrupted_candidate)
kill -9 "$pid"; wait "$pid" 2>/dev/null
snapshot 1
echo "kill 1: mid-run in $victim, $(wc -l < "$tmp/done1") run(s) finished before"

# 2. killed right after one more run finished (between its record and the next start, or
#    during the ingest: both must be recovered)
start 2
n1=$(wc -l < "$tmp/done1")
more_done() { [ "$(completed | wc -l)" -gt "$n1" ]; }
wait_for 120 more_done || fail "no run finished after the restart"
kill -9 "$pid"; wait "$pid" 2>/dev/null
snapshot 2
echo "kill 2: just after a run finished, $(wc -l < "$tmp/done2") finished before"

# 3. killed at start-up (while it may still wait for the processes the last one left)
start 3
sleep 0.2
kill -9 "$pid"; wait "$pid" 2>/dev/null
snapshot 3
echo "kill 3: at start-up"

# 4. to the end
"$ws" study run "$tmp/s.yaml" >"$tmp/run4.log" 2>&1 || fail "the last study run failed"
"$ws" study status "$tmp/s.yaml" > "$tmp/status" 2>&1 || fail "study status failed"
grep -q "study resume: $planned/$planned runs done" "$tmp/status" || fail "not all runs done: $(tail -1 "$tmp/status")"
[ "$(ls -d "$tmp"/runs/*/ | wc -l)" -eq "$planned" ] || fail "run folders: $(ls "$tmp/runs")"
[ "$(completed | wc -l)" -eq "$planned" ] || fail "completed records: $(completed)"

# a run finished before a kill was never run again: its record is byte for byte the same
for k in 1 2 3; do
  while read -r key sha; do
    now=$(sha1sum < "$tmp/runs/$key/run.json" | cut -c1-40)
    [ "$now" = "$sha" ] || fail "$key was finished before kill $k and was run again"
  done < "$tmp/done$k"
done
# the run interrupted after its checkpoint was continued from it, not started over
grep -q '(resumed)' "$tmp/runs/$victim/train.log" || fail "$victim was interrupted after a checkpoint but not resumed"
grep -q '"resumed_times":[[:space:]]*[1-9]' "$tmp/runs/$victim/run.json" || fail "$victim: resumed_times not counted"
# the store holds each planned run once, and running again does nothing
"$ws" study run "$tmp/s.yaml" > "$tmp/run5.log" 2>&1 || fail "a fifth study run failed"
grep -q "$planned planned, $planned done before, 0 run now, 0 failed" "$tmp/run5.log" || fail "$(tail -1 "$tmp/run5.log")"
# nothing left running (the runs of a killed runner got SIGTERM with it)
sleep 0.5
if pgrep -f "$tmp/runs" >/dev/null; then fail "processes left: $(pgrep -af "$tmp/runs")"; fi
echo "study resume: killed 3 times, $planned/$planned runs done once each; $victim resumed from its checkpoint"
