"""Errors the orchestration Lambdas raise on purpose.

In Lambda's Python runtime the exception's class name becomes the `errorType` that Step
Functions matches in Retry/Catch, so these names are part of the state machine's contract.
"""

from __future__ import annotations


class CreateThrottled(Exception):
    """CreateTrainingJob kept answering ThrottlingException through the in-Lambda backoff.

    The state machine retries the whole Submit on this error, again with full jitter.
    """


class JobNameConflict(Exception):
    """A job with the derived name exists and belongs to another execution."""


class InvalidEvent(Exception):
    """A Lambda was invoked with an event it does not understand (a wiring mistake)."""


class SageMakerTransient(Exception):
    """SageMaker kept failing with a transient error (5xx, throttling of a read, a time-out or
    a lost connection) after botocore's standard retries; the state machine retries Submit."""


class EndpointBusy(Exception):
    """The endpoint to deploy to is in a state where SageMaker refuses CreateEndpoint and
    UpdateEndpoint (Creating, Updating, Deleting, or Failed and now being deleted): the state
    machine retries Deploy, with backoff, until the endpoint can be updated or created."""


class CapacityWait(Exception):
    """CreateTrainingJob (or CreateProcessingJob / CreateTransformJob) answered
    ResourceLimitExceeded for a request that fits the account's quota once other jobs end: the
    state machine retries the Submit with a long backoff instead of failing the item."""


class QuotaTooSmall(Exception):
    """ResourceLimitExceeded for a request larger than the account's quota itself: no amount of
    waiting makes it fit, so the step fails at once with the quota named."""


class JobStoppedWithoutModel(Exception):
    """A training job SageMaker stopped at max_run, answered as a result by its event (which
    names no model), for which DescribeTrainingJob shows no saved model: the execution fails."""
