"""`${log_suffix:}` and `${wandb_id:...}`: a log file per rank under torchrun and srun, one wandb
run per run folder."""

import pytest

from videomae_ssl.run_resolvers import log_suffix, wandb_id, wandb_offline


@pytest.mark.parametrize(
    ("env", "suffix"),
    [
        ({}, ""),  # one process, or Lightning's launcher (its ranks > 0 name their own file)
        ({"RANK": "0", "LOCAL_RANK": "0"}, ""),
        ({"RANK": "3", "LOCAL_RANK": "1"}, ".rank3"),  # torchrun: the global rank
        ({"SLURM_PROCID": "2"}, ".rank2"),
        ({"LOCAL_RANK": "1"}, ""),
    ],
)
def test_only_rank_0_writes_train_log(monkeypatch, env, suffix):
    for name in ("RANK", "LOCAL_RANK", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert log_suffix() == suffix


def test_a_run_folder_has_one_wandb_id(tmp_path, monkeypatch):
    folder = tmp_path / "outputs" / "k400" / "job:1"
    monkeypatch.chdir(tmp_path)
    same = wandb_id(str(folder)), wandb_id("outputs/k400/job:1")
    assert same[0] == same[1] and same[0].startswith("job_1-")
    assert wandb_id(str(tmp_path / "elsewhere" / "job:1")) != same[0]
    assert not set("/\\#?%:") & set(same[0])


@pytest.mark.parametrize(
    ("env", "netrc_text", "offline"),
    [
        ({}, None, True),  # no key, no netrc: nothing to log in with
        ({"WANDB_API_KEY": "k" * 40}, None, False),
        ({}, "machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n", False),
        ({}, "machine example.org\n  login user\n  password secret\n", True),
        ({"WANDB_API_KEY": "k" * 40, "WANDB_MODE": "offline"}, None, True),
    ],
)
def test_wandb_goes_offline_without_credentials(tmp_path, monkeypatch, env, netrc_text, offline):
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "netrc"
    if netrc_text is not None:
        path.write_text(netrc_text)
        path.chmod(0o600)
    monkeypatch.setenv("NETRC", str(path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert wandb_offline() is offline
