#!/usr/bin/env bash
# Stage 5g (2026-12-04, on a lent GPU machine: one NVIDIA H200, 16 CPU cores, torch 2.11.0+cu130): stage 4's weights
# (models/checkpoints/stereo_net_stage4.pt; models/checkpoints/stereo_net.pt when it ran, which its last.pt records) in
# the architecture the 2026-12-04 ablation chose, a 1/32 level in the cost regulariser (--coarsest-level 32; its way
# back starts at zero, so the run starts as stage 4), on fresh samples (from 1000000, scripts/train_on_gpu.sh's
# default) of the first 2000 scenes of the robot-like mix: 5000 steps of batch 16 (80000 crops) at 2e-4 after 200
# warm-up steps, cosine-decayed to 1e-5, weight average 0.999 (the bundled weights are the average at step 5000).
# It ran as three calls of this resumable command (the device tool allows 10 minutes a call), each with the previous
# call's OUT_DIR/run/last.pt and log.jsonl in place: MINUTES=7 (steps 1-2835; the first 500 steps waited for the 14
# loader workers rendering the scenes), then 2.6 (to 4247) and 1.9 (to 5000): 11 minutes of training, about 150
# crops/s once the scenes were there (two CPU cores: 4.3 crops/s). OUT_DIR/run/ is committed as models/runs/stage5g/.
set -euo pipefail
cd "$(dirname "$0")/../.."
INIT_FROM=${INIT_FROM:-models/checkpoints/stereo_net_stage4.pt} STEPS=5000 LEARNING_RATE=2e-4 EVAL_EVERY=0 \
  exec scripts/train_on_gpu.sh "${OUT_DIR:-/tmp/stage5g}" "${MINUTES:-7}" \
  --coarsest-level 32 --num-scenes 2000 --hint-pooling max --warmup-steps 200 "$@"
