#!/usr/bin/env python3
"""CDK entry point: the platform as the library builds it (dtrain.constructs.platform_app).

`npx --no-install cdk synth` runs this file with cdk.json's context plus `-c` values. A platform
team's own app composes the same constructs its own way: examples/platform_app/.
"""

from __future__ import annotations

import os
import sys

# Node 20 (the pinned toolchain) makes jsii print a large end-of-life banner on every start:
# quiet before aws_cdk (and its jsii kernel) is imported below.
from dtrain.node_banners import QUIET_NODE_ENV

os.environ.update({**QUIET_NODE_ENV, **os.environ})  # the user's own values win

if __name__ == "__main__":
    # Run by the CDK CLI: a bad config is refused before the CDK (jsii's Node.js) starts.
    from dtrain.config import exit_on_bad_cli_context

    exit_on_bad_cli_context()

from dtrain.constructs.platform_app import build_app, cdk_json_context, main

__all__ = ["build_app", "cdk_json_context", "main"]

if __name__ == "__main__":
    sys.exit(main())
