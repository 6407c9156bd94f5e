"""The price table `dtrain estimate` and the platform's idle-cost figures read: one dated JSON file.

The package ships `prices-us-east-1.json` (public on-demand prices, with the date they were read
and the pages they come from). A platform team with other prices copies it, edits it and points
`--prices FILE` or DTRAIN_PRICES at the copy; nothing else changes. A price the table lacks is
never guessed: `MissingPrice` names it and the file to add it to.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRICES_ENV = "DTRAIN_PRICES"
DEFAULT_TABLE = Path(__file__).with_name("prices-us-east-1.json")

# What the platform's idle cost needs (dtrain.pricing.idle_cost); a table without one is refused.
PLATFORM_KEYS = (
    "fsx_lustre_gb_month",
    "efs_standard_gb_month",
    "interface_endpoint_az_hour",
    "nat_gateway_hour",
    "kms_key_month",
    "cloudwatch_alarm_metric_month",
    "cloudwatch_dashboard_month",
    "lambda_request_million",
    "lambda_gb_second",
)


class PriceTableError(Exception):
    """The table cannot be used: the message names the file and what is wrong."""


class MissingPrice(Exception):
    def __init__(self, what: str, table: PriceTable) -> None:
        super().__init__(
            f"no price for {what} in {table.path} ({table.region}, {table.checked}); add it there"
        )
        self.what = what


@dataclass(frozen=True)
class PriceTable:
    path: Path
    region: str
    currency: str
    checked: str  # the date the prices were read (YYYY-MM-DD)
    hours_per_month: float
    instance_hour: Mapping[str, float]
    instance_hour_by_use: Mapping[str, Mapping[str, float]]
    ml_storage_gb_month: float
    platform: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)

    def instance_price(self, instance_type: str, use: str = "training") -> float:
        """On-demand price per instance-hour of `instance_type` for `use` (training, processing,
        hosting, transform)."""
        by_use = self.instance_hour_by_use.get(use, {})
        price = by_use.get(instance_type, self.instance_hour.get(instance_type))
        if price is None:
            raise MissingPrice(f"{instance_type} ({use})", self)
        return float(price)

    def platform_price(self, key: str) -> Any:
        if key not in self.platform:
            raise MissingPrice(f"platform.{key}", self)
        return self.platform[key]

    @property
    def label(self) -> str:
        return f"{self.region} on-demand prices of {self.checked}"


def _number_map(value: Any, where: str, path: Path) -> dict[str, float]:
    if not isinstance(value, Mapping) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in value.values()
    ):
        raise PriceTableError(f"{path}: {where}: must map names to prices (numbers >= 0)")
    return {str(k): float(v) for k, v in value.items()}


def load_price_table(path: str | Path | None = None) -> PriceTable:
    """The table at `path`, else $DTRAIN_PRICES, else the packaged us-east-1 table."""
    chosen = Path(path or os.environ.get(PRICES_ENV) or DEFAULT_TABLE)
    try:
        data = json.loads(chosen.read_text())
    except OSError as exc:
        raise PriceTableError(f"{chosen}: cannot read the price table: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise PriceTableError(f"{chosen}: not JSON: {exc}") from None
    try:
        sagemaker = data["sagemaker"]
        platform = data["platform"]
        table = PriceTable(
            path=chosen,
            region=str(data["region"]),
            currency=str(data["currency"]),
            checked=str(data["checked"]),
            hours_per_month=float(data["hours_per_month"]),
            instance_hour=_number_map(sagemaker["instance_hour"], "sagemaker.instance_hour", chosen),
            instance_hour_by_use={
                str(use): _number_map(prices, f"sagemaker.instance_hour_by_use.{use}", chosen)
                for use, prices in (sagemaker.get("instance_hour_by_use") or {}).items()
            },
            ml_storage_gb_month=float(sagemaker["ml_storage_gb_month"]),
            platform=dict(platform),
            sources=dict(data.get("sources") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PriceTableError(f"{chosen}: missing or malformed entry {exc}") from None
    missing = [key for key in PLATFORM_KEYS if key not in table.platform]
    if missing:
        raise PriceTableError(f"{chosen}: platform prices missing: {', '.join(missing)}")
    return table
