"""Errors of the remote commands, each carrying the exit code the CLI returns for it.

The exit codes are one table for all of `dtrain submit|status|logs|stop|list`, so that scripts
can tell "the job failed" from "you typed it wrong" from "there is no platform to talk to".
"""

from __future__ import annotations

EXIT_OK = 0
#: The job (or execution) failed, was stopped, or was not found.
EXIT_JOB = 1
#: Usage or job spec error: nothing was sent to AWS.
EXIT_USAGE = 2
#: The platform cannot be reached: stack not deployed, no credentials or region, AWS refused.
EXIT_PLATFORM = 3
#: The request conflicts with the job's state: duplicate submit of a finished job or of a
#: different spec under the same name, stop of a job that already finished.
EXIT_CONFLICT = 4

EXIT_CODES_HELP = """exit codes:
  0  success
  1  the job failed or was stopped (submit --wait), or no such job / execution
  2  usage or job spec error (nothing was sent to AWS)
  3  platform not reachable: stack not deployed, no AWS credentials or region, AWS error
  4  conflict with the job's state: already ran / different spec under the same name
     (submit), already finished (stop)"""


class RemoteError(Exception):
    """A failure meant for people: one line, no traceback, a fixed exit code."""

    exit_code = EXIT_PLATFORM

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PlatformNotFound(RemoteError):
    """The orchestration stack is not deployed (or lacks the outputs the CLI needs)."""

    exit_code = EXIT_PLATFORM


class CredentialsMissing(RemoteError):
    """boto3 found no credentials or no region."""

    exit_code = EXIT_PLATFORM


class AwsCallFailed(RemoteError):
    """AWS refused a call for a reason that is not the job's state (permissions, throttling...)."""

    exit_code = EXIT_PLATFORM


class JobNotFound(RemoteError):
    """Neither the ledger, Step Functions nor SageMaker know the name the user gave."""

    exit_code = EXIT_JOB


class JobConflict(RemoteError):
    """What was asked cannot be done in the job's current state."""

    exit_code = EXIT_CONFLICT


class UsageError(RemoteError):
    """A bad argument or spec, found before any AWS call."""

    exit_code = EXIT_USAGE
