"""dtrain's CDK constructs: the network, storage, training and orchestration stacks and the
platform they compose (installed as `dtrain.constructs`; the checkout keeps them in stacks/).

A platform team's own app builds them with `dtrain.constructs.platform_app.add_platform` or one by
one (examples/platform_app/ shows both); the project's app.py is one such user.
"""
