"""Merges the two ways SageMaker hands hyperparameters to a script.

The toolkit exports SM_HPS and also passes each hyperparameter as ``--name value`` on the command
line (local mode and bare launchers may do only the latter); the command line wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from common.sagemaker_env import ContractError, Hyperparameters, decode_hyperparameter


def merge_cli_hyperparameters(base: Hyperparameters, argv: Sequence[str]) -> Hyperparameters:
    values: dict[str, object] = dict(base.values)
    values.update(parse_cli_pairs(argv))
    return Hyperparameters(values)


def parse_cli_pairs(argv: Sequence[str]) -> Mapping[str, object]:
    parsed: dict[str, object] = {}
    index = 0
    while index < len(argv):
        token = argv[index]
        if not token.startswith("--"):
            raise ContractError("argv", token, "expected --name value pairs")
        name, eq, value = token[2:].partition("=")
        if not eq:
            if index + 1 >= len(argv):
                raise ContractError(f"--{name}", None, "has no value")
            index += 1
            value = argv[index]
        parsed[name.replace("-", "_")] = decode_hyperparameter(value)
        index += 1
    return parsed
