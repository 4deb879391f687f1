#!/usr/bin/env bash
# Stage 4a (stopped at step ~3000): the bundled stage-3 weights continued on the robot-like scene mix with max hint pooling
# (the architecture the ablation in models/README.md chose). Resumable: run it again (same command) to go on
# from models/runs/stage4/last.pt; --max-minutes bounds one session's share.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE   # idle OpenMP threads sleep instead of spinning while the loader renders
exec nice -n 5 stereo_depth_train --run-dir models/runs/stage4a --init-from models/checkpoints/stereo_net.pt \
  --first-sample 0 --learning-rate 3e-4 --warmup-steps 300 --steps 30000 --hint-pooling max \
  --eval-every 1000 --checkpoint-minutes 5 --threads 2 --num-workers 1 "$@"
