#!/usr/bin/env bash
# One command on a lent machine without network (a GPU node): install the bundle beside the machine's own
# JAX, find the env batch that trains fastest, train every seed together for what the budget leaves,
# score them, and leave at most 8 files of at most 16 MiB in OUT: one archive per seed (`ampbench pack`:
# curves, policy file, a travelling checkpoint that resumes elsewhere) and results.tar.gz (score files,
# results/README.md, the probe's speed table with the device's name).
#
#   bash run.sh OUT [--minutes 9] [--seeds 0,1,2,3,4] [--sizes 1024,4096,8192] [--probe-seconds 150]
#                   [--score-minutes 3] [card options: --smoke, --overlay NAME, --set key=value]
#
# The budget is the whole command's: install, probe (each size compiles once; the next size is skipped
# when the probe's time left is under 1.5 x the last size's cost), training (`--minutes` of what is left
# after the score reserve and one update's length, since a budget ends after the update that passes it;
# the trained size's program comes from the probe's compilation cache), scoring under `timeout` (score
# files written before it ends are kept), packing. Defaults: the bundle's card (phase 2), its
# training.seeds. Work files go to $AMPBENCH_WORK (default OUT.work), outside OUT. Python: $PYTHON, else
# python3.
set -euo pipefail
started=$(date +%s)
usage="usage: $0 OUT [--minutes M] [--seeds 0,1] [--sizes 1024,4096] [--probe-seconds S] [--score-minutes M] [card options]"
if [ $# -lt 1 ]; then
  echo "$usage" >&2
  exit 2
fi
bundle=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
shift
minutes=9 sizes=1024,4096,8192 probe_seconds=150 score_minutes=3 seeds="" card_options=() smoke=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --probe-seconds) probe_seconds=$2; shift 2 ;;
    --score-minutes) score_minutes=$2; shift 2 ;;
    --smoke) card_options+=(--overlay smoke); smoke=(--smoke); shift ;;
    --overlay|--set) card_options+=("$1" "$2"); shift 2 ;;
    *) echo "$0: unknown option $1"; echo "$usage" >&2; exit 2 ;;
  esac
done
work=${AMPBENCH_WORK:-$out.work}
mkdir -p "$work"
python=${PYTHON:-python3}
left() { python3 -c "import sys; print(max(0.0, float(sys.argv[1]) * 60 - ($(date +%s) - $started)))" "$minutes"; }

# The wheels go to a folder of their own, put ahead of the machine's packages on the path (not into a
# venv: one made from a Python that is itself a venv would not see that venv's packages, JAX included).
site="$work/site"
if [ ! -f "$site/.installed" ]; then
  "$python" -m pip install --quiet --no-index --no-deps --target "$site" "$bundle"/wheels/*.whl
  touch "$site/.installed"
fi
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
# Fails here, before any training, when the machine plus the wheels cannot run the MJX backend.
"$python" -c 'import jax, ampbench.sim.mjx; print("ampbench on", jax.devices())'

export AMPBENCH_DATA="$bundle/clips"
# Provenance names the commit the bundle was gathered from (the installed wheel is no git checkout).
AMPBENCH_COMMIT=$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["commit"])' "$bundle/bundle.json")
export AMPBENCH_COMMIT
ampbench=("$python" -m ampbench.cli --compile-cache "${AMPBENCH_COMPILE_CACHE:-$work/jax-cache}")
card="$bundle/card.yaml"
if [ -z "$seeds" ]; then
  seeds=$("$python" -c 'import sys; from ampbench.cards import load_card; print(",".join(map(str, load_card(sys.argv[1], overrides=tuple(sys.argv[2:])).training.seeds)))' "$card")
fi
if [ "$(echo "$seeds" | tr ',' '\n' | wc -l)" -gt 7 ]; then
  echo "$0: at most 7 seeds (one archive each, beside results.tar.gz, within 8 files)" >&2
  exit 2
fi

"${ampbench[@]}" probe "$card" --backend mjx --seeds "$seeds" --sizes "$sizes" \
  --seconds "$probe_seconds" --out "$work/probe" "${card_options[@]}"
read -r envs update_seconds < <("$python" -c '
import json, sys
rows = [r for r in json.load(open(sys.argv[1]))["rows"] if r["status"] == "ok"]
best = max(rows, key=lambda r: r["env_steps_per_second"])
print(best["envs"], best["update_seconds"])' "$work/probe/probe.json")
train_minutes=$(python3 -c "import sys; print(max(0.05, (float(sys.argv[1]) - float(sys.argv[2]) * 60 - 30 - float(sys.argv[3])) / 60))" "$(left)" "$score_minutes" "$update_seconds")
echo "training $envs envs per seed, seeds $seeds, for $train_minutes minutes"
"${ampbench[@]}" train "$card" --backend mjx --seeds "$seeds" --runs "$work/runs" --minutes "$train_minutes" \
  --set "training.envs=$envs" "${card_options[@]}"

runs=("$work"/runs/*/*/*)
score_seconds=$(python3 -c "import sys; print(int(max(10, float(sys.argv[1]) - 30)))" "$(left)")
timeout "$score_seconds" "${ampbench[@]}" score "${runs[@]}" --results "$work/results" --no-render "${smoke[@]}" ||
  echo "scoring stopped at its budget ($score_seconds s); the runs travel unscored where no score file was written"
"${ampbench[@]}" report --results "$work/results" || echo "no report: no score file was written"
"${ampbench[@]}" pack "${runs[@]}" --out "$out"
mkdir -p "$work/results"
cp "$work/probe/probe.md" "$work/probe/probe.json" "$work/results/"
tar -czf "$out/results.tar.gz" -C "$work" results
"$python" -c '
import sys
from pathlib import Path
files = sorted(p for p in Path(sys.argv[1]).rglob("*") if p.is_file())
big = [f"{p.name} ({p.stat().st_size / 2**20:.1f} MiB)" for p in files if p.stat().st_size > 16 * 2**20]
assert len(files) <= 8 and not big, f"OUT holds {len(files)} files (at most 8), too large: {big}"
for p in files:
    print(f"{p.stat().st_size / 2**20:7.2f} MiB  {p.name}")' "$out"
echo "done in $(( $(date +%s) - started )) s"
