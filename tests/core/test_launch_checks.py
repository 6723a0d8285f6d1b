"""The checks before launch (core/plan/launch_checks.py): each dead end found, with its fix."""

from __future__ import annotations

from ftwizard.core.plan.launch_checks import LaunchContext, check_launch, checkpoint_gib, weights_cached


def _ctx(**kw) -> LaunchContext:  # noqa: ANN003
    base = dict(model="org/model", planned_gpus=1, local_gpus=1, planned_gpu_name="RTX 4090", peak_gib=10.0,
                param_count=1_000_000_000, trainable_params=10_000_000, method="lora", run_dir="/tmp/x")
    return LaunchContext(**{**base, **kw})


def ids(problems) -> list[str]:  # noqa: ANN001
    return [p.id for p in problems if p.blocking]


def test_all_clear():
    assert check_launch(_ctx(), ram_gib=64, disk_gib=500, cached=True, token=True) == []


def test_gpu_plan_on_a_machine_without_gpu():
    probs = check_launch(_ctx(local_gpus=0), ram_gib=64, disk_gib=500, cached=True)
    assert ids(probs) == ["no_gpu"] and "no GPU" in probs[0].message and "Hardware" in probs[0].fix


def test_weights_not_cached_without_and_with_download_allowed():
    probs = check_launch(_ctx(), ram_gib=64, disk_gib=500, cached=False, token=True)
    assert ids(probs) == ["weights"] and "allow download" in probs[0].fix and "1.9 GiB" in probs[0].message
    probs = check_launch(_ctx(allow_download=True), ram_gib=64, disk_gib=500, cached=False, token=True)
    assert ids(probs) == [] and probs[0].id == "weights" and not probs[0].blocking


def test_cpu_plan_needs_more_ram_than_the_machine_has():
    probs = check_launch(_ctx(planned_gpus=0, local_gpus=0, peak_gib=34.0), ram_gib=23.0, disk_gib=500, cached=True)
    assert ids(probs) == ["ram"] and "34.0 GiB" in probs[0].message and "23.0 GiB" in probs[0].message


def test_disk_for_checkpoints():
    ctx = _ctx(method="full", trainable_params=1_000_000_000)
    need = checkpoint_gib(ctx)
    assert need > 30
    probs = check_launch(ctx, ram_gib=64, disk_gib=need / 2, cached=True)
    assert ids(probs) == ["disk"]


def test_gated_model_without_token():
    probs = check_launch(_ctx(model="meta-llama/Llama-3.2-1B", allow_download=True), ram_gib=64, disk_gib=500,
                         cached=False, token=False)
    assert ids(probs) == ["gated"] and "hf auth login" in probs[0].fix


def test_local_folder_without_weights(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert not weights_cached(str(tmp_path))
    probs = check_launch(_ctx(model=str(tmp_path)), ram_gib=64, disk_gib=500)
    assert ids(probs) == ["weights"] and "no weight files" in probs[0].message
    (tmp_path / "model.safetensors").write_bytes(b"x")
    assert weights_cached(str(tmp_path))


def test_one_list_for_the_cli_and_the_app(tmp_path, monkeypatch):
    """core/run/before_launch.py: the config's source problems and the machine's, one per cause, blocking first."""
    from ftwizard.core.plan.launch_checks import LaunchProblem
    from ftwizard.core.run.before_launch import before_launch, machine_problems_for
    from ftwizard.core.run.config import RunConfig

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    cfg = RunConfig(model="someorg/not-cached-model", data=str(tmp_path / "gone.jsonl"))
    machine = [LaunchProblem("weights", "the weights of someorg/not-cached-model are not in the local cache", "fetch"),
               LaunchProblem("disk", "checkpoints need ~9 GiB", "free some space")]
    probs = before_launch(cfg, machine=machine, offline=True)
    assert [p.id for p in probs] == ["data", "weights", "disk"]  # the uncached model once, in the caller's words
    assert probs[1].message.startswith("the weights of") and str(probs[0]).endswith("(data:)")
    alone = before_launch(cfg, offline=True)  # the CLI's case: the source check's own words
    assert [p.id for p in alone] == ["weights", "data"] and "HF_HUB_OFFLINE" in alone[0].message
    assert alone[0].field == "model"
    # the CLI's own machine checks come from the config alone: disk for the checkpoints of a full fine-tune
    full = RunConfig(model="llama-3.2-1b", method="full", save_total_limit=2)
    disk = machine_problems_for(full, tmp_path / "run", local_gpus=1, disk_gib=1.0)
    assert [p.id for p in disk] == ["disk"] and "1.0 GiB is free" in disk[0].message
    assert machine_problems_for(full, tmp_path / "run", local_gpus=1, disk_gib=10_000) == []


def test_a_resume_without_room_for_its_next_checkpoint_is_refused(tmp_path):
    """The newest checkpoint's size is what the next save needs: with less free, the resume would train to its next
    save and fail there again, so it is refused before it starts; with room, nothing is said (the whole run's
    figure stays a warning on a resume)."""
    from ftwizard.core.run.before_launch import resume_disk_problem

    ck = tmp_path / "run" / "checkpoints" / "checkpoint-30"
    ck.mkdir(parents=True)
    (ck / "adapter_model.safetensors").write_bytes(b"0" * 3 * 2**20)
    full = resume_disk_problem(tmp_path / "run", disk_gib=0.0)
    assert full is not None and full.blocking and full.id == "disk"
    assert full.message.startswith("the disk is still full where the run is: the next checkpoint needs ~5 MiB")
    low = resume_disk_problem(tmp_path / "run", disk_gib=4 / 1024)
    assert low is not None and low.message.startswith("only 4 MiB is free")
    assert resume_disk_problem(tmp_path / "run", disk_gib=1.0) is None
    assert resume_disk_problem(tmp_path / "fresh", disk_gib=0.0) is None  # nothing saved yet: nothing to measure
