"""The job spec's value vocabulary: each kind of value, written once.

A kind checks a value (`kind(value)` is the problem text, or None when the value passes),
gives its JSON Schema fragment (`schema()`) and its one-line description for the job-spec
reference (`describe()`). Every block's argument table (estimator, processing, deploy,
transform, sweep) is made of these, so the parser, the schema (dtrain.jobspec.schema) and
the reference (dtrain.jobspec.reference) read one rule each.

`read(field, value, framework, errors)` is the table engine's form: the problem added to
`errors` under the field's dotted path, the checked value (possibly converted) returned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from dtrain.jobspec import naming
from dtrain.jobspec import spec_rules as rules
from dtrain.jobspec.errors import ErrorCollector

INT32_MAX: Final = 2**31 - 1
INT64_MAX: Final = 2**63 - 1

Check = Callable[[object], "str | None"]


# A string without a line break (the one-line kinds' schema; `$` alone would allow a final "\n").
ONE_LINE: Final = "^[^\n]*$"


def anchored(pattern: re.Pattern[str] | str) -> str:
    text = pattern if isinstance(pattern, str) else pattern.pattern
    return f"^{text}$"


def or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema that also takes null (a parser that reads null as the key left out): null added
    to its type or enum where it has one, so that its properties stay where a reader finds them."""
    kind = schema.get("type")
    if isinstance(kind, str) and not {"oneOf", "anyOf", "allOf", "not"} & set(schema):
        # Type-specific keywords (pattern, properties, minimum, ...) leave a null alone.
        return {**schema, "type": [kind, "null"]}
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    return {"anyOf": [{"type": "null"}, schema]}


def short_int(value: int) -> object:
    """An integer for an error message: a huge one as its size, never thousands of digits."""
    return value if value.bit_length() <= 64 else f"<an integer of {len(str(value))} digits>"


class Kind:
    """One kind of value: its check, its schema and its description."""

    def __call__(self, value: object) -> str | None:
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def shown(self, value: object) -> object:
        """The value as an error shows it."""
        return value

    def convert(self, value: Any) -> object:
        """The checked value as the typed spec holds it."""
        return value

    def read(self, field: str, value: object, framework: str, errors: ErrorCollector) -> object:
        problem = self(value)
        if problem is not None:
            errors.add(field, self.shown(value), problem)
            return None
        return self.convert(value)


@dataclass(frozen=True)
class Text(Kind):
    """A non-empty string; with `max_len`, one line of at most that many characters.

    `allow_empty`: "" passes too. `one_rule`: every failure reads `rule` (a field whose
    message names what it wants rather than the string's shape)."""

    max_len: int | None = None
    pattern: re.Pattern[str] | None = None
    rule: str = ""
    allow_empty: bool = False
    one_rule: bool = False
    one_line: bool = True  # False: line breaks pass (a container path the service takes as is)
    description: str = ""  # the reference's words, where they say more than the shape

    def __call__(self, value: object) -> str | None:
        problem = self._problem(value)
        return self.rule if problem is not None and self.one_rule else problem

    def _problem(self, value: object) -> str | None:
        empty_ok = self.allow_empty and value == ""
        if self.max_len is None:
            if not isinstance(value, str) or not (value or empty_ok):
                return "must be a non-empty string"
        elif (
            not isinstance(value, str)
            or not (value or empty_ok)
            or (self.one_line and "\n" in value)
            or len(value) > self.max_len
        ):
            empty = "" if self.allow_empty else "non-empty "
            return f"must be a {empty}one-line string of at most {self.max_len} characters"
        if self.pattern is not None and not empty_ok and not rules.full_match(self.pattern, value):
            return self.rule or f"must match {self.pattern.pattern}"
        return None

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string", "minLength": 0 if self.allow_empty else 1}
        if self.max_len is not None:
            out["maxLength"] = self.max_len
            if self.one_line:
                out["pattern"] = ONE_LINE
        if self.pattern is not None:
            out["pattern"] = anchored(self.pattern)
        return out

    def describe(self) -> str:
        if self.description:
            return self.description
        low = 0 if self.allow_empty else 1
        out = "string" if self.max_len is None else f"string, {low}-{self.max_len} characters"
        if self.pattern is not None:
            out += ", " + (
                self.rule.removeprefix("required: ").removeprefix("must be ")
                or f"matching `{self.pattern.pattern}`"
            )
        return out


