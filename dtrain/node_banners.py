"""Quiet jsii's Node.js version banners in this process and every process it starts.

The CDK's Python library talks to a jsii kernel in Node.js; at start the kernel checks the Node
version (`@jsii/check-node`, bundled in jsii's `bin/jsii-runtime.js`) and prints a full-width
banner to stderr on every start when the version is end-of-life, deprecated or untested. The
project's toolchain is Node 20 (README: "Python 3.11, Node 20"): end-of-life on 2026-04-30, past jsii's six
months of extended support since 2026-10-30, so every synth, `cdk deploy` and `dtrain emulate up`
printed it. The kernel reads these variables (`<NAME>_SILENCE_WARNING_...`):

- `JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION`: a comma-separated list of Node majors;
- `JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION`: any value (a major in its last supported months).

The untested and known-broken warnings stay on: those say something a user should act on. A
value the user set already is kept (setdefault), so `JSII_SILENCE_WARNING_...=` brings a banner
back. Called by `dtrain`'s entry point, app.py (run by the CDK CLI), the emulator's synth and
the test session.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

# Node majors whose end-of-life banner says nothing the project does not know: 20 is the pinned
# toolchain (README: "Python 3.11, Node 20"); 18 is what older machines that run `make` carry.
PINNED_NODE_MAJORS = ("18", "20")

QUIET_NODE_ENV = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": ",".join(PINNED_NODE_MAJORS),
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
}


def quiet_node_banners(environ: MutableMapping[str, str] | None = None) -> None:
    """Set the silencing variables (where unset) in `environ`, os.environ by default."""
    target = os.environ if environ is None else environ
    for name, value in QUIET_NODE_ENV.items():
        target.setdefault(name, value)
