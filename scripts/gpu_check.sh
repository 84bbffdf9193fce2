#!/usr/bin/env bash
# The GPU path in one command: the CUDA tests, then the bench on CUDA at fp16 and
# at auto, printing the figures. Run from the repository root after `make venv`:
#     scripts/gpu_check.sh            # about 2-4 minutes
# Without CUDA the tests skip and the script says so and stops (exit 2).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: CUDA is not available to torch ($("$PY" -c 'import torch; print(torch.__version__)')); nothing to check"
    exit 2
fi
"$PY" -c 'import torch; print("gpu:", torch.cuda.get_device_name(0), "| torch", torch.__version__, "| bf16:", torch.cuda.is_bf16_supported())'
echo "== CUDA tests (pytest -m cuda)"
timeout 120 "$PY" -m pytest -q -m cuda test/test_gpu_path.py
for precision in fp16 auto fp32; do
    echo "== mtg_grasp bench --device cuda --precision $precision"
    timeout 120 "$PY" -m mtg_grasp_ros.cli bench --device cuda --precision "$precision" \
        --frames 150 --duration 10 > "/tmp/gpu_bench_$precision.json"
    "$PY" - "/tmp/gpu_bench_$precision.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
lat, keep, bare = r["latency"], r["keep_up"], r["bare_detector"]
print(f"device {r['device']} precision {r['precision']} executor {r['executor']} "
      f"threads {r['torch_threads']}")
print("ratios", json.dumps(r["ratios"]))
print("bare detect median %.2f ms (network %.2f); beside the camera %.2f ms"
      % (bare["median_ms"], bare["network_median_ms"], r["bare_detector_beside_camera"]["median_ms"]))
print("stages (median ms):", {k: v.get("median_ms") for k, v in lat["stages"].items()})
print("stamp->published median %.2f ms, p95 %.2f ms" % (lat["stamp_to_published"]["median_ms"],
                                                    lat["stamp_to_published"]["p95_ms"]))
print("keep-up %.1f Hz of %.0f Hz" % (keep["rate_achieved_hz"], keep["camera_rate_hz"]))
PYEOF
done
