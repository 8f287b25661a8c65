"""VideoMAE self-supervised video pretraining."""

from importlib.metadata import PackageNotFoundError, version

from videomae_ssl.run_resolvers import register_resolvers

# The configs read model sizes through `${model_size:...}`, the log file's name per rank, the
# wandb run id and the classes.txt beside a list through resolvers; registered here so that
# whatever composes them (the training command, tests, notebooks) finds them.
register_resolvers()

try:
    __version__ = version("videomae-ssl")
except PackageNotFoundError:  # the source tree on sys.path without an install
    __version__ = "0+unknown"
