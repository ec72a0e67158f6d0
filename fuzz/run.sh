#!/usr/bin/env bash
# Fuzz the receiver's signature checks and body validation.
#
#   FUZZ_RUNS=100000 fuzz/run.sh     # the record run (default); FUZZ_RUNS=2000 for a smoke run
#   FUZZ_PLAIN=1 fuzz/run.sh         # random mutation loop, NOT coverage-guided (also used without atheris)
#
# The working corpus starts from fuzz/seeds and lives in FUZZ_WORKDIR (default .cache/fuzz), with any
# crashing input saved there as crash-<sha1>. Replay one with:
#   .venv/bin/python fuzz/fuzz_receiver.py --replay .cache/fuzz/crash-<sha1>
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
runs="${FUZZ_RUNS:-100000}"
workdir="${FUZZ_WORKDIR:-$root/.cache/fuzz}"
max_len="${FUZZ_MAX_LEN:-4096}"
mkdir -p "$workdir/corpus"

if [[ -z "${FUZZ_PLAIN:-}" ]] && "$python" -c "import atheris" 2>/dev/null; then
    echo "coverage-guided (atheris): $runs inputs, corpus in $workdir/corpus"
    # -print_final_stats reports executions per second and coverage at the end.
    exec "$python" "$root/fuzz/fuzz_receiver.py" \
        -runs="$runs" -max_len="$max_len" -print_final_stats=1 -dict="$root/fuzz/receiver.dict" \
        -artifact_prefix="$workdir/" "$workdir/corpus" "$root/fuzz/seeds"
fi
echo "atheris unavailable or FUZZ_PLAIN set: plain mutation loop, NOT coverage-guided"
exec "$python" "$root/fuzz/fuzz_receiver.py" --plain --runs "$runs" --seed "${FUZZ_SEED:-0}"
