#!/usr/bin/env bash
# Install, train, score and report one card on a machine without network, from the bundle this script
# sits in (made by `ampbench offline gather`). The machine's own Python packages (its JAX build with
# CUDA, say) stay; the bundle's wheels add what it lacks, and nothing is downloaded.
#
#   bash run.sh RESULT_DIR [ampbench train options, e.g. --minutes 9 --set training.envs=4096]
#
# RESULT_DIR gets site/ (the installed wheels), runs/ (run folders), results/ (score files and
# results/README.md) and jax-cache/ (JAX's compilation cache, unless $AMPBENCH_COMPILE_CACHE names another).
# Python: $PYTHON, else python3. With --smoke among the options, scoring uses the smoke grid too.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 RESULT_DIR [ampbench train options]" >&2
  exit 2
fi
bundle=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
shift
python=${PYTHON:-python3}
score_options=()
for option in "$@"; do
  if [ "$option" = "--smoke" ]; then score_options+=(--smoke); fi
done

# The wheels go to a folder of their own, put ahead of the machine's packages on the path (not into a
# venv: one made from a Python that is itself a venv would not see that venv's packages, JAX included).
site="$out/site"
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
ampbench=("$python" -m ampbench.cli --compile-cache "${AMPBENCH_COMPILE_CACHE:-$out/jax-cache}")
# MJX, the GPU route this bundle is for, also on a CPU where ampbench would pick MuJoCo C; a --backend
# among the options given comes later and wins.
"${ampbench[@]}" train "$bundle/card.yaml" --backend mjx --runs "$out/runs" "$@"
"${ampbench[@]}" score "$out"/runs/*/*/* --results "$out/results" "${score_options[@]}"
"${ampbench[@]}" report --results "$out/results"
