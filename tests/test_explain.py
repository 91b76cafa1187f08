"""explain: the score climbs, the code stays on its prior, outputs are generated images like any
other, two objectives reduce to one at their ends, and bad targets fail in one line."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from generate_fixtures import make_untrained_run, nonesuch_home  # noqa: F401  (fixtures)
from nonesuch.cli import app
from nonesuch.explain.code_space import code_space
from nonesuch.explain.errors import ExplainError
from nonesuch.explain.explain import explain
from nonesuch.explain.folder import ExplainConfig, explain_to_folder
from nonesuch.explain.generator_access import split_generator
from nonesuch.explain.optimise import AscentConfig
from nonesuch.explain.targets import Target, parse_target
from nonesuch.gan.generator import load_generator

runner = CliRunner()
SHIPPED = Path(__file__).parents[1] / "src/nonesuch/pretrained/smileys32"


def redness() -> Target:
    """A cheap differentiable unit: how red the image is (red minus the other channels)."""
    return Target("redness", head=lambda images: (2 * images[:, 0] - images[:, 1] - images[:, 2]).mean((1, 2)))


def greenness() -> Target:
    return Target("greenness", head=lambda images: (2 * images[:, 1] - images[:, 0] - images[:, 2]).mean((1, 2)))


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    return load_generator(make_untrained_run(tmp_path_factory.mktemp("runs") / "plain", []))


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> Path:
    """A 4-unit classifier of 16 px RGB images in [0, 1], exported the way a user would."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 4))
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    torch.onnx.export(net, torch.zeros(1, 3, 16, 16), str(path), input_names=["x"], dynamo=False,
                      dynamic_axes={"x": {0: "batch"}})
    return path


def test_the_imagenet_logit_climbs_on_the_shipped_generator():
    loaded = load_generator(SHIPPED)
    lemon = parse_target("imagenet:lemon", classifier_size=64)
    # Small steps: a unit seen through a 64 px input is rough at the scale of a default step, and
    # this checks the climb itself (gradient, normalisation, projection), not the step size.
    result = explain(loaded, [lemon], seeds=[0, 1], code="sphere", ascent=AscentConfig(iterations=3, step_start=0.02),
                     calibration_samples=8)
    history = np.array(result.ascent.objective)                       # [iterations + 1, seeds]
    assert (history[-1] > history[0]).all(), history
    assert (result.scores_after[:, 0] > result.scores_before[:, 0]).all()


@pytest.mark.parametrize("code", ["sphere", "box"])
def test_the_code_stays_inside_its_constraint_at_every_step(untrained, code):
    space = code_space(code, split_generator(untrained))
    seen = []

    def check(h):
        assert space.inside(h), f"step {len(seen)} left the {code}"
        seen.append(h)

    result = explain(untrained, [redness()], seeds=[0, 1, 2], code=code, calibration_samples=8,
                     ascent=AscentConfig(iterations=6, step_start=2.0), check=check)
    assert len(seen) == 6
    assert (result.scores_after > result.scores_before).all()


@pytest.mark.parametrize("combine", ["softmin", "sum"])
def test_weights_zero_and_one_are_the_single_objectives(untrained, combine):
    ascent = AscentConfig(iterations=3, step_start=0.5)
    both = [redness(), greenness()]
    common = dict(seeds=[4, 5], code="sphere", ascent=ascent, calibration_samples=8, combine=combine)
    only_red = explain(untrained, [redness()], **common)
    only_green = explain(untrained, [greenness()], **common)
    at_zero = explain(untrained, both, weights=[1.0, 0.0], **common)
    at_one = explain(untrained, both, weights=[0.0, 1.0], **common)
    assert np.array_equal(at_zero.pixels, only_red.pixels)
    assert np.array_equal(at_one.pixels, only_green.pixels)
    assert not np.array_equal(at_zero.pixels, at_one.pixels)