@dataclass(frozen=True)
class Name(Kind):
    """SageMaker's name rule (naming.name_pattern): job, model, endpoint, experiment names."""

    max_len: int = naming.MAX_JOB_NAME_LENGTH

    @property
    def pattern(self) -> str:
        return naming.name_pattern(self.max_len)

    def __call__(self, value: object) -> str | None:
        if isinstance(value, str) and re.fullmatch(self.pattern, value):
            return None
        if self.max_len == naming.MAX_JOB_NAME_LENGTH:
            return naming.JOB_NAME_RULE
        return f"must match {anchored(self.pattern)} (at most {self.max_len} characters)"

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": anchored(self.pattern), "maxLength": self.max_len}

    def describe(self) -> str:
        return f"name: letters, digits and inner dashes, 1-{self.max_len} characters"


@dataclass(frozen=True)
class Int(Kind):
    """An integer within [minimum, maximum]; `model` names the request field the bounds come from."""

    minimum: int
    maximum: int = INT32_MAX
    model: str | None = None
    why: str = ""
    rule: str = ""  # the refusal's wording, when it is not the bounds spelled out

    def __call__(self, value: object) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok and self.minimum <= value <= self.maximum:  # type: ignore[operator]
            return None
        return self.rule or self.bounds()

    def bounds(self) -> str:
        if self.maximum in (INT32_MAX, INT64_MAX):
            bits = 32 if self.maximum == INT32_MAX else 64
            limit = f"the service's {bits}-bit limit"
            return f"must be an integer >= {self.minimum} and <= {self.maximum} ({limit})"
        why = f" ({self.why})" if self.why else ""
        return f"must be an integer from {self.minimum} to {self.maximum}{why}"

    def shown(self, value: object) -> object:
        return short_int(value) if isinstance(value, int) else value

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}

    def describe(self) -> str:
        return f"integer, {self.minimum}-{self.maximum}"


@dataclass(frozen=True)
class Const(Kind):
    """Exactly one value (a strategy's `"enabled": true`)."""

    value: object
    rule: str

    def __call__(self, value: object) -> str | None:
        return None if type(value) is type(self.value) and value == self.value else self.rule

    def schema(self) -> dict[str, Any]:
        return {"const": self.value}

    def describe(self) -> str:
        return f"`{json.dumps(self.value)}`"


@dataclass(frozen=True)
class Bool(Kind):
    def __call__(self, value: object) -> str | None:
        return None if isinstance(value, bool) else "must be true or false"

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}

    def describe(self) -> str:
        return "true or false"


class OneOf(Kind):
    """One of a fixed list (strings, or integers: never a bool or float that equals one)."""

    def __init__(self, *allowed: str | int, rule: str = "") -> None:
        self.allowed = tuple(allowed)
        self.rule = rule  # the refusal's wording, when it is not "must be one of ..."

    def __call__(self, value: object) -> str | None:
        if any(type(value) is type(a) and value == a for a in self.allowed):
            return None
        if self.rule:
            return self.rule
        shown = [str(a) for a in self.allowed]
        hint = f"; {rules.did_you_mean(value, shown)}" if isinstance(value, str) else ""
        return f"must be one of {', '.join(shown)}{hint}"

    def schema(self) -> dict[str, Any]:
        return {"enum": list(self.allowed)}

    def describe(self) -> str:
        return "one of " + ", ".join(f"`{a}`" for a in self.allowed)


def s3_uri_problem(value: object, *, bucket_name_rule: bool = False) -> str | None:
    """The one S3 URI rule: `s3://bucket[/key]` within the service's length, no '.' or '..' key
    segment; with `bucket_name_rule`, the bucket also a valid S3 bucket name (the estimator's
    URIs, stricter than the service's "(https|s3)://..." pattern on purpose).

    S3 stores `a/../b` as that very key, but every tool that maps keys to files (local mode's
    S3 stand-in, `aws s3 sync`, the SDK's local mode) reads it as a path that leaves its
    prefix: `s3://../../victim` once removed a folder outside the work directory."""
    if not isinstance(value, str) or not value.startswith("s3://"):
        return "must be an s3:// URI (s3://bucket/key)"
    if len(value) > rules.MAX_S3_URI:
        return f"longer than {rules.MAX_S3_URI} characters"
    bucket, _, key = value[len("s3://") :].partition("/")
    if not bucket or bucket in (".", ".."):
        return "must name a bucket: s3://bucket/key"
    if bucket_name_rule and not rules.full_match(rules.S3_URI_RE, value):
        return "must be an S3 URI: s3://bucket/key (lowercase bucket name, 3-63 chars)"
    if any(part in (".", "..") for part in key.split("/")):
        return "no '.' or '..' segment in the key (it would lead out of its prefix)"
    return None


