"""What an inference failure answers, as the SageMaker inference toolkit answers it.

aws/sagemaker-inference-toolkit, src/sagemaker_inference/transformer.py (`Transformer.transform`,
`handle_error`): any exception of the handler chain becomes HTTP 500 unless it carries its own
status (a `BaseInferenceToolkitError`: `status_code`, `message`, `phrase`); the body is the
message, a newline, and the traceback. InvokeEndpoint wraps such an answer in a `ModelError`
(HTTP 424, "Received server error (500) from primary with message ...": SageMaker API
Reference, InvokeEndpoint, Errors).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass


class UnsupportedFormatError(Exception):
    """No decoder / encoder for the request's Content-Type or Accept (errors.UnsupportedFormatError)."""

    def __init__(self, content_type: str | None) -> None:
        self.content_type = content_type
        super().__init__(
            textwrap.dedent(
                f"""\
                Content type {content_type or "(none)"} is not supported by this model.

                Implement input_fn to deserialize the request data or output_fn to serialize the
                response (the SageMaker PyTorch inference toolkit's contract)."""
            )
        )


class InferenceToolkitError(Exception):
    """An error that names its HTTP status: the toolkit's `GenericInferenceToolkitError`.

    inference.py can raise this, or the toolkit's own class when it runs in SageMaker's image:
    the server treats any exception with an integer `status_code` and a `message` alike.
    """

    def __init__(self, status_code: int, message: str | None = None, phrase: str | None = None) -> None:
        self.status_code = status_code
        self.message = message or "Invalid Request"
        self.phrase = phrase or self.message
        super().__init__(status_code, self.message, self.phrase)


@dataclass(frozen=True)
class ErrorAnswer:
    status_code: int
    message: str


def error_answer(exc: BaseException) -> ErrorAnswer:
    """The status and message the toolkit sends for `exc` (500 and str(exc) unless it names them)."""
    status = getattr(exc, "status_code", None)
    message = getattr(exc, "message", None)
    if isinstance(status, int) and 400 <= status <= 599 and isinstance(message, str):
        return ErrorAnswer(status, message)
    return ErrorAnswer(500, str(exc) or type(exc).__name__)
