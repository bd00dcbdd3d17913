"""Search-space parameters: a thin typed layer mapping 1:1 onto Ax's parameter configs.

A search space is a list of these.  ``Int`` and ``Float`` are ranges (optionally searched on
a log scale); ``Choice`` is a finite set (ordered values such as kernel sizes let the GP
model distance between them); ``Fixed`` is a constant that the builder still receives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, Sequence, Union

if TYPE_CHECKING:  # Ax is imported only where a search space meets Ax (not on Ray workers)
    from ax.api.configs import ChoiceParameterConfig, RangeParameterConfig

Value = Union[int, float, str, bool]


@dataclass(frozen=True)
class _Range:
    name: str
    low: float
    high: float
    log: bool = False
    kind: ClassVar[Literal["float", "int"]] = "float"

    def to_ax(self) -> RangeParameterConfig:
        from ax.api.configs import RangeParameterConfig

        return RangeParameterConfig(
            name=self.name, parameter_type=self.kind, bounds=(self.low, self.high),
            scaling="log" if self.log else "linear",
        )


@dataclass(frozen=True)
class Int(_Range):
    """Integers low..high (inclusive)."""

    low: int
    high: int
    kind: ClassVar[Literal["float", "int"]] = "int"


@dataclass(frozen=True)
class Float(_Range):
    """Reals in [low, high]."""


@dataclass(frozen=True)
class Choice:
    name: str
    values: tuple[Value, ...]
    ordered: bool | None = None  # None: ordered when all values are numbers

    def to_ax(self) -> ChoiceParameterConfig:
        from ax.api.configs import ChoiceParameterConfig

        kinds = {type(v) for v in self.values}
        if len(kinds) != 1:
            raise ValueError(f"Choice {self.name!r}: values must share one type, got {kinds}")
        kinds_in_ax: dict[type, Literal["int", "float", "str", "bool"]] = {
            int: "int", float: "float", str: "str", bool: "bool"}
        kind = kinds_in_ax[kinds.pop()]
        ordered = self.ordered if self.ordered is not None else kind in ("int", "float")
        return ChoiceParameterConfig(
            name=self.name, parameter_type=kind, values=list(self.values),  # type: ignore[arg-type]  # one type: checked above
            is_ordered=ordered
        )


@dataclass(frozen=True)
class Fixed:
    name: str
    value: Value

    def to_ax(self) -> ChoiceParameterConfig:
        return Choice(self.name, (self.value,)).to_ax()


Parameter = Union[Int, Float, Choice, Fixed]


def to_ax(space: Sequence[Parameter]) -> list["RangeParameterConfig | ChoiceParameterConfig"]:
    """Ax parameter configs for a search space; names must be unique."""
    names = [p.name for p in space]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"search space: duplicate parameter names {duplicates}")
    return [p.to_ax() for p in space]
