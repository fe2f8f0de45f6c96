"""Plan: every (model, runtime, precision, batch) cell of a run, in table order, and the cells that can be
told skipped before anything is built (the model has no implementation, the runtime is not installed here,
the runtime does not take this precision or batch)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgebench.cache import slug
from edgebench.config import RunConfig
from edgebench.models.spec import ModelSpec
from edgebench.runtimes import get_runtime

if TYPE_CHECKING:
    from edgebench.quantize.base import QuantOptions


@dataclass(frozen=True)
class Cell:
    model: ModelSpec
    runtime: str
    precision: str
    batch_size: int
    # A recipe variant (``edgebench optimize``): its name, and the recipe options it builds with (None: the run's).
    variant: str = ""
    quant: QuantOptions | None = None

    @property
    def key(self) -> str:
        base = f"{self.model.id}|{self.runtime}|{self.precision}|b{self.batch_size}"
        return f"{base}|{self.variant}" if self.variant else base

    @property
    def slug(self) -> str:
        return slug(self.key)

    @property
    def group(self) -> str:
        """The cells compared with each other, timed in alternating rounds: a model at one batch size."""
        return f"{self.model.id}|b{self.batch_size}"


def plan(specs: list[ModelSpec], runtimes: list[str], config: RunConfig) -> list[Cell]:
    """Every (model, runtime, precision, batch) of the run, in table order."""
    return [Cell(spec, runtime, precision, batch)
            for spec in specs for runtime in runtimes
            for precision in config.precisions for batch in config.batch_sizes]


def skip_reason(cell: Cell) -> str | None:
    """Why a cell cannot run here, known before building anything (None: it may run)."""
    if not cell.model.available:
        return cell.model.unavailable_reason
    runtime_cls = get_runtime(cell.runtime)
    available = runtime_cls.availability()
    if not available.ok:
        return available.reason
    return runtime_cls().supports(cell.model, cell.precision, cell.batch_size)


def need_calibration(cells: list[Cell]) -> bool:
    """Whether any cell's precision is built by a recipe that calibrates (INT8, not FP16)."""
    from edgebench.quantize.base import recipe_class

    recipes = {get_runtime(c.runtime).recipe_for(c.model, c.precision) for c in cells} - {None}
    return any(recipe_class(path).needs_calibration for path in recipes)


def engine_batches(spec: ModelSpec, batch_sizes: tuple[int, ...]) -> list[int]:
    """The batch sizes a compiled engine must serve (one optimisation profile each)."""
    return [spec.fixed_batch] if spec.fixed_batch else sorted(set(batch_sizes))
