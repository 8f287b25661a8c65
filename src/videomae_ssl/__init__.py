"""VideoMAE self-supervised video pretraining."""

from videomae_ssl.model_sizes import register_resolver
from videomae_ssl.run_resolvers import register_resolvers

# The configs read model sizes through `${model_size:...}`; registered here so that whatever
# composes them (the training command, tests, notebooks) finds it.
register_resolver()
# The log file's name per rank and the wandb run id (configs/hydra, configs/logger/wandb.yaml).
register_resolvers()
