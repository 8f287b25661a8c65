"""VideoMAE self-supervised video pretraining."""

from videomae_ssl.model_sizes import register_resolver

# The configs read model sizes through `${model_size:...}`; registered here so that whatever
# composes them (the training command, tests, notebooks) finds it.
register_resolver()
