"""A command as the trial: `hpsearch tune --command ...` runs the user's program once per trial,
with real child processes reading real output. The programs here import only the standard library
and train for a fraction of a second."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState
from waiting import poll

from hpsearch.cli import cli
from hpsearch.report.trials_table import trial_row

PATTERN = r"step (?P<step>\d+): .*val loss (?P<value>[0-9.naif]+)"
# A fake training: its loss falls with the steps and is best at lr = 1e-2; it says what it was
# given, marks each point and its end in its trial folder, and prints without flushing.
PROGRAM = r"""
import json, math, os, sys, time
args = dict(a.split("=", 1) for a in sys.argv[1:])
folder = os.environ["HPSEARCH_TRIAL_DIR"]
keys = ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "PYTHONUNBUFFERED", "HPSEARCH_CONFIG",
        "HPSEARCH_SEED", "HPSEARCH_STUDY", "HPSEARCH_PREVIOUS_TRIAL_DIR", "HPSEARCH_REPORT")
with open(os.path.join(folder, "seen.json"), "w") as f:
    json.dump({"argv": sys.argv[1:], "pid": os.getpid(), "cwd": os.getcwd(),
               "env": {k: os.environ.get(k) for k in keys}}, f)
lr, steps, every = float(args["--lr"]), int(args["--steps"]), int(args["--every"])
delay = float(os.environ.get("DELAY", "0"))
for step in range(0, steps + 1, every):
    loss = abs(math.log10(lr) + 2.0) + 1.0 / (1 + step)
    print(f"step {step}: train loss {loss:.4f}, val loss {loss:.4f}")
    open(os.path.join(folder, f"point-{step}"), "w").close()
    time.sleep(delay)
