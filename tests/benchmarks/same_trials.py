"""Check that a refactor left the trials of a study unchanged.

Runs `hpsearch tune --task classification --seed 0 --n-trials 12 --epochs 4` once in a temporary git
worktree of REV and once in the working tree (each with its own `hpsearch` package and its own
`studies/classification.toml`, each into a fresh SQLite file), then compares every trial's number,
state, parameters, intermediate values and value exactly.

Run: `python tests/benchmarks/same_trials.py REV` (REV: any git revision, e.g. `HEAD~3`). Prints one
line per differing trial and exits 1 if any differ; otherwise prints one summary line and exits 0.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import optuna

REPO_ROOT = Path(__file__).resolve().parents[2]
STUDY = "classification"
TUNE_ARGS = ["tune", "--task", STUDY, "--seed", "0", "--n-trials", "12", "--epochs", "4"]
LAUNCH = "import sys; sys.argv[0] = 'hpsearch'; from hpsearch.cli import main; main()"

TrialKey = tuple[int, str, list[tuple[str, Any]], list[tuple[int, float]], float | None]


def git(*args: str) -> str:
    """Run git in the repository root and return its stripped standard output."""
    done = subprocess.run(["git", *args], cwd=REPO_ROOT, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def tune(tree: Path, db: Path) -> str:
    """Run the tune command with `tree`'s package and study files; return the storage URL."""
    url = f"sqlite:///{db}"
    env = {key: value for key, value in os.environ.items() if key != "HPSEARCH_STORAGE"}
    env.update(PYTHONPATH=str(tree), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", LAUNCH, *TUNE_ARGS, "--storage", url], cwd=tree,
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"same_trials: tune in {tree} exited {done.returncode}\n{done.stdout}{done.stderr}")
        sys.exit(1)
    return url


def trials(url: str) -> dict[int, TrialKey]:
    """Every trial of the study at `url`, by number, as a comparable tuple."""
    study = optuna.load_study(study_name=STUDY, storage=url)
    return {t.number: (t.number, t.state.name, sorted(t.params.items()),
                       sorted(t.intermediate_values.items()), t.value) for t in study.trials}


def compare(old: dict[int, TrialKey], new: dict[int, TrialKey], rev: str) -> int:
    """Print one line per trial that differs or is on one side only; return how many."""
    differ = 0
    for number in sorted(old.keys() | new.keys()):
        if number not in new:
            print(f"trial {number}: only at {rev}: {old[number]}")
        elif number not in old:
            print(f"trial {number}: only in the working tree: {new[number]}")
        elif old[number] != new[number]:
            print(f"trial {number}: {rev}: {old[number]} | working tree: {new[number]}")
        else:
            continue
        differ += 1
    return differ


def main(argv: list[str]) -> int:
    """Tune at REV and in the working tree, compare the studies, return the exit status."""
    if len(argv) != 1:
        print(__doc__)
        return 2
    rev = git("rev-parse", "--short", argv[0])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="same_trials_"))
    worktree = tmp / "tree"
    try:
        git("worktree", "add", "--detach", str(worktree), rev)
        try:
            old = trials(tune(worktree, tmp / "rev.db"))
            new = trials(tune(REPO_ROOT, tmp / "head.db"))
        finally:
            git("worktree", "remove", "--force", str(worktree))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    differ = compare(old, new, rev)
    if differ:
        print(f"same_trials: {differ} of {len(old.keys() | new.keys())} trials differ")
        return 1
    print(f"same_trials: {len(new)} trials at {rev} and in the working tree: no difference")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
