"""The data modules read one way: one file per module (and per shared job), one DecodeOptions
handed from the data module to its datasets, no private Lightning attribute read."""

import ast
from pathlib import Path

import videomae_ssl
from videomae_ssl.data.datamodules import FinetuneDataModule, PretrainDataModule
from videomae_ssl.data.decode_options import DecodeOptions
from videomae_ssl.masking import TubeMaskGenerator

PACKAGE = Path(videomae_ssl.__file__).parent
FOLDER = PACKAGE / "data" / "datamodules"


def classes(path: Path) -> list[str]:
    return [n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef)]


def test_each_file_holds_one_kind_of_data_module():
    assert classes(FOLDER / "base.py") == ["VideoDataModule"]
    assert classes(FOLDER / "pretrain.py") == ["PretrainDataModule"]
    assert classes(FOLDER / "finetune.py") == ["FinetuneDataModule"]
    assert classes(FOLDER / "demo.py") == ["DemoPretrainDataModule", "DemoFinetuneDataModule"]
    # The evaluation-video check, the loaders and the settings checks have files of their own.
    assert classes(FOLDER / "eval_check.py") == ["EvalListCheck"]
    assert classes(FOLDER / "loaders.py") == ["ShardedLoaders"]


def test_nothing_reads_lightnings_private_connector():
    for path in PACKAGE.rglob("*.py"):
        assert "_accelerator_connector" not in path.read_text(), path


def test_one_decode_options_reaches_every_dataset(tmp_path):
    (tmp_path / "train.csv").write_text("a.mp4 0\nb.mp4 1\n")
    common = dict(
        train_list=str(tmp_path / "train.csv"),
        val_list=str(tmp_path / "train.csv"),
        root=str(tmp_path),
        backend="pyav",
        frame_template="{:06d}.png",
        short_side=40,
        num_workers=0,
        num_frames=4,
        input_size=32,
    )
    want = DecodeOptions("pyav", "{:06d}.png", 40, "cpu")
    pretrain = PretrainDataModule(**common, patch_size=8, mask_generator=TubeMaskGenerator(0.5))
    finetune = FinetuneDataModule(**common, num_classes=2, test_list=str(tmp_path / "train.csv"))
    for dm in (pretrain, finetune):
        assert dm.decode == want
        records = dm._read(dm.train_list)
        for mode in ("train", "val"):
            assert dm.build_dataset(mode, records).decoding == want