S3_SCHEMA: Final[dict[str, Any]] = {
    "type": "string",
    "pattern": anchored(rules.S3_URI_RE),
    "maxLength": rules.MAX_S3_URI,
}


def check_s3_uri(field: str, value: object, errors: ErrorCollector) -> str | None:
    """An estimator or channel URI (bucket name checked), or None with the problem in `errors`."""
    problem = s3_uri_problem(value, bucket_name_rule=True)
    if problem is not None:
        errors.add(field, value, problem)
        return None
    assert isinstance(value, str)
    return value


@dataclass(frozen=True)
class S3Uri(Kind):
    """An S3 URI (s3_uri_problem); `bucket_name_rule`: the bucket a valid bucket name too."""

    bucket_name_rule: bool = False

    def __call__(self, value: object) -> str | None:
        return s3_uri_problem(value, bucket_name_rule=self.bucket_name_rule)

    def schema(self) -> dict[str, Any]:
        if self.bucket_name_rule:
            return dict(S3_SCHEMA)
        return {"type": "string", "pattern": "^s3://[^/]+", "maxLength": rules.MAX_S3_URI}

    def describe(self) -> str:
        bucket = " (a valid bucket name)" if self.bucket_name_rule else ""
        return f"S3 URI `s3://bucket/key`{bucket}, at most {rules.MAX_S3_URI} characters, no `..`"


def data_prefix_problem(value: object) -> str | None:
    """`{"s3": "data", "path": PREFIX}`: a prefix of the platform's data bucket (the one its
    execution role reads), so a spec runs unchanged on every deployment."""
    if isinstance(value, Mapping) and set(value) == {"s3", "path"} and value["s3"] == "data":
        path = value["path"]
        if isinstance(path, str) and path.strip("/") and not {".", ".."} & set(path.split("/")):
            return None
    return 'must be {"s3": "data", "path": PREFIX} (the platform\'s data bucket)'


DATA_PREFIX_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"s3": {"enum": ["data"]}, "path": {"type": "string", "minLength": 1}},
    "required": ["s3", "path"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class DataSource(Kind):
    """An S3 URI, or a prefix of the platform's data bucket."""

    def __call__(self, value: object) -> str | None:
        if isinstance(value, str) and value.startswith("s3://"):
            return s3_uri_problem(value)
        if data_prefix_problem(value) is None:
            return None
        return 'must be an s3:// URI or {"s3": "data", "path": PREFIX} (the platform\'s data bucket)'

    def schema(self) -> dict[str, Any]:
        return {"oneOf": [S3Uri().schema(), dict(DATA_PREFIX_SCHEMA)]}

    def describe(self) -> str:
        return 'S3 URI, or `{"s3": "data", "path": PREFIX}` (the platform\'s data bucket)'


@dataclass(frozen=True)
class LocalPath(Kind):
    """An absolute path under `root` in the container, without '..'."""

    root: str

    def __call__(self, value: object) -> str | None:
        if isinstance(value, str) and value.startswith(self.root) and ".." not in value.split("/"):
            return None
        return f"must be an absolute path under {self.root} (no '..')"

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": f"^{self.root}"}

    def describe(self) -> str:
        return f"path under `{self.root}`"


@dataclass(frozen=True)
class StrList(Kind):
    """A list of strings; with `limit`, 1 to `limit` non-empty ones."""

    limit: int | None = None

    def __call__(self, value: object) -> str | None:
        if self.limit is None:
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            return None if ok else "must be a list of strings"
        ok = (
            isinstance(value, list)
            and 1 <= len(value) <= self.limit
            and all(isinstance(v, str) and v for v in value)
        )
        return None if ok else f"must be a list of 1 to {self.limit} non-empty strings"

    def schema(self) -> dict[str, Any]:
        if self.limit is None:
            return {"type": "array", "items": {"type": "string"}}
        return {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "minItems": 1,
            "maxItems": self.limit,
        }

    def describe(self) -> str:
        return "list of strings" if self.limit is None else f"list of 1-{self.limit} non-empty strings"


@dataclass(frozen=True)
class StrMap(Kind):
    """An object of string -> string with non-empty keys, at most `limit` entries; with `max_len`,
    keys and values at most that long. `rule`: every failure's wording, where it is one."""

    limit: int
    max_len: int | None = None
    rule: str = ""

    def __call__(self, value: object) -> str | None:
        longest = self.max_len
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str)
            and k
            and isinstance(v, str)
            and (longest is None or (len(k) <= longest and len(v) <= longest))
            for k, v in value.items()
        ):
            return self.rule or "must be an object of string -> string"
        return None if len(value) <= self.limit else self.rule or f"at most {self.limit} entries"

    def schema(self) -> dict[str, Any]:
        names: dict[str, Any] = {"minLength": 1}
        values: dict[str, Any] = {"type": "string"}
        if self.max_len is not None:
            names["maxLength"] = values["maxLength"] = self.max_len
        return {
            "type": "object",
            "propertyNames": names,
            "additionalProperties": values,
            "maxProperties": self.limit,
        }

    def describe(self) -> str:
        sized = "" if self.max_len is None else f" (at most {self.max_len} characters each)"
        return f"object of string -> string{sized}, at most {self.limit} entries"


