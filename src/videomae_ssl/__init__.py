"""VideoMAE self-supervised video pretraining."""

from videomae_ssl.run_resolvers import register_resolvers

# The configs read model sizes through `${model_size:...}`, the log file's name per rank, the
# wandb run id and the classes.txt beside a list through resolvers; registered here so that
# whatever composes them (the training command, tests, notebooks) finds them.
register_resolvers()
