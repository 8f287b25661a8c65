"""The configs keep one home per setting: the dataset configs include a shared base and set only
what is theirs, the fine-tuning experiments share theirs, every callback has its own file, and
the class names and count default to the classes.txt beside the training list."""

from pathlib import Path

import pytest
import yaml
from clips import write_clip
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from videomae_ssl.train import CONFIG_DIR

CONFIGS = Path(CONFIG_DIR)
DATASETS = ("ucf101", "hmdb51", "kinetics400", "ssv2")


def keys(path: Path) -> set[str]:
    return set(yaml.safe_load(path.read_text())) - {"defaults"}


@pytest.mark.parametrize("dataset", DATASETS)
def test_a_dataset_config_sets_only_its_own_keys(dataset):
    pretrain = yaml.safe_load((CONFIGS / "data" / f"{dataset}.yaml").read_text())
    assert pretrain["defaults"][0] == "_pretrain"
    assert keys(CONFIGS / "data" / f"{dataset}.yaml") <= {
        "train_list",
        "val_list",
        "root",
        "sampling_rate",
    }
    finetune = yaml.safe_load((CONFIGS / "data" / f"{dataset}_finetune.yaml").read_text())
    assert finetune["defaults"][0] == "_finetune"
    assert "class_names" not in finetune  # the base's default: beside train_list


@pytest.mark.parametrize("experiment", ["k400", "ssv2", "ucf101", "hmdb51", "demo"])
def test_the_finetune_experiments_share_a_base(experiment):
    config = yaml.safe_load((CONFIGS / "experiment" / f"{experiment}_finetune.yaml").read_text())
    assert config["defaults"][0] == "_finetune"
    overridden = {next(iter(d)) for d in config["defaults"][1:]}
    assert overridden <= {"override /data", "override /trainer"}
    assert "test_after_fit" not in config


@pytest.mark.parametrize("group", ["default", "finetune", "pretrain_probe", "probe"])
def test_every_callback_has_a_file_of_its_own(group):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"callbacks={group}"])
    for name, node in cfg.callbacks.items():
        own = yaml.safe_load((CONFIGS / "callbacks" / f"{name}.yaml").read_text())
        assert own[name]["_target_"] == node["_target_"]
    for path in (CONFIGS / "callbacks").glob("*.yaml"):
        body = keys(path)
        # probe.yaml only moves the fine-tuning callbacks' files into attentive/.
        own = (
            {"model_checkpoint", "best_checkpoint", "test_report"}
            if path.stem == "probe"
            else {path.stem}
        )
        assert body <= own, path.name


def compose_data(*overrides: str):
    """The data config as written, and the config with Hydra's own part set (the paths resolve
    through `${hydra:runtime.cwd}`) and removed."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=["experiment=ucf101_finetune", *overrides],
            return_hydra_config=True,
        )
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return OmegaConf.to_container(cfg.data, resolve=False), cfg


def test_class_names_and_count_come_from_the_classes_txt_beside_the_training_list(tmp_path):
    lists = tmp_path / "mine"
    lists.mkdir()
    (lists / "train.csv").write_text("a.mp4 0\nb.mp4 1\n")
    (lists / "classes.txt").write_text("cat\ndog\n")
    _, cfg = compose_data(f"data.train_list={lists / 'train.csv'}")
    assert cfg.data.class_names == str(lists / "classes.txt") and cfg.data.num_classes == 2
    assert cfg.model.net.num_classes == 2
    (lists / "classes.txt").unlink()  # no names: the dataset's count, labels by id
    _, cfg = compose_data(f"data.train_list={lists / 'train.csv'}")
    assert cfg.data.class_names is None and cfg.data.num_classes == 101


def test_an_explicit_class_count_that_disagrees_with_the_names_is_an_error(tmp_path):
    import hydra

    from videomae_ssl.errors import DataError

    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    for split in ("train", "val", "test"):
        (tmp_path / f"{split}.csv").write_text("a.mp4 0\n")
    write_clip(tmp_path / "a.mp4", num_frames=8)
    _, cfg = compose_data(
        f"data.train_list={tmp_path / 'train.csv'}",
        "data.num_classes=5",
        f"data.val_list={tmp_path / 'val.csv'}",
        "data.num_workers=0",
        f"data.root={tmp_path}",
        "data.quarantine_file=null",
        "data.backend=pyav",
        f"data.test_list={tmp_path / 'test.csv'}",
    )
    datamodule = hydra.utils.instantiate(cfg.data)
    with pytest.raises(DataError, match="2 names for data.num_classes=5"):
        datamodule.validate_inputs("test")


def finetune_module(tmp_path, labels, names=None):
    """The ucf101 fine-tuning data module on one clip listed with each of `labels`."""
    import hydra

    lists = tmp_path / "mine"
    lists.mkdir(exist_ok=True)
    write_clip(lists / "a.mp4", num_frames=8)
    for split in ("train", "val", "test"):
        (lists / f"{split}.csv").write_text("".join(f"a.mp4 {label}\n" for label in labels[:1]))
    (lists / "train.csv").write_text(
        "".join(f"a{k}.mp4 {label}\n" for k, label in enumerate(labels))
    )
    for k in range(len(labels)):
        (lists / f"a{k}.mp4").write_bytes((lists / "a.mp4").read_bytes())
    if names is not None:
        (lists / "classes.txt").write_text(names)
    _, cfg = compose_data(
        f"data.train_list={lists / 'train.csv'}", f"data.val_list={lists / 'val.csv'}",
        f"data.test_list={lists / 'test.csv'}", f"data.root={lists}", "data.num_workers=0",
        "data.quarantine_file=null", "data.backend=pyav",
    )  # fmt: skip
    return hydra.utils.instantiate(cfg.data), lists


def test_a_label_beyond_the_classes_txt_names_the_file_not_num_classes(tmp_path):
    """data.num_classes came from classes.txt (2 names): a label 2 is the file's to fix."""
    from videomae_ssl.errors import DataError

    datamodule, lists = finetune_module(tmp_path, [0, 1, 2], names="cat\ndog\n")
    with pytest.raises(DataError, match=r"label 2 is not below num_classes=2 .* data.class_names="
                       rf"{lists / 'classes.txt'} names 2 classes .*: add the missing names"):  # fmt: skip
        datamodule.validate_inputs("fit")


def test_a_list_without_names_using_fewer_classes_than_the_head_is_said(tmp_path, monkeypatch):
    """No classes.txt beside the list: the head has the dataset's 101 classes; a list of 2
    classes is said, naming both fixes (it was silent)."""
    said = []
    monkeypatch.setattr("videomae_ssl.data.datamodules.finetune.rank_zero_info", said.append)
    datamodule, lists = finetune_module(tmp_path, [0, 1])
    datamodule.validate_inputs("fit")
    assert said == [
        f"warning: data.num_classes=101, but the labels of data.train_list={lists / 'train.csv'} "
        "run from 0 to 1 and no classes.txt lies beside it: the classifier gets 99 classes no "
        "training video has. Put a classes.txt beside data.train_list (line i naming class "
        "i - 1) or set data.num_classes=2."
    ]