open(os.path.join(folder, "finished"), "w").close()
"""
COMMAND = "{python} train.py --lr={lr} --steps={steps} --every={eval_every} --seed={seed}"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def tune_args(command: str = COMMAND, *extra: str, study: str = "mine", n_trials: int = 4
              ) -> list[str]:
    return ["tune", "--command", command.replace("{python}", sys.executable),
            "--metric-regex", PATTERN, "--optimizers", "adamw", "--steps", "40",
            "--eval-every", "10", "--n-trials", str(n_trials), "--study", study, *extra]


def trials(study: str = "mine") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage="sqlite:///studies/hpsearch.db").trials


def folder_of(trial: optuna.trial.FrozenTrial) -> Path:
    return Path(trial.user_attrs["record"]["trial_dir"])


@pytest.fixture
def program(workdir: Path) -> Path:
    (workdir / "train.py").write_text(PROGRAM)
    return workdir / "train.py"


def test_a_command_study_runs_the_program_per_trial(program: Path) -> None:
    code, output = invoke(*tune_args())
    assert code == 0, output
    done = trials()
    assert [t.state for t in done] == [TrialState.COMPLETE] * 4
    for trial in done:
        record = trial.user_attrs["record"]
        folder = folder_of(trial)
        seen = json.loads((folder / "seen.json").read_text())
        lr = trial.user_attrs["config"]["hyperparameters"]["lr"]
        # Values as Python writes them: an int never as 10.0, a float as repr gives it.
        assert seen["argv"] == [f"--lr={lr!r}", "--steps=40", "--every=10",
                                f"--seed={record['seed']}"]
        assert record["command"] == [sys.executable, "train.py", *seen["argv"]]
        assert seen["cwd"] == str(program.parent) == record["workdir"]
        assert seen["env"]["PYTHONUNBUFFERED"] == "1" and seen["env"]["OMP_NUM_THREADS"] == "1"
        assert seen["env"]["HPSEARCH_SEED"] == str(record["seed"])
        handed = json.loads(Path(seen["env"]["HPSEARCH_CONFIG"]).read_text())
        assert handed["hyperparameters"]["lr"] == lr and handed["steps"] == 40
        assert record["point_steps"] == [0, 10, 20, 30, 40]
        assert trial.value == pytest.approx(abs(__import__("math").log10(lr) + 2) + 1 / 41,
                                            abs=1e-4)
        assert record["exit_code"] == 0 and folder.is_absolute()
        assert "step 40:" in (folder / "stdout.log").read_text()
        # Listed at the program's own step: its points were at 0, 10, ... 40.
        assert trial_row(trial, 10)["best_step"] == (record["best_epoch"] - 1) * 10
    # What no placeholder carries is not drawn: adamw's betas, eps and weight decay stay fixed.
    assert set(done[0].params) == {"optimizer", "adamw_lr", "schedule"}  # one choice each but lr
    study = optuna.load_study(study_name="mine", storage="sqlite:///studies/hpsearch.db")
    assert set(study.user_attrs["space"]["fixed"]) == {
        "adamw_one_minus_beta1", "adamw_beta2", "adamw_eps", "adamw_weight_decay"}


def test_a_study_file_says_the_same(program: Path) -> None:
    Path("mine.toml").write_text(
        f'command = ["{sys.executable}", "train.py", "--lr={{lr}}", "--steps={{steps}}", '
        '"--every={eval_every}"]\n'
        f"metric_regex = '{PATTERN}'\n"
        'optimizers = ["adamw"]\nsteps = 20\neval_every = 10\nn_trials = 2\nstudy = "fromfile"\n')
    code, output = invoke("tune", "--config", "mine.toml")
    assert code == 0, output
    assert [t.state for t in trials("fromfile")] == [TrialState.COMPLETE] * 2


def test_pruning_stops_the_program_before_it_ends(program: Path, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    """The program prints without flushing (hpsearch sets PYTHONUNBUFFERED): a pruned trial is
    stopped at its point, never reaching its end, and its process is gone."""
    monkeypatch.setenv("DELAY", "0.15")
    code, output = invoke(*tune_args(COMMAND + " --wd={weight_decay}", "--steps", "80",
                                     "--sampler", "random", n_trials=10))
    assert code == 0, output
    pruned = [t for t in trials() if t.state == TrialState.PRUNED]
    assert pruned, "no trial was pruned"
    for trial in pruned:
        record, folder = trial.user_attrs["record"], folder_of(trial)
        step = record["point_steps"][-1]
        assert record["reason"] == f"pruned by the pruner after step {step}"
        assert not (folder / "finished").exists()
        # At most the point after the pruned one was reached before the stop.
        reached = sorted(int(p.name.split("-")[1]) for p in folder.glob("point-*"))
        assert reached[-1] <= step + 10
        pid = json.loads((folder / "seen.json").read_text())["pid"]
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text(
        ).rsplit(")", 1)[1].split()[0]


@pytest.mark.parametrize(("body", "reason"), [
    ("import sys\nprint('step 0: val loss 1.0')\nsys.exit('boom: the data is gone')",
     "exit code 1: boom: the data is gone"),
    ("print('nothing to see')", "without a line matching --metric-regex"),
])
def test_failures_are_recorded_with_their_reason(workdir: Path, body: str, reason: str) -> None:
    Path("train.py").write_text(body)
    code, output = invoke(*tune_args("{python} train.py --lr={lr}", n_trials=3))
    assert code == 1 and "3 trials in a row failed" in output, output
    assert "all failed" in output  # the table's best value
    for trial in trials():
        assert trial.state == TrialState.FAIL
        assert reason in trial.user_attrs["record"]["reason"]


def test_a_hung_program_that_ignores_sigterm_is_killed_at_the_trial_timeout(workdir: Path) -> None:
    Path("train.py").write_text(
        "import os, signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "open(os.path.join(os.environ['HPSEARCH_TRIAL_DIR'], 'pid'), 'w').write(str(os.getpid()))\n"
        "while True:\n    time.sleep(1)\n")
    code, output = invoke(*tune_args("{python} train.py --lr={lr}", "--trial-timeout", "1",
                                     "--grace-seconds", "0.5", n_trials=1))
    assert code == 1 and "3 trials in a row failed" in output, output
    for trial in trials():  # a failed trial does not count towards the total: three ran
        assert trial.state == TrialState.FAIL
        assert trial.user_attrs["record"]["reason"].startswith("trial timeout")
        pid = int((folder_of(trial) / "pid").read_text())
        assert not Path(f"/proc/{pid}").exists()


def test_a_program_writing_100_mb_to_each_stream(workdir: Path) -> None:
    Path("train.py").write_text(
        "import sys\nchunk = ('x' * 1023 + '\\n') * 1024\n"
        "for _ in range(100):\n    sys.stdout.write(chunk)\n    sys.stderr.write(chunk)\n"
        "print('step 1: val loss 0.5')\n")
    code, output = invoke(*tune_args("{python} train.py --lr={lr}", n_trials=1))
    assert code == 0, output
    (trial,) = trials()
    assert trial.state == TrialState.COMPLETE and trial.value == 0.5
    assert (folder_of(trial) / "stderr.log").stat().st_size == 100 * 2**20


def test_placeholders_the_space_cannot_fill_are_refused_before_storing(workdir: Path) -> None:
    Path("train.py").write_text(PROGRAM)
    for command, fragment in [("{python} train.py --lr={lr} --mom={momentum}",
                               "placeholder {momentum} has no value for optimizer 'adamw'"),
                              ("{python} train.py --lr={lr} --x={lerning_rate}",
                               "unknown placeholder {lerning_rate}")]:
        code, output = invoke(*tune_args(command))
        assert code == 2 and fragment in output and len(output.strip().splitlines()) == 1, output
    assert not Path("studies/hpsearch.db").exists()
    # With a default, a trial whose optimizer has no momentum gets the default.
    args = tune_args(COMMAND + " --opt={optimizer} --mom={momentum:0.0}", n_trials=4)
    args[args.index("adamw")] = "adamw,momentum"
    code, output = invoke(*args)
    assert code == 0, output
    for trial in trials():
        seen = json.loads((folder_of(trial) / "seen.json").read_text())["argv"]
        momentum = trial.user_attrs["config"]["hyperparameters"].get("momentum", 0.0)
        assert f"--mom={momentum!r}" in seen


def test_resuming_needs_the_same_command(program: Path) -> None:
    assert invoke(*tune_args(n_trials=1))[0] == 0
    before = Path("studies/hpsearch.db").read_bytes()
    code, output = invoke(*tune_args(COMMAND + " --extra=1", n_trials=2))
    assert code == 2 and "study 'mine' was made with command=" in output, output
    for resume in (["--task", "small"], []):  # without a command, with or without a task
        code, output = invoke("tune", *resume, "--study", "mine", "--n-trials", "2")
        assert code == 2 and "give it again with --command" in output, output
    assert Path("studies/hpsearch.db").read_bytes() == before


def test_workers_split_the_gpus(program: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    command = COMMAND + " --gpus={gpus} --device={device}"
    code, output = invoke(*tune_args(command, "--workers", "2", "--gpus-per-trial", "2",
                                     n_trials=6))
    assert code == 0, output
    seen = [json.loads((folder_of(t) / "seen.json").read_text()) for t in trials()]
    assert {s["env"]["CUDA_VISIBLE_DEVICES"] for s in seen} <= {"0,1", "2,3"}
    assert all(s["argv"][-2:] == ["--gpus=2", "--device=cuda"] for s in seen)
    assert {t.user_attrs["record"]["device"] for t in trials()} <= {
        "cuda (CUDA_VISIBLE_DEVICES=0,1)", "cuda (CUDA_VISIBLE_DEVICES=2,3)"}
    code, output = invoke(*tune_args(command, "--workers", "3", "--gpus-per-trial", "2",
                                     study="other"))
    assert code == 2 and "needs 6 GPUs; 4 are visible" in output, output


def test_a_killed_sweep_leaves_no_process_and_its_retry_sees_the_folder(program: Path) -> None:
    """SIGKILL of hpsearch: the program (and what it started) ends with it; the trial is
    reclaimed by the next run and retried with HPSEARCH_PREVIOUS_TRIAL_DIR."""
    env = {**os.environ, "DELAY": "30", "OMP_NUM_THREADS": "1"}
    args = tune_args(n_trials=1)
    sweep = subprocess.Popen([sys.executable, "-m", "hpsearch", *args], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen_file = poll(lambda: next(Path("studies/trials/mine").glob("*/seen.json"), None),
                     "the first trial's program started")
    pid = poll(lambda: json.loads(seen_file.read_text() or "null"), "its pid")["pid"]
    sweep.send_signal(signal.SIGKILL)
    sweep.wait(30)
    poll(lambda: True if not Path(f"/proc/{pid}").exists() else None,
         "the program gone after its sweep was killed", 20)
    env["DELAY"] = "0"
    resumed = subprocess.run([sys.executable, "-m", "hpsearch", *args], env=env,
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    retried = [t for t in trials() if t.state == TrialState.COMPLETE]
    seen = json.loads((folder_of(retried[0]) / "seen.json").read_text())
    assert seen["env"]["HPSEARCH_PREVIOUS_TRIAL_DIR"] == str(seen_file.parent.resolve())


CLIENT = r"""
import math, sys
from hpsearch.client import report
lr = float(sys.argv[1])
for step in range(0, 41, 10):
    report(step, abs(math.log10(lr) + 2.0) + 1.0 / (1 + step), train_loss=0.5)
