#!/usr/bin/env bash
# One accelerator check, one command: installs jaxrec with the cuda extra,
# then runs benchmarks/gpu_check.py (devices, the kernel-parity tests,
# propagation kernel and epoch timings, peak device memory), which writes
# benchmarks/results/gpu_check.json (or --out=PATH).
#
#   bash benchmarks/gpu_check.sh                 # install + check, ~6-8 min
#   bash benchmarks/gpu_check.sh --no_install    # jax[cuda12] is installed
#   bash benchmarks/gpu_check.sh --dry_run       # CPU, tiny sizes, no install
#
# Other arguments go to gpu_check.py (--out, --parts, --budget_s). A failed
# install is recorded in the JSON and the check runs on what is installed.
# The parts get what is left of GPU_CHECK_SECONDS (default 450) after the
# install, at least 240 s; a part that would start later is skipped.
# PYTHON picks the interpreter (default: python3 of the active venv).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
python=${PYTHON:-python3}
install=1
args=()
for arg in "$@"; do
  case "$arg" in
    --no_install) install=0 ;;
    --dry_run) install=0; args+=("$arg") ;;
    *) args+=("$arg") ;;
  esac
done
status=skipped
seconds=0
if (( install )); then
  start=$SECONDS
  # The test extra brings pytest for the parity tests.
  if "$python" -m pip install -q -e ".[cuda,test]"; then
    status=ok
  else
    status=failed
  fi
  seconds=$((SECONDS - start))
fi
budget=$(( ${GPU_CHECK_SECONDS:-450} - seconds ))
(( budget < 240 )) && budget=240
exec "$python" benchmarks/gpu_check.py --install="$status" \
  --install_seconds="$seconds" --budget_s="$budget" ${args[@]+"${args[@]}"}
