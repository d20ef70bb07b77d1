"""The winning configuration in forms a training script can use: JSON, TOML, or plain PyTorch."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hpsearch import record
from hpsearch.errors import ConfigError, HpsearchError, choices
from hpsearch.space.optimizers import OPTIMIZERS
from hpsearch.space.schedules import python_code as schedule_code

if TYPE_CHECKING:
    import optuna

FORMATS = ("json", "toml", "python", "lightning", "hf")


def best_config(study: optuna.Study) -> dict[str, Any]:
    """The exported configuration of the study's best complete trial; under `trial` (which
    `build_optimizer` ignores), where it came from: its number, seed, best epoch and the raw
    parameters Optuna drew."""
    trial = record.best_trial(study.get_trials(deepcopy=False), record.direction_of(study))
    if trial is None:
        raise HpsearchError(f"study '{study.study_name}' has no complete trial yet")
    attrs, measured = study.user_attrs, record.trial_attrs(trial)
    return {
        **measured[record.CONFIG],
        "metric": {"name": attrs.get(record.METRIC, "value"), "value": trial.value,
                   "direction": record.direction_of(study)},
        "epochs": attrs.get(record.EPOCHS),
        # The length its schedule was shaped on: the steps trained, or what a user's loop said.
        "steps": measured.get(record.TOTAL_STEPS, measured[record.CONFIG].get("steps")),
        "batch_size": attrs.get(record.BATCH_SIZE),
        **({"classes": attrs[record.CLASSES]} if attrs.get(record.CLASSES) else {}),
        "study": study.study_name,
        "trial": {"number": trial.number, "seed": measured.get(record.SEED),
                  "best_epoch": measured.get(record.BEST_POINT),
                  "best_value": measured.get(record.BEST_VALUE), "params": dict(trial.params)},
    }


def render(config: Mapping[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(config, indent=2)
    if fmt == "toml":
        return to_toml(config)
    if fmt == "python":
        return to_python(config)
    if fmt in ("lightning", "hf"):
        from hpsearch.space.export_frameworks import to_hf, to_lightning

        return to_lightning(config) if fmt == "lightning" else to_hf(config)
    raise ConfigError(f"unknown format '{fmt}'; valid choices: {choices(FORMATS)}")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if value == value and abs(value) != float("inf") else (
            "nan" if value != value else ("inf" if value > 0 else "-inf"))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml_key(key: str) -> str:
    return key if key and all(c.isalnum() or c in "_-" for c in key) else json.dumps(key)


def to_toml(config: Mapping[str, Any], table: str = "") -> str:
    """Scalars first, then one table per mapping (nested ones as `[a.b]`); None has no TOML form
    and is left out (it is torch's default wherever it appears here)."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in config.items()
             if v is not None and not isinstance(v, Mapping)]
    for key, value in config.items():
        if isinstance(value, Mapping):
            name = f"{table}.{_toml_key(key)}" if table else _toml_key(key)
            lines.append(f"\n[{name}]\n" + to_toml(value, name).rstrip("\n"))
    return "\n".join(lines) + "\n"


def _python_value(value: Any) -> str:
    if isinstance(value, list):
        return "(" + ", ".join(_python_value(v) for v in value) + ")"
    return repr(value)


def to_python(config: Mapping[str, Any]) -> str:
    """The lines of plain PyTorch that build the same optimizer and schedule (`model` in scope)."""
    spec = OPTIMIZERS[config["optimizer"]]  # printing code needs no optional package
    args = {**config["hyperparameters"], **(config.get("implementation") or {})}
    call = ", ".join(["model.parameters()", *(f"{k}={_python_value(v)}" for k, v in args.items())])
    metric = config.get("metric") or {}
    lines = ["import torch", ""] if spec.build is None else ["import hpsearch", ""]
    if spec.package:
        lines.insert(0, f"import {spec.torch_class.split('.')[0]}  # pip install {spec.package}")
    if metric:  # every stored value as `repr`: a newline in one cannot end the comment
        trial = config.get("trial")
        number = trial.get("number") if isinstance(trial, Mapping) else trial
        lines.append(
            f"# hpsearch study {config.get('study')!r}, trial {number!r}: "
            f"{metric.get('name')!r} {metric.get('value')!r} ({metric.get('direction')!r}), "
            f"{config.get('epochs')!r} epochs, batch size {config.get('batch_size')!r}"
        )
    rules = (config.get("parametrization") or {}).get("name")
    if rules == "mup":  # µP's learning rates per group: built by hpsearch from the model built in µP
        p = config["parametrization"]
        lines = ["import hpsearch", "from hpsearch.tasks.mup import parametrize", "",
                 f"# µP at width {p['width']!r}, base width {p['base_width']!r}: build your model at "
                 "both widths, then",
                 f"# model = parametrize(model, base_model, {p['width']!r}, {p['base_width']!r})",
                 f"config = {dict(config)!r}", "optimizer = hpsearch.build_optimizer(config, model)"]
    elif rules == "completep":  # µP's and depth's rules: the model built by hpsearch's build_at
        p = config["parametrization"]
        lines = ["import hpsearch", "from hpsearch.tasks.completep import build_at", "",
                 f"# CompleteP at width {p['width']!r} and depth {p['depth']!r} (base "
                 f"{p['base_width']!r} and {p['base_depth']!r}), from build(vocab_size, context, "
                 "width, depth):",
                 f"# model = build_at(build, vocab_size, context, {p['width']!r}, 'completep', "
                 f"{p['base_width']!r}, {p['depth']!r}, {p['base_depth']!r})",
                 f"config = {dict(config)!r}", "optimizer = hpsearch.build_optimizer(config, model)"]
    elif spec.build is None and config.get("weight_decay_on") == "matrices" and spec.decays:
        lines += ["# weight decay on weight matrices only: never biases, norms or embeddings",
                  "embeddings = {id(p) for m in model.modules() if isinstance(m, (torch.nn.Embedding, "
                  "torch.nn.EmbeddingBag)) for p in m.parameters()}",
                  "trained = [p for p in model.parameters() if p.requires_grad]",
                  "decayed = [p for p in trained if p.ndim >= 2 and id(p) not in embeddings]",
                  "others = [p for p in trained if p.ndim < 2 or id(p) in embeddings]",
                  f"optimizer = {spec.torch_class}([{{'params': decayed}}, {{'params': others, "
                  f"'weight_decay': 0.0}}]{call.removeprefix('model.parameters()')})"]
    elif spec.build is None:
        lines.append(f"optimizer = {spec.torch_class}({call})")
    else:  # two optimizers in one (Muon and AdamW): built from the model by hpsearch
        lines.append(f"config = {dict(config)!r}")
        lines.append("optimizer = hpsearch.build_optimizer(config, model)")
    lines += schedule_code(config.get("schedule") or {"name": "none"}, config.get("steps"))
    if config.get("clip_grad_norm") is not None:
        lines.append(f"max_grad_norm = {config['clip_grad_norm']!r}")
        lines.append("# after loss.backward(), before optimizer.step(): "
                     "torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)")
    if spec.train_eval_modes:
        lines.append("# call optimizer.train() before training steps and optimizer.eval() before "
                     "evaluating or saving the model")
    if spec.needs_closure:
        lines.append("# full batch: optimizer.step(closure), where closure() zeroes the "
                     "gradients, computes the loss, calls backward() and returns the loss")
    return "\n".join(lines) + "\n"
