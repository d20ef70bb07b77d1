"""The user's own model: `--model FILE.py:FUNCTION` or `--model package.module:FUNCTION`, a function
`FUNCTION(in_features, out_features)` that returns a fresh `torch.nn.Module`."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.errors import ConfigError, choices

if TYPE_CHECKING:
    import torch

ModelBuilder = Callable[[int, int], "torch.nn.Module"]
FORMS = "FILE.py:FUNCTION or package.module:FUNCTION"


def load_model_builder(spec: str, option: str = "--model") -> ModelBuilder:
    """Import the function that `spec` names; errors name the bad part (as `option` gives it)
    and what would do."""
    where, _, name = spec.rpartition(":")
    if not where or not name:
        raise ConfigError(f"{option} '{spec}' must be {FORMS}")
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_file():
                raise ConfigError(f"{option} file '{where}' does not exist")
            module_name = f"hpsearch_user_model_{abs(hash(path.resolve()))}"
            loader = importlib.util.spec_from_file_location(module_name, path)
            assert loader is not None and loader.loader is not None
            module = importlib.util.module_from_spec(loader)
            sys.modules[module_name] = module  # dataclasses and pickling look modules up here
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except ConfigError:
        raise
    except Exception as error:  # the user's code: any error it raises on import
        raise ConfigError(f"{option} '{spec}' cannot be imported: "
                          f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                          ) from None
    if not hasattr(module, name):
        found = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
                       and getattr(v, "__module__", None) == module.__name__)
        raise ConfigError(f"{option} '{spec}': '{where}' has no '{name}'; "
                          f"valid choices: {choices(found) or '(no functions)'}")
    builder = getattr(module, name)
    if not callable(builder):
        raise ConfigError(f"{option} '{spec}': '{name}' is a {type(builder).__name__}, not callable")
    return builder  # type: ignore[no-any-return]


def check_model_builder(builder: ModelBuilder, spec: str, n_features: int,
                        n_outputs: int, rows: Any = None,
                        needed: tuple[int, ...] | None = None) -> torch.nn.Module:
    """Build one model, before any study starts, and refuse anything but an nn.Module; with
    `rows` (a few training rows), run it once and refuse an output of the wrong shape."""
    import torch

    try:
        model = builder(n_features, n_outputs)
    except Exception as error:
        raise ConfigError(f"--model '{spec}' failed to build with ({n_features}, {n_outputs}): "
                          f"{type(error).__name__}: {error}") from None
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(f"--model '{spec}' returned {type(model).__name__}, "
                          "not a torch.nn.Module")
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError(f"--model '{spec}' has no trainable parameters")
    if rows is not None:
        check_output_shape(model, spec, torch.as_tensor(rows), n_outputs, needed)
    return model


def check_output_shape(model: torch.nn.Module, spec: str, rows: torch.Tensor,
                       n_outputs: int, needed: tuple[int, ...] | None = None) -> None:
    """One forward pass on `rows`: the output must be (rows, n_outputs), or `needed` (a language
    model's (rows, context, vocabulary)); a loss would otherwise broadcast a wrong shape into a
    wrong number, not an error."""
    import torch

    try:
        with torch.no_grad():
            output = model(rows)
    except Exception as error:
        raise ConfigError(f"--model '{spec}' failed on a batch of {len(rows)} training rows "
                          f"{tuple(rows.shape)}: {type(error).__name__}: {error}") from None
    needed = needed or (len(rows), n_outputs)
    allowed = {needed, (len(rows),)} if needed == (len(rows), 1) else {needed}  # may be squeezed
    if not isinstance(output, torch.Tensor) or tuple(output.shape) not in allowed:
        got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ConfigError(f"--model '{spec}' returned output of shape {got} for a batch of "
                          f"{len(rows)} rows; it must be {needed} (rows, outputs)")
