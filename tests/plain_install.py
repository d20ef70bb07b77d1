"""What a plain `pip install .` (no extras) runs: every built-in study, for two short trials each.

    python tests/plain_install.py VENV

VENV is a fresh virtual environment holding hpsearch installed without extras (`make
plain-install-check` makes one, outside the development environment). Its torch must be the CPU
build the pin gives, `hpsearch optimizers` must list no optimizer as unavailable, and each
`studies/*.toml` must run as `hpsearch tune --config FILE` for two trials of one epoch (a few steps
for a budget in steps), two processes at a time with one thread each, into a storage of its own
beside VENV. Exits 1 when anything failed, with the end of what it printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # a dependency of hpsearch on Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
TRIALS = ["--n-trials", "2"]
BY_EPOCHS = ["--epochs", "1"]
BY_STEPS = ["--steps", "10", "--eval-every", "5"]  # two evaluation points, for the pruner
TIMEOUT_S = 300  # for one command
AT_ONCE = 2  # studies run side by side: the 2 cores CI has


def run(command: list[str], folder: Path) -> tuple[bool, str]:
    """(whether `command` exited 0 in time, what it printed)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HPSEARCH_STORAGE", None)
    try:
        done = subprocess.run(command, cwd=folder, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as stopped:
        return False, f"ran past {TIMEOUT_S} s\n{stopped.stdout or ''}{stopped.stderr or ''}"
    return done.returncode == 0, f"exit code {done.returncode}\n{done.stdout}{done.stderr}"


def budget(study: Path) -> list[str]:
    """The override giving a short run of `study`: its budget is in steps or in epochs."""
    with study.open("rb") as handle:
        definition = tomllib.load(handle)
    return BY_STEPS if {"steps", "tokens"} & definition.keys() else BY_EPOCHS


def check(venv: Path) -> list[str]:
    """What failed, one entry each (with its output); printing a line per step as it goes."""
    folder = venv.parent
    failed = []
    torch = [str(venv / "bin" / "python"), "-c",
             "import torch; print(torch.__version__, torch.version.cuda or '')"]
    ok, said = run(torch, folder)
    version, _, cuda = said.splitlines()[1].partition(" ") if ok else (said, "", "")
    build = f"torch {version} ({f'CUDA {cuda}' if cuda else 'CPU'} build)"
    print(build, flush=True)
    if not ok or cuda:
        failed.append(f"not the CPU build of torch the pin gives: {build}")
    hpsearch = str(venv / "bin" / "hpsearch")
    ok, said = run([hpsearch, "optimizers"], folder)
    unavailable = [line for line in said.splitlines() if "unavailable" in line]
    if not ok or unavailable:
        failed.append("hpsearch optimizers: " + ("\n".join(unavailable) if ok else said))

    def tune(study: Path) -> str | None:
        started = time.monotonic()
        ok, said = run([hpsearch, "tune", "--config", str(study), *TRIALS, *budget(study),
                        "--storage", f"sqlite:///{folder / study.with_suffix('.db').name}", "--quiet"],
                       folder)
        print(f"studies/{study.name}: {'ok' if ok else 'FAILED'} in {time.monotonic() - started:.1f} s",
              flush=True)
        return None if ok else f"studies/{study.name}: {said}"

    with ThreadPoolExecutor(AT_ONCE) as pool:
        outcomes = list(pool.map(tune, sorted((REPO / "studies").glob("*.toml"))))
    return failed + [failure for failure in outcomes if failure]


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not (Path(argv[0]) / "bin" / "hpsearch").is_file():
        print("usage: python tests/plain_install.py VENV (a virtual environment with hpsearch "
              "installed)", file=sys.stderr)
        return 2
    failed = check(Path(argv[0]).resolve())
    for failure in failed:
        print(f"plain install: {failure[-3000:]}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
