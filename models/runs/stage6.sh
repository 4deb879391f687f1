#!/usr/bin/env bash
# Stage 6 (from 2026-12-04, two CPU cores): stage 5g's weights (the weight average in models/runs/stage5g/last.pt,
# bundled since 2026-12-04) in the same architecture (--coarsest-level 32) on fresh samples (from 3000000) of the
# first 2000 scenes of the robot-like mix, batch 4 at 5e-5 (a quarter of stage 5g's batch and rate) after 100
# warm-up steps, cosine-decayed over 20000 steps, weight average 0.999. Resumable: run it again (same command) to
# go on from models/runs/stage6/last.pt (not committed: stopped at step 3554, see models/README "Stage 6");
# --max-minutes bounds one session's share. Rendering the 2000 scenes ahead takes about 12 min on a fresh machine
# (a few seconds when they are there).
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE   # idle OpenMP threads sleep instead of spinning while the loader renders
nice -n 5 stereo_depth_train --render-scenes --num-scenes 2000 --num-workers 2
exec nice -n 5 stereo_depth_train --run-dir models/runs/stage6 --init-from models/runs/stage5g/last.pt \
  --coarsest-level 32 --num-scenes 2000 --first-sample 3000000 --learning-rate 5e-5 --warmup-steps 100 \
  --steps 20000 --hint-pooling max --eval-every 1000 --checkpoint-minutes 5 --threads 2 --num-workers 1 "$@"