@dataclass(frozen=True)
class NotPrefixed(Kind):
    """A value of `kind` (a string) that does not start with `prefix`; one that does reads
    `rule` (names the service or the SDK reserves: hyperparameters' `sagemaker_`). The schema is
    `kind`'s with the same prefix refused, so check and schema say the rule once."""

    kind: Kind
    prefix: str
    rule: str

    def __call__(self, value: object) -> str | None:
        problem = self.kind(value)
        if problem is None and isinstance(value, str) and value.startswith(self.prefix):
            return self.rule
        return problem

    def schema(self) -> dict[str, Any]:
        return {**self.kind.schema(), "not": {"pattern": "^" + re.escape(self.prefix)}}

    def describe(self) -> str:
        return f"{self.kind.describe()}, not starting with `{self.prefix}`"


def check_tag(field: str, key: object, value: object, errors: ErrorCollector) -> bool:
    if (
        not isinstance(key, str)
        or not 1 <= len(key) <= rules.MAX_TAG_KEY
        or not rules.full_match(rules.TAG_RE, key)
        or key.lower().startswith("aws:")
    ):
        errors.add(field, key, "tag keys: 1-128 letters, digits, spaces or _.:/=+-@, not starting with aws:")
        return False
    if (
        not isinstance(value, str)
        or len(value) > rules.MAX_TAG_VALUE
        or not rules.full_match(rules.TAG_RE, value)
    ):
        errors.add(field, value, "tag values: at most 256 letters, digits, spaces or _.:/=+-@")
        return False
    return True


def check_tags(field: str, value: object, errors: ErrorCollector) -> tuple[tuple[str, str], ...] | None:
    pairs: list[tuple[object, object]] = []
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, Mapping) or set(item) != {"Key", "Value"}:
                errors.add(f"{field}[{i}]", item, 'must be {"Key": ..., "Value": ...}')
                return None
            pairs.append((item["Key"], item["Value"]))
    else:
        errors.add(field, value, 'must be a list of {"Key", "Value"} or an object of key -> value')
        return None
    if len(pairs) > rules.MAX_SPEC_TAGS:
        errors.add(
            field,
            len(pairs),
            f"at most {rules.MAX_SPEC_TAGS} tags"
            f" (Submit adds {rules.EXECUTION_TAG_KEY} and {rules.TEAM_TAG_KEY})",
        )
        return None
    ok = all(check_tag(f"{field}[{i}]", k, v, errors) for i, (k, v) in enumerate(pairs))
    keys = [k for k, _ in pairs]
    if ok and len(set(keys)) != len(keys):
        errors.add(field, keys, "tag keys must be unique")
        return None
    return tuple((str(k), str(v)) for k, v in pairs) if ok else None


