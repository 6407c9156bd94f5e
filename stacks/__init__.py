"""dtrain's CDK constructs: the network, storage, training and orchestration stacks and the
platform they compose (installed as `dtrain.constructs`; the checkout keeps them in stacks/).

A platform team's own app composes them as one construct, `dtrain.constructs.platform.DtrainPlatform`
(a parent of the four stacks), or one by one (examples/platform_app/ shows both); the project's
app.py is one such user (dtrain.constructs.platform_app).
"""
