"""Offline commands that get a dataset ready before training, apart from the training-time data
path (`videomae_ssl.data`), which they use and which never imports them:

    python -m videomae_ssl.prep.prepare {ucf101,hmdb51,ssv2,kinetics} --root DIR --out DIR
    python -m videomae_ssl.prep.scan train.csv --root DIR

`prepare` writes annotation files from an official layout (and with `--short-side`
re-encodes the videos, see `reencode`); `scan` checks every listed video with the same decode
check the evaluation check uses (`videomae_ssl.data.probe`) and writes a list of the good ones.
"""