_TAG_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "Key": {"type": "string", "minLength": 1, "maxLength": rules.MAX_TAG_KEY},
        "Value": {"type": "string", "maxLength": rules.MAX_TAG_VALUE},
    },
    "required": ["Key", "Value"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Tags(Kind):
    """Tags as the SDK takes them: a list of {"Key", "Value"} or an object of key -> value;
    checked by check_tags (the service's characters and lengths, unique keys)."""

    def __call__(self, value: object) -> str | None:
        probe = ErrorCollector()
        check_tags("tags", value, probe)
        return probe.errors[0].rule if probe.errors else None

    def read(self, field: str, value: object, framework: str, errors: ErrorCollector) -> object:
        return check_tags(field, value, errors)

    def convert(self, value: Any) -> object:
        return check_tags("tags", value, ErrorCollector())

    def schema(self) -> dict[str, Any]:
        return {
            "anyOf": [
                {"type": "array", "items": _TAG_SCHEMA, "maxItems": rules.MAX_SPEC_TAGS},
                {
                    "type": "object",
                    "additionalProperties": {"type": "string", "maxLength": rules.MAX_TAG_VALUE},
                    "maxProperties": rules.MAX_SPEC_TAGS,
                },
            ]
        }

    def describe(self) -> str:
        return f'tags: `[{{"Key", "Value"}}]` or `{{key: value}}`, at most {rules.MAX_SPEC_TAGS}'


@dataclass(frozen=True)
class Obj(Kind):
    """A nested object: every key known, each value passing its kind; the first problem named."""

    table: Mapping[str, Kind]
    required: tuple[str, ...] = ()

    def __call__(self, value: object) -> str | None:
        if not isinstance(value, Mapping):
            return f"must be an object with any of {', '.join(self.table)}"
        for key in self.required:
            if key not in value:
                return f"{key}: required"
        for key, item in value.items():
            if key not in self.table:
                return f"{key}: {rules.unknown_key_rule(str(key), self.table)}"
            problem = self.table[key](item)
            if problem:
                return f"{key}: {problem}"
        return None

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "object",
            "properties": {k: v.schema() for k, v in self.table.items()},
            "additionalProperties": False,
        }
        if self.required:
            out["required"] = list(self.required)
        return out

    def describe(self) -> str:
        keys = ", ".join(f"`{k}`{' (required)' if k in self.required else ''}" for k in self.table)
        return f"object of {keys}"


@dataclass(frozen=True)
class OnlyFor(Kind):
    """A value one framework's class takes; the other's refuses it with `reason`."""

    kind: Kind
    framework: str
    reason: str

    def __call__(self, value: object) -> str | None:
        return self.kind(value)

    def read(self, field: str, value: object, framework: str, errors: ErrorCollector) -> object:
        got = self.kind.read(field, value, framework, errors)
        if got is not None and framework and framework != self.framework:
            errors.add(field, value, self.reason)
            return None
        return got

    def schema(self) -> dict[str, Any]:
        return self.kind.schema()

    def describe(self) -> str:
        return f"{self.kind.describe()}; {self.framework} only"


@dataclass(frozen=True)
class ListOf(Kind):
    """A list of nested objects another table checks (the block's parser walks them)."""

    what: str
    items: Callable[[], dict[str, Any]]
    max_items: int
    rule: str = ""  # the refusal's wording, where it is not "must be a list of ... objects"

    def __call__(self, value: object) -> str | None:
        return None if isinstance(value, list) else self.rule or f"must be a list of {self.what} objects"

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": self.items(), "maxItems": self.max_items}

    def describe(self) -> str:
        return f"list of at most {self.max_items} {self.what} objects (below)"


@dataclass(frozen=True)
class Custom(Kind):
    """A structured value checked by a named function that reports into `errors` itself."""

    check: Callable[[str, object, ErrorCollector], object]
    json_schema: Mapping[str, Any] | Callable[[], Mapping[str, Any]]
    description: str

    def __call__(self, value: object) -> str | None:
        probe = ErrorCollector()
        self.check("value", value, probe)
        return probe.errors[0].rule if probe.errors else None

    def read(self, field: str, value: object, framework: str, errors: ErrorCollector) -> object:
        return self.check(field, value, errors)

    def schema(self) -> dict[str, Any]:
        got = self.json_schema() if callable(self.json_schema) else self.json_schema
        return dict(got)

    def describe(self) -> str:
        return self.description