def test_softmin_follows_the_lagging_target_and_sum_the_total():
    from nonesuch.explain.objective import Standardisation, combined_objective

    a = Target("a", head=lambda images: images.flatten(1)[:, 0])
    b = Target("b", head=lambda images: images.flatten(1)[:, 1])
    stats = Standardisation([1.0, 0.0], [2.0, 1.0])
    images = torch.tensor([[11.0, 0.0], [1.0, 5.0], [3.0, 1.0]]).reshape(3, 2, 1, 1)  # standardised (5, 0) (0, 5) (1, 1)
    total = combined_objective([a, b], [0.5, 0.5], [1, 1], stats, "sum")(images)
    soft = combined_objective([a, b], [0.5, 0.5], [1, 1], stats, "softmin")(images)
    assert torch.allclose(total, torch.tensor([2.5, 2.5, 1.0]))
    lagging = -torch.log(0.5 * torch.exp(torch.tensor(-5.0)) + 0.5)           # by hand: tau = 1
    assert torch.allclose(soft, torch.tensor([lagging, lagging, 1.0]))
    assert soft[2] > soft[0]          # (1, 1) beats (5, 0): both targets up, not one
    one = combined_objective([a], [1.0], [-1], Standardisation([1.0], [2.0]), "softmin")(images)
    assert torch.allclose(one, torch.tensor([-5.0, 0.0, -1.0]))        # one target: its own score
    with pytest.raises(ValueError, match="combine"):
        combined_objective([a], [1.0], [1], stats, "max")


def test_a_ceiling_caps_each_standardised_score_at_the_reals_percentile():
    from nonesuch.explain.objective import Standardisation, combined_objective, real_ceilings

    a = Target("a", head=lambda images: images.flatten(1)[:, 0])
    b = Target("b", head=lambda images: images.flatten(1)[:, 1])
    stats = Standardisation([1.0, 0.0], [2.0, 1.0])
    images = torch.tensor([[11.0, 0.0], [1.0, 5.0], [3.0, 1.0]]).reshape(3, 2, 1, 1)  # standardised (5, 0) (0, 5) (1, 1)
    capped = combined_objective([a, b], [0.5, 0.5], [1, 1], stats, "sum", ceilings=[5.0, None])(images)
    assert torch.allclose(capped, torch.tensor([1.0, 2.5, 1.0]))      # a capped at (5 - 1) / 2 = 2 SD
    down = combined_objective([a], [1.0], [-1], stats, "sum", ceilings=[-1.0])(images)
    assert torch.allclose(down, torch.tensor([-5.0, 0.0, -1.0]).clamp(max=1.0))   # minimised: -(-1 - 1) / 2
    reals = np.array([[0.0, 10.0], [1.0, 20.0], [2.0, 30.0]])
    assert real_ceilings(reals, 100.0, [1, -1]) == [2.0, 10.0]        # a minimised target's ceiling is low


def test_the_climb_stops_at_the_ceiling(untrained):
    common = dict(seeds=[0, 1, 2], code="box", calibration_samples=8, ascent=AscentConfig(iterations=12, step_start=2.0))
    free = explain(untrained, [redness()], **common)
    ceiling = float(np.median(free.scores_before[:, 0] + 0.3 * (free.scores_after[:, 0] - free.scores_before[:, 0])))
    capped = explain(untrained, [redness()], ceilings=[ceiling], **common)
    assert (capped.scores_after[:, 0] < free.scores_after[:, 0]).all()
    top = (ceiling - capped.standardisation.mean[0]) / capped.standardisation.std[0]
    history = np.array(capped.ascent.objective)                       # [iterations + 1, seeds]
    assert history.max() <= top + 1e-5
    for seed in range(3):                     # once at the ceiling a code earns nothing more: it stays
        reached = np.flatnonzero(history[:, seed] >= top - 1e-6)
        assert len(reached) and np.allclose(history[reached[0]:, seed], top, atol=1e-5), history[:, seed]