"""
END_FILE = r"""
import json, math, os, sys
lr = float(sys.argv[1])
with open(os.path.join(os.environ["HPSEARCH_TRIAL_DIR"], "result.json"), "w") as f:
    json.dump({"value": abs(math.log10(lr) + 2.0), "step": 40}, f)
"""


@pytest.mark.parametrize(("program", "reading"), [(CLIENT, []),
                                                  (END_FILE, ["--metric-file", "result.json"])])
def test_points_from_the_client_and_from_a_file(workdir: Path, program: str,
                                                reading: list[str]) -> None:
    Path("train.py").write_text(program)
    code, output = invoke("tune", "--command", f"{sys.executable} train.py {{lr}}", *reading,
                          "--optimizers", "adamw", "--steps", "40", "--eval-every", "10",
                          "--n-trials", "3", "--study", "ways")
    assert code == 0, output
    for trial in trials("ways"):
        assert trial.state == TrialState.COMPLETE
        lr = trial.user_attrs["config"]["hyperparameters"]["lr"]
        record = trial.user_attrs["record"]
        if reading:
            assert trial.value == pytest.approx(abs(__import__("math").log10(lr) + 2), abs=1e-9)
            assert record["point_steps"] == [40]
        else:
            assert record["point_steps"] == [0, 10, 20, 30, 40]
            assert record["metrics"] == {"train_loss": 0.5}
            assert trial.intermediate_values[4] == trial.value


def test_the_decay_is_judged_by_the_programs_own_step(workdir: Path) -> None:
    """nanoGPT also reports at step 0: its 7th point of 2000/250 is step 1500, three quarters of
    the run, not 7/8 of it."""
    import torch

    from hpsearch.definition.config import load_config
    from hpsearch.engine.user_objective import user_objective
    from hpsearch.training.user.prepare import prepare_user

    config = load_config(None, None, {
        "command": "python t.py --lr={lr} --warmup_iters={warmup_steps} --min_lr={min_lr}",
        "metric_regex": PATTERN, "optimizers": ("adamw",), "schedules": ("cosine",),
        "steps": 2000, "eval_every": 250})
    objective = user_objective(config, prepare_user(config.user), 0, torch.device("cpu"))
    assert objective.waits_for_decay
    record = {"point_steps": [0, 250, 500, 750, 1000, 1250, 1500], "total_steps": 2000}
    assert objective.progress(7, 8, record) == 0.75
    assert objective.progress(2, 8, {"point_steps": [None, None], "total_steps": 2000}) == 0.25


def test_the_record_names_the_commit_the_program_ran_at(program: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=program.parent, check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    git("add", "train.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "train")
    assert invoke(*tune_args(n_trials=1, study="clean"))[0] == 0
    program.write_text(PROGRAM + "\n# changed\n")
    assert invoke(*tune_args(n_trials=1, study="changed"))[0] == 0
    commit = git("rev-parse", "HEAD")
    (clean,), (changed,) = trials("clean"), trials("changed")
    assert clean.user_attrs["record"]["git"] == {"commit": commit, "uncommitted_changes": False}
    assert changed.user_attrs["record"]["git"] == {"commit": commit, "uncommitted_changes": True}


def test_workdir_and_trials_dir(program: Path) -> None:
    """--workdir is where the program runs, --trials-dir where each trial's folder is made; the
    study's name is in the program's environment."""
    elsewhere = program.parent / "project"
    elsewhere.mkdir()
    (elsewhere / "train.py").write_text(PROGRAM)
    code, output = invoke(*tune_args(n_trials=1, study="placed"), "--workdir", str(elsewhere),
                          "--trials-dir", "runs")
    assert code == 0, output
    (trial,) = trials("placed")
    folder = folder_of(trial)
    assert folder == (program.parent / "runs" / "placed" / "trial-0").resolve()
    seen = json.loads((folder / "seen.json").read_text())
    assert seen["cwd"] == str(elsewhere.resolve()) == trial.user_attrs["record"]["workdir"]
    assert seen["env"]["HPSEARCH_STUDY"] == "placed"
