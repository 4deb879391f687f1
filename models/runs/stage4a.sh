#!/usr/bin/env bash
# Stage 4a (stopped at step ~3000): stage 3's weights continued on the robot-like scene mix with max hint pooling
# (the architecture the ablation in models/README.md chose). It ran with --init-from models/checkpoints/stereo_net.pt,
# which held stage 3's weights until stage 4 was bundled (now models/checkpoints/stereo_net_stage3.pt), so its
# committed last.pt records that path: to run it again, add --run-dir NEW_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE   # idle OpenMP threads sleep instead of spinning while the loader renders
exec nice -n 5 stereo_depth_train --run-dir models/runs/stage4a --init-from models/checkpoints/stereo_net_stage3.pt \
  --first-sample 0 --learning-rate 3e-4 --warmup-steps 300 --steps 30000 --hint-pooling max \
  --eval-every 1000 --checkpoint-minutes 5 --threads 2 --num-workers 1 "$@"
