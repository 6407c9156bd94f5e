"""dtrain: SageMaker multi-node training from one job spec.

The core (spec, request, naming) imports only the standard library and, where it talks
to AWS, boto3, so that the Lambda bundles stay small and start fast.
"""

__version__ = "0.1.0"
