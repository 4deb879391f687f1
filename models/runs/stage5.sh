#!/usr/bin/env bash
# Stage 5: the bundled stage-4 weights (models/checkpoints/stereo_net.pt) in the architecture the 2026-12-04
# ablation chose, a 1/32 level in the cost regulariser (--coarsest-level 32; its way back starts at zero, so the
# network starts as stage 4's), on fresh samples (stage 4 ended at sample 240000) of the first 2000 scenes of the
# robot-like mix (rendering them ahead takes about 12 min on a fresh machine), at 1e-4 cosine-decayed over 8000
# steps of batch 4 (32000 crops). Resumable: run it again (same command) to go on from models/runs/stage5/last.pt;
# --max-minutes bounds one session's share.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE   # idle OpenMP threads sleep instead of spinning while the loader renders
nice -n 5 stereo_depth_train --render-scenes --num-scenes 2000 --num-workers 2
exec nice -n 5 stereo_depth_train --run-dir models/runs/stage5 --init-from models/checkpoints/stereo_net.pt \
  --coarsest-level 32 --num-scenes 2000 --first-sample 240000 --learning-rate 1e-4 --warmup-steps 100 \
  --steps 8000 --hint-pooling max --eval-every 1000 --checkpoint-minutes 5 --threads 2 --num-workers 1 "$@"
