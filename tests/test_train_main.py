"""The training command's Hydra main hands back what the run or the pipeline returned, so that
a sweeper can read the result."""

from test_configs import compose_cfg

from videomae_ssl import train


def test_the_hydra_main_returns_the_run_result(monkeypatch, tmp_path):
    result = {"test/top1": 0.5, "checkpoint": None}
    monkeypatch.setattr(train, "run", lambda cfg: result)
    cfg = compose_cfg(["experiment=demo_finetune"], tmp_path)
    assert train._hydra_main(cfg) == result


def test_the_hydra_main_returns_each_pipeline_stage_result(monkeypatch, tmp_path):
    results = {"pretrain": {"checkpoint": "last.ckpt"}, "finetune": {"test/top1": 0.25}}
    monkeypatch.setattr(train, "run_pipeline", lambda cfg: results)
    cfg = compose_cfg(["experiment=demo"], tmp_path)
    assert cfg.pipeline
    assert train._hydra_main(cfg) == results