def test_a_ceiling_needs_reals_and_is_a_percentile(untrained, nonesuch_home, tmp_path):
    for ceiling, message in (("100", "--ceiling needs real images"), ("150", "--ceiling is a percentile")):
        result = runner.invoke(app, ["explain", str(untrained.folder), "--target", "imagenet:lemon",
                                     "--ceiling", ceiling, "--out", str(tmp_path / "x")])
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
        assert message in result.output, result.output


def test_the_ceiling_is_in_the_record_and_the_report(untrained, tiny_onnx, emoji_dataset, nonesuch_home, tmp_path):
    from nonesuch.data import Dataset
    from nonesuch.explain.objective import score_images

    out = tmp_path / "capped"
    spec = f"onnx:{tiny_onnx}:2"
    config = ExplainConfig(run=str(untrained.folder), targets=[spec], out=str(out), seeds=[0, 1], code="box",
                           iterations=2, size=64, ceiling=90.0, reals=str(emoji_dataset))
    explain_to_folder(config, show_progress=False)
    reals = np.asarray(Dataset(emoji_dataset).images(32))
    expected = np.percentile(score_images([parse_target(spec)], reals)[:, 0], 90.0)
    report = json.loads((out / "explain.json").read_text())
    assert report["ceilings"] == pytest.approx([expected], rel=1e-5)
    assert json.loads((out / "0.json").read_text())["objective"]["ceiling"] == 90.0
    assert json.loads((out / "0.json").read_text())["objective"]["step_start"] == 0.3   # the box's


def test_the_realism_floor_penalises_only_falling_below_a_typical_sample():
    from nonesuch.explain.objective import Standardisation, with_floor

    d = Target("d", head=lambda images: images.flatten(1)[:, 0])
    floored = with_floor(lambda images: torch.zeros(len(images)), d, 5.0, Standardisation([1.0], [2.0]))
    images = torch.tensor([-3.0, 1.0, 9.0]).reshape(3, 1, 1, 1)      # standardised: -2, 0, 4
    assert floored(images).tolist() == [-10.0, 0.0, 0.0]


def test_the_realism_prior_holds_the_runs_own_discriminator_up(untrained):
    from nonesuch.explain.objective import score_images
    from nonesuch.explain.realism import realism_target

    d = realism_target(untrained)
    # A target that is D's score upside down: the plain ascent drives D far down; with the prior,
    # D is held near a typical sample's score.
    unreal = Target("unreal", head=lambda images: -d.scores(images))
    common = dict(seeds=[0, 1, 2, 3], code="box", calibration_samples=8,
                  ascent=AscentConfig(iterations=4, step_start=0.3, precision="off"))
    plain = explain(untrained, [unreal], **common)
    prior = explain(untrained, [unreal], realism=10.0, **common)
    assert plain.realism_after is None and prior.realism == 10.0
    # The same D, loaded from the checkpoint G came from, scores what explain reported.
    assert np.allclose(prior.realism_after, score_images([d], prior.ascent.images)[:, 0], atol=1e-4)
    assert prior.realism_after.mean() > score_images([d], plain.ascent.images)[:, 0].mean()
    with pytest.raises(ExplainError, match="no discriminator"):      # exported for sampling only
        explain(load_generator(SHIPPED), [redness()], realism=1.0, **common)
    with pytest.raises(ValueError, match="realism"):
        explain(untrained, [redness()], realism=-1.0, **common)