@dataclass(frozen=True)
class PerFramework(Kind):
    """A value whose check depends on the framework (hyperparameters, distribution)."""

    check: Callable[[str, object, str, ErrorCollector], object]
    json_schema: Mapping[str, Any]
    description: str

    def __call__(self, value: object) -> str | None:
        raise TypeError("a per-framework value is checked with read(), which names the framework")

    def read(self, field: str, value: object, framework: str, errors: ErrorCollector) -> object:
        return self.check(field, value, framework, errors)

    def schema(self) -> dict[str, Any]:
        return dict(self.json_schema)

    def describe(self) -> str:
        return self.description


@dataclass(frozen=True)
class Nested(Kind):
    """A nested block with a table of its own, each key's problem reported under its own path."""

    table: Table

    def __call__(self, value: object) -> str | None:
        probe = ErrorCollector()
        self.table.read("value", value, probe)
        return probe.errors[0].rule if probe.errors else None

    def read(self, field: str, value: object, framework: str, errors: ErrorCollector) -> object:
        mark = len(errors.errors)
        got = self.table.read(field, value, errors, framework=framework)
        return got if len(errors.errors) == mark else None

    def schema(self) -> dict[str, Any]:
        return self.table.schema()

    def describe(self) -> str:
        return f"object (`{self.table.title}` below)"


@dataclass(frozen=True)
class CheckedElsewhere(Kind):
    """A block another module parses (experiment_config): taken here, checked there."""

    json_schema: Callable[[], dict[str, Any]]
    description: str

    def __call__(self, value: object) -> str | None:
        return None

    def schema(self) -> dict[str, Any]:
        return self.json_schema()

    def describe(self) -> str:
        return self.description


@dataclass(frozen=True)
class Table:
    """One spec block's arguments: name -> kind, or the reason it is refused (a string)."""

    title: str
    args: Mapping[str, Kind | str]
    required: tuple[str, ...] = ()
    defaults: Mapping[str, object] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)
    # A required key's refusal when absent, where it says more than "required".
    missing: Mapping[str, str] = field(default_factory=dict)
    # An unknown key's refusal, where it is not "unknown key; did you mean ...".
    unknown: str = ""
    # The block's parser takes an optional key's null as the key left out (the SDK's x=None).
    nullable: bool = False
    # In a nullable block, keys whose null is checked as a value (refused) all the same.
    null_checked: tuple[str, ...] = ()
    # Keys only some frameworks' classes take, and the refusal under another framework
    # (formatted with `only`, the frameworks that take it, and `framework`).
    only: Mapping[str, frozenset[str]] = field(default_factory=dict)
    only_rule: str = "a {only} argument; not taken by {framework}'s class"

    def unknown_rule(self, key: str, framework: str = "") -> str:
        known = [k for k in self.args if self.takes(k, framework)]
        return self.unknown or rules.unknown_key_rule(key, known)

    def takes(self, key: str, framework: str) -> bool:
        """Whether `framework`'s class takes the key ("": any framework)."""
        return not framework or framework in self.only.get(key, (framework,))

    def read(
        self, field: str, data: object, errors: ErrorCollector, *, framework: str = "", not_object: str = ""
    ) -> dict[str, Any] | None:
        """The keys of one object that pass their kind (checked, converted); every unknown,
        refused, missing or bad key is added to `errors`, all in one pass. None: not an object."""
        if not isinstance(data, Mapping):
            errors.add(field, data, not_object or f"must be an object ({', '.join(self.required)} required)")
            return None
        if self.nullable:
            data = {k: v for k, v in data.items() if v is not None or k in self.null_checked}
        for key in self.required:
            if key not in data:
                errors.add(f"{field}.{key}", None, self.missing.get(key, "required"))
        good: dict[str, Any] = {}
        for key, value in data.items():
            entry, path = self.args.get(str(key)), f"{field}.{key}"
            if entry is None:
                errors.add(path, value, self.unknown_rule(str(key), framework))
            elif not self.takes(str(key), framework):
                only = "/".join(sorted(self.only[str(key)]))
                errors.add(path, value, self.only_rule.format(only=only, framework=framework))
            elif isinstance(entry, str):
                errors.add(path, value, f"refused: {entry}")
            else:
                mark = len(errors.errors)
                got = entry.read(path, value, framework, errors)
                if len(errors.errors) == mark:
                    good[str(key)] = got
        return good

    def schema(self, description: str = "") -> dict[str, Any]:
        props: dict[str, Any] = {}
        for name, entry in self.args.items():
            if isinstance(entry, str):
                # Refused: absent (or, in a nullable block, null: the key left out) only.
                refused: dict[str, Any] = {"type": "null"} if self.nullable else {"not": {}}
                props[name] = {**refused, "description": f"refused: {entry}"}
                continue
            props[name] = entry.schema()
            if self.nullable and name not in (*self.required, *self.null_checked):
                props[name] = or_null(props[name])
            if name in self.defaults:
                props[name]["default"] = self.defaults[name]
            if name in self.notes:
                props[name]["description"] = self.notes[name]
        out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
        if self.required:
            out["required"] = list(self.required)
        if description:
            out["description"] = description
        return out


