#!/usr/bin/env bash
# The GPU checks, as one script, for a machine with an NVIDIA GPU and CuPy installed:
#   1. the whole test suite with the `cupy` backend as the backend parameter,
#   2. CPU/GPU trajectory agreement (tests/test_device_agreement.py, part of 1),
#   3. the NumPy vs CuPy speed table (benchmarks/bench_backends.py).
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
{ nvidia-smi -L; python3 -c "import cupy, numpy, sys; print('Python', sys.version.split()[0], \
'CuPy', cupy.__version__, 'NumPy', numpy.__version__)"; } | tee "$OUT/gpu.txt"

echo "== 1+2. test suite on the cupy backend"
MINIMSAM_TEST_BACKENDS=cupy timeout "${SUITE_TIMEOUT:-300}" python3 -m pytest -o addopts="" \
  -q -p no:cacheprovider -rfE --durations=10 --continue-on-collection-errors tests 2>&1 | tee "$OUT/pytest-cupy.log" | tail -40

echo "== 3. speed, NumPy (host CPU) vs CuPy"
timeout "${BENCH_TIMEOUT:-200}" python3 benchmarks/bench_backends.py ${BENCH_ARGS:-} 2>&1 \
  | tee "$OUT/bench_backends.md"