def test_the_gradient_precision_is_a_choice_and_says_what_ran(untrained, nonesuch_home, tmp_path):
    common = dict(seeds=[0, 1], code="box", calibration_samples=8)
    fp32 = explain(untrained, [redness()], ascent=AscentConfig(iterations=3, step_start=0.3, precision="off"), **common)
    bf16 = explain(untrained, [redness()], ascent=AscentConfig(iterations=3, step_start=0.3, precision="bf16"), **common)
    assert (fp32.ascent.precision, bf16.ascent.precision) == ("fp32", "bf16")
    for result in (fp32, bf16):
        assert (result.scores_after > result.scores_before).all()
    assert not torch.equal(fp32.ascent.code, bf16.ascent.code)        # bf16 really ran
    result = runner.invoke(app, ["explain", str(untrained.folder), "--target", "imagenet:lemon",
                                 "--precision", "fp8", "--out", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "--precision 'fp8'" in result.output, result.output


def test_an_onnx_unit_is_explained_and_the_outputs_verify_as_generated_here(
        untrained, tiny_onnx, nonesuch_home, tmp_path):
    out = tmp_path / "explained"
    config = ExplainConfig(run=str(untrained.folder), targets=[f"onnx:{tiny_onnx}:2"], out=str(out),
                           seeds=[0, 1], code="sphere", iterations=3, size=64, gif=True)
    outcome = explain_to_folder(config, show_progress=False)
    for seed in (0, 1):
        record = json.loads((out / f"{seed}.json").read_text())
        assert record["objective"]["targets"] == [f"onnx:{tiny_onnx}:2"]
        assert record["objective"]["iterations"] == 3
        assert record["objective"]["precision"] == "fp32"        # ONNX: estimated gradients, fp32
        assert record["objective"]["step_start"] == 0.05         # the sphere's own first step
    assert (out / "grid.png").is_file() and (out / "optimisation.gif").is_file()
    report = json.loads((out / "explain.json").read_text())
    assert [row["seed"] for row in report["seeds"]] == [0, 1] == [r["seed"] for r in outcome.report["seeds"]]
    result = runner.invoke(app, ["verify", "--json", str(out / "0.png"), str(out / "1.png")])
    for verdict in json.loads(result.stdout):
        assert verdict["verdict"] == "verified", verdict
        assert json.loads(verdict["registry"]["record"]["objective"])["targets"] == config.targets


@pytest.mark.parametrize("spec, message", [
    ("lemon", "not a target; use imagenet:CLASS"),
    ("imagenet:lemmon", "did you mean lemon"),
    ("imagenet:1000", "class index must be 0-999"),
    ("onnx:missing.onnx:0", "missing.onnx: no such ONNX file"),
    ("curate:nowhere:smileys", "nowhere has no labels"),
])
def test_a_bad_target_spec_is_one_line(untrained, nonesuch_home, tmp_path, spec, message):
    result = runner.invoke(app, ["explain", str(untrained.folder), "--target", spec,
                                 "--out", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and message in result.output, result.output


def test_an_unknown_combination_is_one_line(untrained, nonesuch_home, tmp_path):
    result = runner.invoke(app, ["explain", str(untrained.folder), "--target", "imagenet:lemon", "--target",
                                 "imagenet:orange", "--combine", "max", "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "--combine 'max': choose one of softmin, sum" in result.output


def test_an_onnx_file_that_does_not_fit_says_what_it_needs(untrained, nonesuch_home, tmp_path):
    grey = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))
    path = tmp_path / "mnist.onnx"
    torch.onnx.export(grey, torch.zeros(1, 1, 28, 28), str(path), dynamo=False)
    result = runner.invoke(app, ["explain", str(untrained.folder), "--target", f"onnx:{path}:3",
                                 "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "mnist.onnx: input" in result.output and "[N, 3, S, S]" in result.output
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ExplainError, match="junk.onnx: not a loadable ONNX model"):
        parse_target(f"onnx:{tmp_path / 'junk.onnx'}:0")


@pytest.mark.parametrize("args, message", [
    (["--seeds", "0-100000000"], "--seeds: 100000001 seeds; explain optimises them as one batch, so give 1 to 64"),
    (["--iterations", "1000000000000"], "--iterations must be from 1 to 10000"),
    (["--iterations", "0"], "--iterations must be from 1 to 10000"),
    (["--size", "100000"], "--size must be from 64 to 2048 px"),
    (["--classifier-size", "8"], "--classifier-size must be from 32 to 512 px"),
    (["--classifier-size", "20000"], "--classifier-size must be from 32 to 512 px"),
    (["--step", "nan"], "--step must be a number above 0"),
    (["--step", "-1"], "--step must be a number above 0"),
    (["--realism", "inf"], "--realism must be at least 0.0, got inf"),
    (["--realism", "nan"], "--realism must be at least 0.0, got nan"),
    (["--threads", "100000"], "--threads must be from 1 to"),
    (["--threads", "0"], "--threads must be from 1 to"),
    (["--ceiling", "nan"], "--ceiling is a percentile"),
])
def test_hostile_numbers_are_one_line_before_any_work(untrained, nonesuch_home, tmp_path, args, message):
    """Each of these once hung, segfaulted (--threads 100000), asked for 77 GB or ran on NaN."""
    result = runner.invoke(app, ["explain", str(untrained.folder), "--target", "imagenet:lemon",
                                 "--out", str(tmp_path / "x"), *args])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert message in result.output, result.output
    assert not (tmp_path / "x").exists()


def _graph_model(path: Path, nodes, input_shape, initializers=(), output_shape=None, output_type=None) -> Path:
    """A hand-written ONNX graph: x [input_shape] float -> y, the shapes a hostile file can claim."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(nodes, "hostile", [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
                              [helper.make_tensor_value_info("y", output_type or TensorProto.FLOAT, output_shape)],
                              initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _hostile_onnx(folder: Path) -> dict[str, Path]:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    spatial = numpy_helper.from_array(np.array([2, 3], np.int64), "spatial")
    everything = numpy_helper.from_array(np.array([0, 2, 3], np.int64), "everything")
    minus_one = numpy_helper.from_array(np.array(-1.0, np.float32), "minus_one")
    mean = helper.make_node("ReduceMean", ["x", "spatial"], ["y"], keepdims=0)
    models = {
        "nan": _graph_model(folder / "nan.onnx", [helper.make_node("Mul", ["x", "minus_one"], ["negative"]),
                                                  helper.make_node("Log", ["negative"], ["log"]),
                                                  helper.make_node("ReduceMean", ["log", "spatial"], ["y"], keepdims=0)],
                            ["N", 3, 32, 32], [spatial, minus_one], ["N", 3]),
        "huge": _graph_model(folder / "huge.onnx", [mean], [1, 3, 100000, 100000], [spatial], [1, 3]),
        "mixes the batch": _graph_model(folder / "mix.onnx",
                                        [helper.make_node("ReduceMean", ["x", "everything"], ["r"], keepdims=1),
                                         helper.make_node("Flatten", ["r"], ["y"])], ["N", 3, 32, 32], [everything]),
        "strings": _graph_model(folder / "strings.onnx", [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.STRING)],
                                ["N", 3, 32, 32], output_type=TensorProto.STRING),
    }
    # Initialiser bytes "stored" in /dev/zero, 100 GB of them, through a link beside the model.
    weights = numpy_helper.from_array(np.zeros(3, np.float32), "weights")
    outside = _graph_model(folder / "outside.onnx", [helper.make_node("ReduceMean", ["x", "spatial"], ["r"], keepdims=0),
                                                     helper.make_node("Add", ["r", "weights"], ["y"])],
                           ["N", 3, 32, 32], [spatial, weights], ["N", 3])
    model = onnx.load(str(outside))
    stored = model.graph.initializer[1]
    stored.ClearField("raw_data")
    stored.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", str(10 ** 11))):
        entry = stored.external_data.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(outside))
    (folder / "weights.bin").symlink_to("/dev/zero")
    models["outside"] = outside
    # A Loop that counts to 10**15: loads and checks fine, never ends.
    body = helper.make_graph(
        [helper.make_node("Identity", ["more"], ["more_out"]),
         helper.make_node("Constant", [], ["one"], value=helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])),
         helper.make_node("Add", ["count", "one"], ["count_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("more", TensorProto.BOOL, []),
         helper.make_tensor_value_info("count", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("more_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("count_out", TensorProto.FLOAT, [])])
    models["loops"] = _graph_model(
        folder / "loops.onnx",
        [helper.make_node("Loop", ["trips", "yes", "zero"], ["count"], body=body),
         helper.make_node("ReduceMean", ["x", "spatial"], ["r"], keepdims=0), helper.make_node("Add", ["r", "count"], ["y"])],
        ["N", 3, 32, 32], [numpy_helper.from_array(np.array(10 ** 15, np.int64), "trips"),
                           numpy_helper.from_array(np.array(True), "yes"),
                           numpy_helper.from_array(np.array(0.0, np.float32), "zero"), spatial], ["N", 3])
    return models


def test_a_hostile_onnx_file_is_one_line_and_nothing_is_written(untrained, nonesuch_home, tmp_path, monkeypatch):
    """NaN scores, a 100,000 px input, a graph that mixes the batch, strings, weights read from
    /dev/zero through a link, a loop that never ends: each one line, in bounded time and memory."""
    import time

    import nonesuch.explain.targets as targets

    monkeypatch.setattr(targets, "ONNX_PROBE_SECONDS", 2.0)      # the loop's limit, so the test is quick
    expected = {"nan": "output 0 is not a finite number", "huge": "input side 100000 px; explain feeds 1 to 1024",
                "mixes the batch": "first output is float32 [1, 3] for 2 images",
                "strings": "needs numbers [N, K]", "outside": "not a loadable ONNX model",
                "loops": "one run took more than 2 s"}
    for name, path in _hostile_onnx(tmp_path).items():
        started = time.perf_counter()
        result = runner.invoke(app, ["explain", str(untrained.folder), "--target", f"onnx:{path}:0", "--seeds", "0-1",
                                     "--iterations", "2", "--out", str(tmp_path / "x")])
        assert result.exit_code == 1 and result.output.count("\n") == 1, (name, result.output)
        assert str(path) in result.output and expected[name] in result.output, (name, result.output)
        assert time.perf_counter() - started < 30, name
        assert not (tmp_path / "x").exists(), name


def test_a_curation_target_is_the_fitted_classifier_as_a_torch_head(emoji_dataset, tmp_path):
    """The head over Lite0 features gives exactly curate's own logit (sklearn's decision function),
    so what explain climbs is what `curate apply` cuts by."""
    import shutil

    from nonesuch.atomic import write_json
    from nonesuch.curate.classifier import classifier_features, fit_classifier
    from nonesuch.curate.embed import EmbedConfig
    from nonesuch.curate.labels import LabelStore
    from nonesuch.data import Dataset

    root = tmp_path / "emoji32"
    shutil.copytree(emoji_dataset, root)
    dataset = Dataset(root)
    rng = np.random.default_rng(0)
    smiley = np.array([label == "smileys-emotion" for label in dataset.labels()])
    features = (rng.normal(size=(len(dataset), 1280)) + 2.0 * smiley[:, None] * rng.normal(size=1280)).astype(np.float32)
    (root / "embeddings").mkdir(exist_ok=True)   # stand-in for `curate embed`: no network
    np.save(root / "embeddings/effnet-lite0.features.npy", features)
    np.save(root / "embeddings/effnet-lite0.logits.npy", np.zeros((len(dataset), 1000), np.float32))
    write_json(root / "embeddings/effnet-lite0.json", {"count": len(dataset), "config": {
        "input_size": EmbedConfig().input_size, "precision": EmbedConfig().precision}})
    store = LabelStore(root)
    store.add_many("smileys", [(i, "keep" if s else "discard") for i, s in enumerate(smiley)], "test")
    store.close()

    target = parse_target(f"curate:{root}:smileys")
    model = fit_classifier(classifier_features(features), smiley.astype(np.int64))
    expected = model.decision_function(classifier_features(features))
    got = target.head(torch.from_numpy(features)).numpy()
    assert np.allclose(got, expected, atol=1e-3)
    with pytest.raises(ExplainError, match="needs both keep and discard labels"):
        parse_target(f"curate:{root}:no-such-target")
