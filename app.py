#!/usr/bin/env python3
"""CDK entry point: typed config from context -> stacks -> cdk-nag.

`npx --no-install cdk synth` runs this file; tests, the demo and the synth benchmark call
`build_app()` with the context from cdk.json so they synthesize exactly what the CLI does.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Node 20 (the pinned toolchain) makes jsii print a large end-of-life banner on every start:
# quiet before aws_cdk (and its jsii kernel) is imported below.
from dtrain.node_banners import QUIET_NODE_ENV

os.environ.update({**QUIET_NODE_ENV, **os.environ})  # the user's own values win

if __name__ == "__main__":
    # Run by the CDK CLI: a bad config is refused before the CDK (jsii's Node.js) starts.
    from dtrain.config import exit_on_bad_cli_context

    exit_on_bad_cli_context()

from aws_cdk import App, DefaultStackSynthesizer, Environment, RemovalPolicy, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from dtrain.config import ConfigErrors, DtrainConfig
from stacks.nag_acknowledgments import acknowledge_platform
from stacks.network_stack import NetworkStack
from stacks.orchestration_stack import OrchestrationOptions, OrchestrationStack
from stacks.platform import Platform
from stacks.storage_stack import JOBS_PREFIX, StorageStack
from stacks.training_stack import TrainingStack

ROOT = Path(__file__).resolve().parent


def cdk_json_context(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The context the CDK CLI would pass: cdk.json's, then `-c`-style overrides on top."""
    context = dict(json.loads((ROOT / "cdk.json").read_text())["context"])
    context.update(overrides or {})
    return context


def build_app(
    context: Mapping[str, Any] | None = None, *, outdir: str | None = None, acknowledge: bool = True
) -> tuple[App, Platform]:
    """Build the whole app. `context=None` means "run by the CDK CLI" (it passes cdk.json + -c).

    `acknowledge=False` leaves out the cdk-nag acknowledgments: the test suite uses it to prove
    that every acknowledgment still matches a real finding."""
    app = App(context=dict(context) if context is not None else None, outdir=outdir)
    config = DtrainConfig.from_context(app.node.get_all_context())

    env = Environment(account=config.account, region=config.region) if config.explicit_env else None
    if config.explicit_env and config.network.availability_zones:
        # Fill CDK's own lookup cache from config: with an explicit env, anything asking the
        # stack for its zones reads this instead of calling EC2, so synth needs no credentials.
        app.node.set_context(
            f"availability-zones:account={config.account}:region={config.region}",
            list(config.network.availability_zones),
        )

    # The bootstrap-version rule checks an SSM parameter the bootstrap stack creates: right for
    # real deploys, but the embedded emulator has no bootstrap stack, so `emulator: true` drops it.
    def synthesizer() -> DefaultStackSynthesizer:
        return DefaultStackSynthesizer(generate_bootstrap_version_rule=config.bootstrap_rule)

    prefix = config.stack_prefix
    network = NetworkStack(
        app,
        f"{prefix}Network",
        config=config,
        env=env,
        synthesizer=synthesizer(),
        description="dtrain network: VPC, private subnets, VPC endpoints, training security group",
    )
    storage = StorageStack(
        app,
        f"{prefix}Storage",
        config=config,
        vpc=network.vpc,
        private_subnets=network.private_subnets,
        private_subnet_ids=network.private_subnet_ids,
        training_sg=network.training_sg,
        env=env,
        synthesizer=synthesizer(),
        description="dtrain storage: data/artifacts/checkpoint buckets, KMS key, FSx for Lustre, EFS",
    )
    training = TrainingStack(
        app,
        f"{prefix}Training",
        config=config,
        vpc=network.vpc,
        key=storage.key,
        data_bucket=storage.data_bucket,
        artifacts_bucket=storage.artifacts_bucket,
        checkpoints_bucket=storage.checkpoints_bucket,
        fsx_id=storage.fsx_id,
        env=env,
        synthesizer=synthesizer(),
        description="dtrain training: SageMaker execution role, packaged training images",
    )
    platform = Platform(config=config, network=network, storage=storage, training=training)

    # The orchestration consumes the other stacks' resources as typed arguments; its own
    # cdk-nag acknowledgments live inside it (stacks/orchestration/nag.py).
    OrchestrationStack(
        app,
        f"{prefix}Orchestration",
        artifacts_bucket=storage.artifacts_bucket,
        checkpoints_bucket=storage.checkpoints_bucket,
        data_key=storage.key,
        data_bucket=storage.data_bucket,
        execution_role=training.execution_role,
        vpc=network.vpc,
        subnets=network.private_subnet_list,
        training_security_group=network.training_sg,
        image_uris=training.image_uris,
        fsx_id=storage.fsx_id,
        fsx_mount_name=storage.fsx_mount_name,
        efs_id=storage.efs_id,
        output_prefix=JOBS_PREFIX,
        checkpoint_prefix=JOBS_PREFIX,
        options=OrchestrationOptions(
            job_name_prefix=config.job_name_prefix,  # this platform's own jobs only
            notification_email=config.notification_email,
            jobs_in_vpc=config.network.jobs_in_vpc,
            removal_policy=RemovalPolicy.RETAIN if config.retain else RemovalPolicy.DESTROY,
            tags=dict(config.tags),
        ),
        env=env,
        synthesizer=synthesizer(),
        description="dtrain orchestration: state machine, Lambdas, job ledger, events, notifications",
    )

    for key, value in config.tags.items():
        Tags.of(app).add(key, value)
    if acknowledge:
        acknowledge_platform(platform)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, platform


def main() -> int:
    try:
        app, _ = build_app()
    except ConfigErrors as errors:
        print(errors, file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
