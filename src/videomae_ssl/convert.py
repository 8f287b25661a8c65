"""Convert VideoMAE checkpoints between formats.

    python -m videomae_ssl.convert SRC DST --to {hf,original,lightning} [--push-to-hub REPO]

SRC may be an original MCG-NJU or VideoMAE V2 `.pth`, a Hugging Face directory (or a bare
transformers state dict), one of our Lightning checkpoints, or a Hugging Face Hub id
(`MCG-NJU/videomae-base[@revision]`, read through huggingface_hub's cache); the format is read
from the contents. The command prints what it found (format, model size, frames and image size,
classes, missing and unexpected keys) and then writes DST:
- `hf`: a directory for `transformers.VideoMAEForPreTraining` / `...ForVideoClassification`,
  with a model card (README.md); `--push-to-hub REPO` then uploads it;
- `original`: a `.pth` in the original VideoMAE layout (`{'model': state_dict}`);
- `lightning`: a `.ckpt` as our Lightning module writes it (weights only).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from videomae_ssl.checkpoints import (
    FORMAT_NAMES,
    build_model,
    export_hf,
    export_lightning,
    export_original,
    load_checkpoint,
    parse_hub_id,
    push_to_hub,
    read_card_facts,
    resolve_checkpoint,
)
from videomae_ssl.checkpoints.model_card import users_readme
from videomae_ssl.data.annotations import read_class_names
from videomae_ssl.errors import UserInputError

TARGETS = ("hf", "lightning", "original")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m videomae_ssl.convert",
        description="Convert VideoMAE checkpoints (original, VideoMAE V2, Hugging Face, ours).",
    )
    p.add_argument(
        "src", help="checkpoint file, Hugging Face directory or Hub id (owner/name[@rev])"
    )
    p.add_argument("dst", type=Path, help="output: a directory for --to hf, else a file")
    p.add_argument("--to", required=True, choices=TARGETS, help="output format")
    p.add_argument(
        "--num-frames",
        type=int,
        help="frames the source was trained on, if the file does not record it (default 16)",
    )
    p.add_argument(
        "--img-size",
        type=int,
        help="image size the source was trained on, if the file does not record it (default 224)",
    )
    p.add_argument("--num-heads", type=int, help="encoder heads, for non-standard widths")
    p.add_argument("--decoder-num-heads", type=int, help="decoder heads, for non-standard widths")
    p.add_argument("--labels", type=Path, help="class names, one per line in class-id order")
    p.add_argument("--overwrite", action="store_true", help="replace DST if it exists")
    p.add_argument(
        "--push-to-hub",
        metavar="REPO",
        help="with --to hf: upload DST to this Hub model (owner/name), created if missing",
    )
    p.add_argument("--private", action="store_true", help="with --push-to-hub: a private model")
    return p.parse_args(argv)


def _command(args: argparse.Namespace, source: str) -> str:
    """The command line for the model card, with file names instead of local paths."""
    words = ["python -m videomae_ssl.convert", source, args.dst.name, f"--to {args.to}"]
    # The size flags the command was given (--num-frames, --img-size, the head counts).
    for flag, value in vars(args).items():
        if (
            flag not in ("src", "dst", "to", "labels", "overwrite", "push_to_hub", "private")
            and isinstance(value, int)
            and not isinstance(value, bool)
        ):
            words.append(f"--{flag.replace('_', '-')} {value}")
    if args.labels:
        words.append(f"--labels {args.labels.name}")
    return " ".join(words)


def convert(args: argparse.Namespace) -> Path:
    """Load, report, rebuild and write (and upload); returns the path written."""
    if args.push_to_hub and args.to != "hf":
        raise UserInputError("--push-to-hub uploads a Hugging Face folder: use it with --to hf.")
    if args.dst.exists() and not args.overwrite:
        raise UserInputError(f"{args.dst} exists; choose another path or pass --overwrite.")
    src = resolve_checkpoint(args.src, "SRC")
    if args.dst.resolve() == src.resolve():
        raise UserInputError(f"{args.dst}: the output would replace the input.")
    loaded = load_checkpoint(
        src,
        num_frames=args.num_frames,
        img_size=args.img_size,
        num_heads=args.num_heads,
        decoder_num_heads=args.decoder_num_heads,
    )
    print(loaded.summary(), flush=True)
    model = build_model(loaded)
    print("  missing keys: none", flush=True)
    id2label = (
        dict(enumerate(read_class_names(args.labels, "--labels")))
        if args.labels
        else loaded.id2label
    )
    if args.to == "hf":
        norm_pix = True if loaded.norm_pix_loss is None else loaded.norm_pix_loss
        card = read_card_facts(src)
        card.source = args.src if parse_hub_id(args.src) and src != Path(args.src) else src.name
        card.source_format = FORMAT_NAMES[loaded.format]
        card.command, card.repo_id = _command(args, card.source), args.push_to_hub
        kept = users_readme(args.dst)
        out = export_hf(model, args.dst, id2label=id2label, norm_pix_loss=norm_pix, card=card)
        if kept:
            print(f"  note: kept the existing {kept}; no model card written", flush=True)
    elif args.to == "original":
        out = export_original(model, args.dst, id2label=id2label)
    else:
        out = export_lightning(model, args.dst, id2label=id2label)
    names = {**FORMAT_NAMES, "original": "original VideoMAE layout"}
    print(f"Wrote {out} ({names[args.to]})", flush=True)
    if args.push_to_hub:
        url = push_to_hub(out, args.push_to_hub, private=args.private)
        print(f"Uploaded {out} to {url}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        convert(args)
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
