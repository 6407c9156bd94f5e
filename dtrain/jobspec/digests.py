"""Digests of a job spec, and the canonical JSON each is taken over: one module, one function per
purpose (the ledger's, the execution name's and the request names' digests grew in three modules,
each with its own JSON form).

Each digest keeps the form it was first written with, because what is derived from it must not
change across an upgrade:

- the execution name: a job submitted again after an upgrade must get the same name, or Step
  Functions starts a second execution where it would have answered with the running one (and
  StartExecution's input, written in the same form, must match too);
- a request's default job name: Submit retried across an upgrade must find the job it created;
- the ledger row's spec digest: rows written by an older release compare with new ones.

The forms differ only in separators, in escaping non-ASCII characters, and in whether a value JSON
has no type for is written as its str() or refused; keys are always sorted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

IDENTITY_DIGEST_CHARS = 10  # 40 bits: a collision needs about a million names sharing one readable part


@dataclass(frozen=True)
class JsonForm:
    """How a value is written as JSON before it is hashed (keys always sorted)."""

    separators: tuple[str, str]
    ensure_ascii: bool
    stringify_unknown: bool  # write a value JSON has no type for (a date) as str(), else TypeError


# The ledger row's spec digest (dtrain.orchestration.ledger).
LEDGER_FORM = JsonForm(separators=(",", ":"), ensure_ascii=True, stringify_unknown=True)
# The execution name's digest and StartExecution's input (dtrain.remote).
EXECUTION_FORM = JsonForm(separators=(",", ":"), ensure_ascii=False, stringify_unknown=False)
# The request builders' default job names (json.dumps' own separators).
REQUEST_FORM = JsonForm(separators=(", ", ": "), ensure_ascii=True, stringify_unknown=True)
# The synthesis cache's key over the app's inputs (dtrain.emulator.synth_cache): free to change,
# since a changed key costs one synthesis and nothing else.
SYNTH_INPUTS_FORM = JsonForm(separators=(", ", ": "), ensure_ascii=True, stringify_unknown=True)


def canonical_json(value: object, form: JsonForm) -> str:
    """The one JSON text of a value in `form`: the same value gives the same text, whatever its
    keys' order."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=form.separators,
        ensure_ascii=form.ensure_ascii,
        default=str if form.stringify_unknown else None,
    )


def identity_digest(*parts: str) -> str:
    """Short hex digest of the parts; the NUL separator keeps ("ab", "c") apart from ("a", "bc")."""
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:IDENTITY_DIGEST_CHARS]


def ledger_spec_digest(spec: Mapping[str, object]) -> str:
    """sha256 hex of the spec in LEDGER_FORM: the ledger row's `spec_digest`."""
    return hashlib.sha256(canonical_json(spec, LEDGER_FORM).encode()).hexdigest()


def execution_spec_digest(raw_spec: Mapping[str, object], source_digest: str | None = None) -> str:
    """sha256 hex of the spec in EXECUTION_FORM, extended with the source tarball's digest: the
    execution name's digest is its head."""
    digest = hashlib.sha256(canonical_json(raw_spec, EXECUTION_FORM).encode())
    if source_digest:
        digest.update(b"\0source:" + source_digest.encode())
    return digest.hexdigest()


def request_spec_digest(raw_spec: Mapping[str, object]) -> str:
    """Short digest of the spec in REQUEST_FORM: the request builders' default job names use it."""
    return identity_digest(canonical_json(raw_spec, REQUEST_FORM))


def synth_inputs_digest(inputs: Mapping[str, object]) -> str:
    """sha256 hex of a synthesis's inputs in SYNTH_INPUTS_FORM: the synth cache's key is its head."""
    return hashlib.sha256(canonical_json(inputs, SYNTH_INPUTS_FORM).encode()).hexdigest()
