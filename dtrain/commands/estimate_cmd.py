"""`dtrain estimate SPEC`: the worst-case cost of a job spec before it runs.

Prices every request the spec becomes (training x sweep entries, warm pools, processing, and per
hour the endpoint and transform job it leaves running) from the price table
(dtrain/pricing/prices-us-east-1.json, or --prices FILE / DTRAIN_PRICES). Without --platform the
requests are built against a placeholder platform in the table's region, as `validate` does.

Exit codes: 0 estimated; 2 the spec is invalid (the errors `validate` prints), the price table
or the platform settings cannot be read, or the table has no price for an instance type.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_ERROR = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "estimate",
        help="print the worst-case cost of a job spec (instances x count x max_run, warm pools, ...)",
        description=(
            "Worst case: every job runs to its time limit on on-demand prices; endpoints and "
            "transform jobs are priced per hour. Prices: a dated table in the package, or --prices."
        ),
    )
    parser.add_argument("spec", help="job spec file (JSON or YAML)")
    parser.add_argument(
        "--platform", metavar="FILE", help="platform settings JSON to build the requests with"
    )
    parser.add_argument(
        "--prices", metavar="FILE", help="price table JSON (default: $DTRAIN_PRICES or the packaged one)"
    )
    parser.add_argument("--json", action="store_true", help="print the estimate as JSON")
    parser.set_defaults(func=handle)


def _money(usd: float) -> str:
    return f"${usd:,.2f}" if usd >= 0.01 or usd == 0 else f"${usd:.4f}"


def _text(spec_path: str, estimate: Any, hours_per_month: float) -> str:
    lines = [f"{spec_path}: worst case at {estimate.prices}"]
    for line in estimate.bounded:
        lines.append(
            f"  {line.item:<19}{line.count} x {line.instance_type:<17}{line.hours:>8.2f} h  "
            f"{_money(line.usd):>10}  ({line.detail})"
        )
    lines.append(f"  {'worst case':<57}{_money(estimate.worst_case_usd):>10}")
    if estimate.per_hour:
        lines.append("  then, per hour:")
        for line in estimate.per_hour:
            # An endpoint bills until deleted: its month says what forgetting it costs.
            month = f"; ${line.usd * hours_per_month:,.2f} per {hours_per_month:g} h month"
            lines.append(
                f"  {line.item:<19}{line.count} x {line.instance_type:<17}{'':>10}"
                f"{f'${line.usd:.3f}':>10}/h  ({line.detail}{month if line.item == 'endpoint' else ''})"
            )
    lines += [f"  note: {note}" for note in estimate.notes]
    return "\n".join(lines)


def handle(args: argparse.Namespace) -> int:
    from dtrain.jobspec.errors import SpecError, SpecErrors, as_error_list
    from dtrain.jobspec.placeholder import placeholder_platform
    from dtrain.jobspec.platform import PlatformSettings
    from dtrain.jobspec.spec import load_spec
    from dtrain.pricing.price_table import MissingPrice, PriceTableError, load_price_table
    from dtrain.pricing.spec_cost import estimate_spec

    try:
        table = load_price_table(args.prices)
        platform = (
            PlatformSettings.from_file(args.platform) if args.platform else placeholder_platform(table.region)
        )
        estimate = estimate_spec(load_spec(args.spec), platform, table)
    except (SpecError, SpecErrors) as exc:
        for error in as_error_list(exc):
            print(str(error), file=sys.stderr)
        return EXIT_ERROR
    except (PriceTableError, MissingPrice) as exc:
        print(f"dtrain estimate: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"{args.platform}: cannot read platform settings: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        json.dump({"spec": args.spec, **estimate.as_dict()}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(_text(args.spec, estimate, table.hours_per_month))
    return 0
