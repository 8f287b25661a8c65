"""Data: annotation files, video readers, clip sampling, transforms and augmentations, the
epoch-aware sampler, the datasets, the Lightning data modules and the embedded demo dataset.

Import names from the modules that define them (`videomae_ssl.data.readers`,
`videomae_ssl.data.datamodules`, ...): this package imports nothing, so that DataLoader and
scan workers, which import `videomae_ssl.data.readers`, do not pull in Lightning through the
data modules. The offline commands that prepare and scan a dataset live in `videomae_ssl.prep`,
which this package never imports.
"""
