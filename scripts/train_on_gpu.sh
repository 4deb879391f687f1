#!/usr/bin/env bash
# Continue the bundled model's training on a GPU machine for a fixed time, and leave the checkpoint in OUT_DIR.
#
#   scripts/train_on_gpu.sh OUT_DIR MINUTES [extra stereo_depth_train options]
#
# Needs only python3 (or $PYTHON) with torch (CUDA), numpy, opencv and scikit-image; the package runs from this checkout
# (PYTHONPATH), nothing is installed or downloaded. Scenes are rendered into STEREO_DEPTH_CACHE (default
# /tmp/stereo_depth_cache) by the data-loader workers. The run starts from models/checkpoints/stereo_net.pt on
# samples no bundled stage has seen (FIRST_SAMPLE) and stops resumably after MINUTES; OUT_DIR/run/last.pt and
# OUT_DIR/run/log.jsonl are what to bring back (models/README.md: how a stage is recorded and exported).
# With several GPUs set GPUS=N: torchrun runs N data-parallel processes (samples split without repeats).
set -euo pipefail
out_dir=${1:?usage: scripts/train_on_gpu.sh OUT_DIR MINUTES [options]}
minutes=${2:?usage: scripts/train_on_gpu.sh OUT_DIR MINUTES [options]}
shift 2
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export STEREO_DEPTH_CACHE=${STEREO_DEPTH_CACHE:-/tmp/stereo_depth_cache}
gpus=${GPUS:-1}
workers=$(( $(nproc) / gpus - 2 )); [ "$workers" -ge 1 ] || workers=1
options=(--device cuda --run-dir "$out_dir/run" --init-from "${INIT_FROM:-models/checkpoints/stereo_net.pt}"
         --first-sample "${FIRST_SAMPLE:-1000000}" --batch-size "${BATCH_SIZE:-16}" --learning-rate "${LEARNING_RATE:-4e-4}"
         --steps "${STEPS:-20000}" --num-workers "$workers" --threads 2 --checkpoint-minutes 2
         --eval-every "${EVAL_EVERY:-1000}" --max-minutes "$minutes" --processes "$gpus" "$@")
if [ "$gpus" -gt 1 ]; then
  exec "${PYTHON:-python3}" -m torch.distributed.run --standalone --nproc-per-node "$gpus" -m stereo_depth_ros.training.train "${options[@]}"
fi
exec "${PYTHON:-python3}" -m stereo_depth_ros.training.train "${options[@]}"
