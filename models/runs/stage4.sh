#!/usr/bin/env bash
# Stage 4: stage 4a's weights (the robot-like mix at lr 3e-4 for ~3000 steps: robot-like held-out kinds improved,
# the layered split got worse and noisier by step 3000) continued at a lower rate, 1e-4, with max hint pooling,
# 30000 steps of batch 4 on fresh samples (120000+). Resumable: run it again (same command) to go on from
# models/runs/stage4/last.pt; --max-minutes bounds one session's share. From step 24882 on (2026-12-03) the run's
# model configuration has subpixel_radius_px 2: the full-resolution line fit (no weights) is in the forward pass,
# on grey levels until step 25228 and on horizontal gradients (as bundled) since. Finished at step 30000
# on 2026-12-03 (rerunning it trains no further step); the bundled weights are its average at step 27143.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE   # idle OpenMP threads sleep instead of spinning while the loader renders
# A fresh machine's scene cache is empty, and a loader rendering each scene makes a step about 2x slower: render
# them ahead on both cores first (about 23 min for the 4000 scenes; a few seconds when they are all there).
nice -n 5 stereo_depth_train --render-scenes --num-workers 2
exec nice -n 5 stereo_depth_train --run-dir models/runs/stage4 --init-from models/runs/stage4a/last.pt \
  --first-sample 120000 --learning-rate 1e-4 --warmup-steps 100 --steps 30000 --hint-pooling max \
  --eval-every 1000 --checkpoint-minutes 5 --threads 2 --num-workers 1 "$@"
