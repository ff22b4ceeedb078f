#!/usr/bin/env bash
# The GPU checks, as one script, for a machine with an NVIDIA GPU, CuPy and torch:
#   1. the fused kernels, fused ops, optimizer interface, nn and CPU/GPU trajectory
#      agreement tests with `cupy` as the backend parameter ($SUITE to choose others),
#   2. "before": main's code (if copied to ./_before) timed with its own bench_backends.py,
#   3. benchmarks/gpu_bench.py: one step profiled (kernels, host vs device time), the
#      interleaved speed table (numpy, cupy plain/fused, torch CUDA), the GPU targets,
#      and the largest CPU/GPU deviation after 50 steps of every optimizer.
# Usage: bash benchmarks/gpu_check.sh   (results in $OUT, default ./gpu-results)
# Wheels of test dependencies missing on the GPU machine may be put in .whl/.
set -u
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
{ nvidia-smi -L; python3 -c "import cupy, numpy, torch, sys; print('Python', \
sys.version.split()[0], 'CuPy', cupy.__version__, 'NumPy', numpy.__version__, 'torch', \
torch.__version__)"; nproc; } 2>&1 | tee "$OUT/env.txt"

echo "== 1. tests on the cupy backend"
SUITE=${SUITE:-tests/test_kernels.py tests/autodiff/test_fused.py \
tests/test_device_agreement.py tests/optim/test_interface.py tests/optim/test_multitensor.py \
tests/bad_input/test_multitensor_inputs.py tests/nn}
# shellcheck disable=SC2086
MINIMSAM_TEST_BACKENDS=cupy timeout "${SUITE_TIMEOUT:-120}" python3 -m pytest -o addopts="" \
  -q -p no:cacheprovider -rfE $SUITE 2>&1 | tee "$OUT/pytest_cupy.log" | tail -25

if [ -d _before ]; then
  echo "== 2. before: main's code, its own benchmark"
  (cd _before && PYTHONPATH="$PWD" timeout "${BEFORE_TIMEOUT:-60}" python3 \
    benchmarks/bench_backends.py --models "MLP 784-256-256-10" --batch-sizes 128 2048 \
    --rounds 3) 2>&1 | tee "$OUT/before.md" | tail -25
fi

echo "== 3. profile, speed, targets, agreement"
timeout "${BENCH_TIMEOUT:-150}" python3 benchmarks/gpu_bench.py --out "$OUT" ${BENCH_ARGS:-} \
  2>&1 | tee "$OUT/gpu_bench.log" | tail -100
