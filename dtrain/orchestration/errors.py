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
