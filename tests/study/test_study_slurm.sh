#!/usr/bin/env bash
# tests/study/test_study_slurm.sh WATTSCALE - the Slurm launcher against fake sbatch, srun,
# sacct and squeue (tests/study/fake-slurm/): job scripts are written with srun and the
# run's resources; `study run --no-wait` submits and returns (exit 4), a second `study run`
# submits nothing again and collects the runs as they finish; sacct's ConsumedEnergy is
# stored beside wattscale's figures; a failed job is resubmitted by the next call; without
# sbatch on PATH the scripts are written for submission by hand. Skips (77) without MPI.
set -u
ws=$1
here=$(cd "$(dirname "$0")" && pwd)
"$ws" --version | grep -q '^mpi *yes' || { echo "skip: no MPI in this build"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; for f in "$tmp"/*.log; do echo "--- $f" >&2; tail -8 "$f" >&2; done; exit 1; }
export FAKE_SLURM_DIR=$tmp/slurm
mkdir -p "$FAKE_SLURM_DIR"
study() { # study NAME: a Slurm study of 3 runs (1 and 2 ranks)
  cat > "$tmp/$1.yaml" <<EOF2
study: $1
database: $tmp/$1.db
runs_dir: $tmp/$1-runs
model: {name: resnet18, width: 4}
data: {spec: synthetic, synthetic_shape: 3x16x16, synthetic_classes: 5, synthetic_count: 256}
stopping: {epochs: 2}
optimizer: {lr: 0.1, warmup_epochs: 0, schedule: constant}
series:
  - {name: g, scaling: constant_gbs, global_batch: 32, gpus: [1, 2]}
  - {name: l, scaling: constant_lbs, local_batch: 16, gpus: [1]}
launcher:
  type: slurm
  gpus_per_node: 4
  cpus_per_task: 1
  time: "00:10:00"
  partition: test
  sbatch: ["--mem=1G"]
  poll_s: 0.2
  env: {OMP_NUM_THREADS: "1"}
EOF2
}
sql() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "$@"; }

# 1. submit only
study s1
PATH="$here/fake-slurm:$PATH" "$ws" study run "$tmp/s1.yaml" --no-wait > "$tmp/submit.log" 2>&1
rc=$?
[ $rc -eq 4 ] || fail "study run --no-wait: exit $rc, want 4 (jobs queued)"
[ "$(wc -l < "$FAKE_SLURM_DIR/submitted")" -eq 3 ] || fail "submitted: $(cat "$FAKE_SLURM_DIR/submitted")"
script=$tmp/s1-runs/g2-gbs32-lbs16-r1/job.sbatch
for want in '^#SBATCH --nodes=1$' '^#SBATCH --ntasks=2$' '^#SBATCH --ntasks-per-node=2$' '^#SBATCH --partition=test$' \
            '^#SBATCH --time=00:10:00$' '^#SBATCH --mem=1G$' '^#SBATCH --cpus-per-task=1$' '^export OMP_NUM_THREADS=1$' \
            "checkpoint.wstf" '^exec srun .* train .*--local-batch 16 .*--threads 1 ' '--resume'; do
  grep -q -- "$want" "$script" || fail "$script lacks $want: $(cat "$script")"
done
grep -q 'gpus-per-node' "$script" && fail "a CPU run asked for GPUs: $(cat "$script")"

# 2. collect: nothing submitted twice, every run stored with sacct's energy
PATH="$here/fake-slurm:$PATH" "$ws" study run "$tmp/s1.yaml" > "$tmp/collect.log" 2>&1 || fail "study run (collect) failed"
[ "$(wc -l < "$FAKE_SLURM_DIR/submitted")" -eq 3 ] || fail "jobs submitted again: $(cat "$FAKE_SLURM_DIR/submitted")"
grep -q "3 planned, 0 done before, 3 run now, 0 failed" "$tmp/collect.log" || fail "$(tail -1 "$tmp/collect.log")"
[ "$(sql "$tmp/s1.db" "SELECT count(*) FROM runs WHERE status = 'completed' AND sacct_energy_j = 12345")" = 3 ] ||
  fail "runs with sacct energy: $(sql "$tmp/s1.db" "SELECT group_concat(run_key || ':' || ifnull(sacct_energy_j, 'null')) FROM runs")"
[ "$(sql "$tmp/s1.db" "SELECT count(*) FROM slurm_jobs WHERE state = 'COMPLETED' AND consumed_energy_j = 12345")" = 3 ] ||
  fail "slurm_jobs not COMPLETED with energy"
grep -q '"consumed_energy_j":[[:space:]]*12345' "$tmp/s1-runs/g1-gbs32-lbs32-r1/slurm.json" || fail "no slurm.json sidecar"
"$ws" study status "$tmp/s1.yaml" 2>&1 | grep -q "3/3 runs done" || fail "status: not 3/3"
# and the records re-ingest elsewhere with the Slurm figures (the sidecar travels with them)
"$ws" study ingest "$tmp/s1-runs" --db "$tmp/copy.db" > "$tmp/ingest.log" 2>&1 || fail "ingest failed"
[ "$(sql "$tmp/copy.db" "SELECT count(*) FROM runs r JOIN studies s ON s.id = r.study_id WHERE s.name = 's1' AND sacct_energy_j = 12345")" = 3 ] ||
  fail "re-ingested runs lost the sacct energy"

# 3. a job lost before it ran: reported failed, resubmitted by the next call
study s2
: > "$FAKE_SLURM_DIR/submitted"
FAKE_SLURM_FAIL_FIRST=1 PATH="$here/fake-slurm:$PATH" "$ws" study run "$tmp/s2.yaml" > "$tmp/fail.log" 2>&1
rc=$?
[ $rc -eq 1 ] || fail "study run with failed jobs: exit $rc, want 1"
grep -q "ended FAILED without a finished run record" "$tmp/fail.log" || fail "no failure reported"
"$ws" study status "$tmp/s2.yaml" 2>&1 | grep -q "3 failed" || fail "status does not show the failed runs"
FAKE_SLURM_FAIL_FIRST=1 PATH="$here/fake-slurm:$PATH" "$ws" study run "$tmp/s2.yaml" > "$tmp/retry.log" 2>&1 ||
  fail "the retry failed"
[ "$(wc -l < "$FAKE_SLURM_DIR/submitted")" -eq 6 ] || fail "resubmissions: $(cat "$FAKE_SLURM_DIR/submitted")"
"$ws" study status "$tmp/s2.yaml" 2>&1 | grep -q "3/3 runs done" || fail "retry: not 3/3"

# 4. no sbatch: scripts written, nothing submitted, the user told what to do
study s3
PATH="/usr/bin:/bin" "$ws" study run "$tmp/s3.yaml" > "$tmp/nosbatch.log" 2>&1
rc=$?
[ $rc -eq 4 ] || fail "without sbatch: exit $rc, want 4"
grep -q "sbatch is not on PATH: 3 job script(s) written" "$tmp/nosbatch.log" || fail "$(cat "$tmp/nosbatch.log")"
[ "$(ls "$tmp"/s3-runs/*/job.sbatch | wc -l)" -eq 3 ] || fail "job scripts not written"
echo "study slurm: scripts, submission, collection with sacct energy, resubmission and hand submission checked"
