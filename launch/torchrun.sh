#!/usr/bin/env bash
# Multi-node launch with torchrun: run this script once on every node.
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=node0 launch/torchrun.sh experiment=k400_pretrain
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=node0 launch/torchrun.sh experiment=k400_pretrain
# Extra arguments are Hydra overrides. Lightning detects torchrun's environment; RUN_DIR must be
# the same on every node (a shared filesystem), so checkpoints and logs land in one folder.
set -euo pipefail
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(nvidia-smi -L | wc -l)}
MASTER_ADDR=${MASTER_ADDR:-localhost}
MASTER_PORT=${MASTER_PORT:-29500}
RUN_DIR=${RUN_DIR:-outputs/torchrun/${RUN_ID:-$(date +%Y-%m-%d_%H-%M)}}

exec uv run --locked torchrun \
  --nnodes="$NNODES" --node_rank="$NODE_RANK" --nproc_per_node="$GPUS_PER_NODE" \
  --master_addr="$MASTER_ADDR" --master_port="$MASTER_PORT" \
  -m videomae_ssl.train trainer=ddp \
  trainer.num_nodes="$NNODES" trainer.devices="$GPUS_PER_NODE" \
  hydra.run.dir="$RUN_DIR" "$@"
