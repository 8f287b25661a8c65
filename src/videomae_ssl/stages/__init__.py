"""The stages of the training command, below its Hydra entry point (`videomae_ssl.train`) and
the only readers of its DictConfig: everything they call takes built objects and plain values.

- `checks`: bad input rejected, naming the key, before Lightning is imported;
- `build`: the Trainer, the data module and the LightningModule from the config;
- `fit`: one fit and/or test stage;
- `probe`: frozen evaluation (`stage=probe`);
- `pipeline`: several stages in turn, each from its own experiment.

Torch, Lightning and timm are imported inside the functions that build things: `--help`,
`--cfg job` and the input checks answer in a second or two instead of half a minute.
"""
