#!/usr/bin/env bash
# torchrun launch, one process per GPU; run this script once on every node.
#   launch/torchrun.sh experiment=k400_pretrain                          # this node's GPUs
#   NNODES=4 NODE_RANK=0 MASTER_ADDR=node0 launch/torchrun.sh experiment=k400_pretrain
#   NNODES=4 NODE_RANK=1 MASTER_ADDR=node0 launch/torchrun.sh experiment=k400_pretrain  # ...
# Extra arguments are Hydra overrides. Lightning detects torchrun's environment. RUN_NAME must be
# the same on every node (with a shared filesystem, so checkpoints and logs land in one folder,
# outputs/<name>/<RUN_NAME>); started again with the same RUN_NAME, the run continues from its
# last checkpoint (resume=auto). TORCHRUN replaces the launcher command (default: uv run --locked
# torchrun), e.g. TORCHRUN=".venv/bin/python -m torch.distributed.run" in an environment of your
# own. Without GPUs set GPUS_PER_NODE (processes per node) and add trainer.accelerator=cpu
# trainer.precision=32-true.
set -euo pipefail
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(nvidia-smi -L | wc -l)}
MASTER_ADDR=${MASTER_ADDR:-localhost}
MASTER_PORT=${MASTER_PORT:-29500}
RUN_NAME=${RUN_NAME:-torchrun_$(date +%Y-%m-%d_%H-%M)}
if [ "$NNODES" -gt 1 ]; then TRAINER=ddp_multinode; else TRAINER=ddp; fi
read -ra LAUNCHER <<< "${TORCHRUN:-uv run --locked torchrun}"

exec "${LAUNCHER[@]}" \
  --nnodes="$NNODES" --node_rank="$NODE_RANK" --nproc_per_node="$GPUS_PER_NODE" \
  --master_addr="$MASTER_ADDR" --master_port="$MASTER_PORT" \
  -m videomae_ssl.train trainer="$TRAINER" \
  trainer.num_nodes="$NNODES" trainer.devices="$GPUS_PER_NODE" \
  run_name="$RUN_NAME" resume=auto "$@"