@dataclass(frozen=True)
class MapOf(Kind):
    """An object of name -> value (a spec's `inputs`): each name passing `key`, each value read
    by `value`, at most `limit` entries; `what` names them ("channel name -> channel")."""

    key: Kind
    value: Kind
    limit: int
    what: str
    plural: str

    def __call__(self, value: object) -> str | None:
        probe = ErrorCollector()
        self.read("value", value, "", probe)
        return probe.errors[0].rule if probe.errors else None

    def read(self, field: str, value: object, framework: str, errors: ErrorCollector) -> object:
        if not isinstance(value, Mapping):
            errors.add(field, value, f"must be an object of {self.what}")
            return None
        if len(value) > self.limit:
            errors.add(field, len(value), f"at most {self.limit} {self.plural}")
        out: dict[str, object] = {}
        for name, item in value.items():
            if (problem := self.key(name)) is not None:
                errors.add(f"{field}.{name}", name, problem)
                continue
            got = self.value.read(f"{field}.{name}", item, framework, errors)
            if got is not None:
                out[str(name)] = got
        return out

    def schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "propertyNames": self.key.schema(),
            "additionalProperties": self.value.schema(),
            "maxProperties": self.limit,
        }

    def describe(self) -> str:
        return f"object of {self.what}, at most {self.limit}"


@dataclass(frozen=True)
class Each(Kind):
    """A list of `min_items` to `max_items` values, each passing `item`; any failure reads `rule`
    (the list is checked as one value, as the service's list fields are)."""

    item: Kind
    max_items: int | None  # None: no limit of the service's
    rule: str
    min_items: int = 0
    description: str = ""

    def __call__(self, value: object) -> str | None:
        if (
            isinstance(value, list)
            and self.min_items <= len(value) <= (len(value) if self.max_items is None else self.max_items)
            and all(self.item(v) is None for v in value)
        ):
            return None
        return self.rule

    def convert(self, value: Any) -> object:
        return tuple(value)

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array", "items": self.item.schema()}
        if self.max_items is not None:
            out["maxItems"] = self.max_items
        if self.min_items:
            out["minItems"] = self.min_items
        return out

    def describe(self) -> str:
        return self.description or f"list of {self.min_items}-{self.max_items} values: {self.item.describe()}"


class AnyOf(Kind):
    """A value that passes one of `kinds` (a packaged image name or an image URI; false or a
    path); any failure reads `rule`."""

    def __init__(self, *kinds: Kind, rule: str, description: str = "") -> None:
        self.kinds = kinds
        self.rule = rule
        self.description = description

    def __call__(self, value: object) -> str | None:
        return None if any(kind(value) is None for kind in self.kinds) else self.rule

    def schema(self) -> dict[str, Any]:
        return {"anyOf": [kind.schema() for kind in self.kinds]}

    def describe(self) -> str:
        return self.description or " or ".join(kind.describe() for kind in self.kinds)


@dataclass(frozen=True)
class Refined(Kind):
    """A value of `kind` that also passes `extra`, a rule in code that a JSON Schema cannot say
    (a relative path, a tarball's suffix) or says with a fixed wording only: its problem is
    `kind`'s first, then `extra`'s. The schema is `kind`'s, or `schema_kind`'s where that kind
    says the extra rule too (the check then words its refusal itself)."""

    kind: Kind
    extra: Callable[[Any], str | None]
    description: str = ""
    schema_kind: Kind | None = None

    def __call__(self, value: object) -> str | None:
        return self.kind(value) or self.extra(value)

    def schema(self) -> dict[str, Any]:
        return (self.schema_kind or self.kind).schema()

    def describe(self) -> str:
        return self.description or self.kind.describe()
