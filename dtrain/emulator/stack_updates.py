"""CloudFormation's update, rollback and delete, on moto's stacks (installed by cdk_cli).

moto 5.2.5 applies a change set by deleting the removed resources first, then creating the
added ones and updating the changed ones in a loop that swallows errors; a failure leaves the
stack half-changed (HTTP 500 on ExecuteChangeSet) and a property change that AWS answers with a
new resource is applied in place, or not at all. Deleting a stack drops a non-empty bucket from
the stack and reports DELETE_COMPLETE, and the deleted stack's lazy resource map re-creates
every resource the next time anything reads it (DescribeStackResources, the outputs): empty
buckets named after the destroyed stack appeared after `cdk destroy`. What this module does
instead, as the CloudFormation User Guide describes it:

1. Update (ResourceMap.update, which both CREATE and UPDATE change sets go through): resources
   are created and updated in dependency order (DependsOn, Ref, Fn::GetAtt, Fn::Sub); a change
   of a property whose update behaviour is "Replacement" creates a new resource and deletes the
   old one afterwards ("it first creates a new resource and then deletes the old resource":
   User Guide, Monitor the progress of a stack update), and the resources that refer to it are
   updated to the new one; removed resources are deleted last, in the cleanup phase (User Guide,
   UPDATE_COMPLETE_CLEANUP_IN_PROGRESS), except those whose DeletionPolicy (or, when replaced,
   UpdateReplacePolicy) is Retain.
2. Rollback: a resource that fails to create or update undoes the whole operation: the
   resources it created are deleted, the replaced ones restored, the updated ones given their
   previous properties; the stack keeps its previous template and ends UPDATE_ROLLBACK_COMPLETE
   (a CREATE change set: ROLLBACK_COMPLETE), with the failed resource's event and reason, as
   DescribeStackEvents shows them in AWS. ExecuteChangeSet itself succeeds (it is asynchronous
   in AWS); the CDK CLI reads the outcome from the stack's status.
3. Delete: a bucket that still holds objects is not deleted ("The bucket you tried to delete is
   not empty"): the stack ends DELETE_FAILED and keeps its resources, outputs and exports, as in
   AWS. A deleted stack reads no resource and no output any more (nothing is re-created).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

_Patch = Callable[[Any, str, Any], None]

# Properties whose change CloudFormation answers with a new resource ("Update requires:
# Replacement" in each type's page of the CloudFormation Template Reference), for the types the
# platform's templates use that moto creates and deletes. A state machine's replacement is its
# own update's (shims._update_state_machine).
REPLACING_PROPERTIES: dict[str, frozenset[str]] = {
    "AWS::S3::Bucket": frozenset({"BucketName"}),
    "AWS::DynamoDB::Table": frozenset({"TableName", "KeySchema", "LocalSecondaryIndexes"}),
    "AWS::Lambda::Function": frozenset({"FunctionName", "PackageType"}),
    "AWS::IAM::Role": frozenset({"RoleName", "Path"}),
    "AWS::IAM::ManagedPolicy": frozenset({"ManagedPolicyName", "Path"}),
    "AWS::Events::Rule": frozenset({"Name", "EventBusName"}),
    "AWS::SQS::Queue": frozenset({"QueueName", "FifoQueue"}),
    "AWS::SNS::Topic": frozenset({"TopicName", "FifoTopic"}),
    "AWS::Logs::LogGroup": frozenset({"LogGroupName"}),
    "AWS::KMS::Alias": frozenset({"AliasName"}),
    "AWS::EC2::SecurityGroup": frozenset({"GroupName", "GroupDescription", "VpcId"}),
}

_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


class ResourceFailed(Exception):
    """A resource of the stack could not be created or updated (the operation is rolled back)."""

    def __init__(self, logical_id: str, action: str, reason: str) -> None:
        super().__init__(f"{logical_id}: {reason}")
        self.logical_id = logical_id
        self.action = action  # CREATE or UPDATE
        self.reason = reason
        self.rollback_failed: str | None = None  # why the rollback itself failed, if it did


class BucketNotEmpty(Exception):
    """S3's DeleteBucket refusal, as CloudFormation reports it for a bucket resource."""

    def __init__(self, bucket: str) -> None:
        super().__init__(f"The bucket you tried to delete is not empty (Bucket: {bucket})")


def install(patch: _Patch) -> None:
    """1-3 on moto's CloudFormation; call before cdk_cli wraps ExecuteChangeSet."""
    from moto.cloudformation import models, parsing
    from moto.s3.models import FakeBucket

    patch(parsing.ResourceMap, "update", _update)
    _update_function_code_only_when_it_changes(patch)
    _roll_back_failed_change_sets(patch, models)
    _delete_as_cloudformation(patch, models)
    patch(FakeBucket, "delete_from_cloudformation_json", classmethod(_delete_bucket))


# -- 1. update -------------------------------------------------------------------------------
def references(resource_json: Any) -> set[str]:
    """The logical ids a resource's JSON names: Ref, Fn::GetAtt, Fn::Sub and DependsOn."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "Ref" and isinstance(value, str):
                    found.add(value)
                elif key == "Fn::GetAtt":
                    target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                    found.add(target)
                elif key == "Fn::Sub":
                    text = value[0] if isinstance(value, list) else value
                    found.update(_SUB_NAME.findall(text) if isinstance(text, str) else [])
                    walk(value[1] if isinstance(value, list) and len(value) > 1 else None)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(resource_json.get("Properties"))
    depends = resource_json.get("DependsOn") or []
    found.update([depends] if isinstance(depends, str) else depends)
    return found


def dependency_order(resources: dict[str, Any]) -> list[str]:
    """The template's logical ids, each after every resource it refers to."""
    ordered: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for dep in sorted(references(resources[name])):
            if dep in resources:
                visit(dep)
        ordered.append(name)

    for name in resources:
        visit(name)
    return ordered


def requires_replacement(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when a changed property of `new` is one CloudFormation replaces the resource for."""
    if old.get("Type") != new.get("Type"):
        return True
    replacing = REPLACING_PROPERTIES.get(new.get("Type", ""), frozenset())
    before, after = old.get("Properties") or {}, new.get("Properties") or {}
    return any(before.get(p) != after.get(p) for p in replacing)


class _Journal:
    """What an update did, so that a failure can undo it."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.replaced: dict[str, Any] = {}  # logical id -> the old resource, deleted in cleanup
        self.updated: list[str] = []


def _update(self: Any, template: dict[str, Any], parameters: dict[str, Any] | None = None) -> None:
    """ResourceMap.update as CloudFormation updates a stack (module docstring, 1 and 2)."""
    from moto.cloudformation.parsing import parse_and_update_resource

    diff = self.build_resource_diff(template, parameters)
    previous = (self._template, self._resource_json_map, self.input_parameters)
    old_json: dict[str, Any] = dict(self._resource_json_map)
    _load_template(self, template, parameters)
    journal = _Journal()
    replaced_names: set[str] = set()
    failed_action, name = "CREATE", ""
    try:
        for name in dependency_order(self._resource_json_map):
            new_json = self._resource_json_map[name]
            if name in diff["Add"]:
                failed_action = "CREATE"
                if self[name] is not None:  # a false Condition or a type moto lacks: nothing made
                    journal.created.append(name)
                continue
            changed = name in diff["Modify"]
            refers_to_replaced = bool(references(new_json) & replaced_names)
            if not changed and not refers_to_replaced:
                continue
            failed_action = "UPDATE"
            if changed and requires_replacement(old_json[name], new_json):
                journal.replaced[name] = self._parsed_resources.pop(name, None)
                if self[name] is not None:
                    replaced_names.add(name)
                continue
            journal.updated.append(name)
            updated = parse_and_update_resource(
                name, new_json, self, account_id=self._account_id, region_name=self._region_name
            )
            if updated is not None:
                self._parsed_resources[name] = updated
    except Exception as error:
        failure = ResourceFailed(name, failed_action, _reason(error))
        try:
            _roll_back(self, journal, previous, old_json)
        except Exception as rollback_error:  # what could not be undone: *_ROLLBACK_FAILED
            failure.rollback_failed = _reason(rollback_error)
        raise failure from error
    # Cleanup: the replaced resources, then the removed ones (CloudFormation's last phase).
    for name, old in journal.replaced.items():
        if old is not None and old_json[name].get("UpdateReplacePolicy") != "Retain":
            self._delete_resource(old, old_json[name])
    for name in reversed(dependency_order({n: old_json[n] for n in diff["Remove"]})):
        resource = self._parsed_resources.pop(name, None)
        if resource is not None and old_json[name].get("DeletionPolicy") != "Retain":
            self._delete_resource(resource, old_json[name])


def _update_function_code_only_when_it_changes(patch: _Patch) -> None:
    """A function's update fetches its code again only when its Code property changed, as
    CloudFormation does, and takes the template's tags. moto 5.2.5 fetched it on every update:
    a tag-only change failed once the asset bucket the code came from was gone (the emulator's
    own deploy removes its staging bucket; a team may empty its bootstrap bucket)."""
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def update(
        cls: Any, /, original_resource: Any, new_resource_name: str, cloudformation_json: Any, **kw: Any
    ) -> Any:
        props = cloudformation_json["Properties"]
        code = props.get("Code") or {}
        if code and all(original_resource.code.get(k) == v for k, v in code.items()):
            original_resource.update_configuration(props)
            updated = original_resource
        else:
            updated = original(cls, original_resource, new_resource_name, cloudformation_json, **kw)
        # The template's tags are the function's tags (moto's update left them as created).
        updated.tags = {t["Key"]: t["Value"] for t in props.get("Tags") or []}
        return updated

    patch(LambdaFunction, "update_from_cloudformation_json", classmethod(update))


def _load_template(self: Any, template: dict[str, Any], parameters: dict[str, Any] | None) -> None:
    """The new template's mappings, parameters and conditions, as moto's own update loads them."""
    self._template = template
    if parameters:
        self.input_parameters = parameters
    self.load_mapping()
    self.load_parameters()
    self.load_conditions()
    self._resource_json_map = template["Resources"]


def _roll_back(self: Any, journal: _Journal, previous: tuple[Any, ...], old_json: dict[str, Any]) -> None:
    """Undo what the update did: the previous template's resources, as they were."""
    from moto.cloudformation.parsing import parse_and_update_resource

    template, resource_json_map, parameters = previous
    for name in reversed(journal.created):
        created = self._parsed_resources.pop(name, None)
        if created is not None:
            self._delete_resource(created, self._resource_json_map[name])
    for name, old in journal.replaced.items():
        replacement = self._parsed_resources.pop(name, None)
        if replacement is not None:
            self._delete_resource(replacement, self._resource_json_map[name])
        if old is not None:
            self._parsed_resources[name] = old
    self._template = template
    self.input_parameters = parameters
    self.load_mapping()
    self.load_parameters()
    self.load_conditions()
    self._resource_json_map = resource_json_map
    for name in journal.updated:
        restored = parse_and_update_resource(
            name, old_json[name], self, account_id=self._account_id, region_name=self._region_name
        )
        if restored is not None:
            self._parsed_resources[name] = restored


def _reason(error: Exception) -> str:
    """An AWS error's message (moto's RESTError keeps it in .message), else the exception's text."""
    message = getattr(error, "message", None)
    return str(message or error) or type(error).__name__


# -- 2. rollback -----------------------------------------------------------------------------
def _roll_back_failed_change_sets(patch: _Patch, models: Any) -> None:
    """ExecuteChangeSet: a failed resource leaves the stack as it was, in a ROLLBACK status."""
    original_execute = models.CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.change_sets.get(change_set_name)
        stack = self.stacks.get(change_set.stack_id) if change_set is not None else None
        if stack is None:  # moto's own lookup (and its error)
            original_execute(self, change_set_name, stack_name)
            return
        previous_template = stack.template
        try:
            original_execute(self, change_set_name, stack_name)
        except ResourceFailed as failure:
            _record_rollback(stack, change_set, failure, previous_template)

    patch(models.CloudFormationBackend, "execute_change_set", execute_change_set)


def _record_rollback(stack: Any, change_set: Any, failure: ResourceFailed, previous_template: Any) -> None:
    """The stack's events and status after a rolled-back change set (module docstring, 2)."""
    from moto.cloudformation.models import Event

    resource_type = change_set.template_dict["Resources"][failure.logical_id]["Type"]
    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=failure.logical_id,
            physical_resource_id="",
            resource_type=resource_type,
            resource_status=f"{failure.action}_FAILED",
            resource_status_reason=failure.reason,
            resource_properties=None,
        )
    )
    verb = "create" if failure.action == "CREATE" else "update"
    reason = f"The following resource(s) failed to {verb}: [{failure.logical_id}]. "
    ending = "FAILED" if failure.rollback_failed else "COMPLETE"
    if change_set.change_set_type == "CREATE":
        stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
        stack.status = f"ROLLBACK_{ending}"
    else:
        stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
        stack.status = f"UPDATE_ROLLBACK_{ending}"
        stack.template = previous_template
        stack._parse_template()
    if failure.rollback_failed:
        reason += f"Rollback failed: {failure.rollback_failed}"
    stack._add_stack_event(stack.status, resource_status_reason=failure.rollback_failed)
    stack.stack_status_reason = reason
    change_set.execution_status = "EXECUTE_FAILED"


# -- 3. delete -------------------------------------------------------------------------------
def _delete_bucket(
    cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
) -> None:
    """CloudFormation's DeleteBucket: refused while the bucket holds objects (moto's backend
    returns None then, and its CloudFormation took that for a deleted bucket)."""
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    backend = s3_backends[account_id][get_partition(region_name)]
    if backend.get_bucket(resource_name).keys:
        raise BucketNotEmpty(resource_name)
    backend.delete_bucket(resource_name)


def _delete_as_cloudformation(patch: _Patch, models: Any) -> None:
    """DeleteStack: DELETE_FAILED while a resource cannot be deleted; a deleted stack inert."""
    from moto.cloudformation import parsing

    original_delete = models.CloudFormationBackend.delete_stack
    original_delete_resource = parsing.ResourceMap._delete_resource

    def delete_resource(self: Any, parsed_resource: Any, resource_json: dict[str, Any]) -> None:
        # Each resource's own refusal, for its DELETE_FAILED event (moto keeps only the last one).
        try:
            original_delete_resource(self, parsed_resource, resource_json)
        except Exception as error:
            self.dtrain_delete_errors = {
                **getattr(self, "dtrain_delete_errors", {}),
                getattr(parsed_resource, "logical_resource_id", ""): error,
            }
            raise

    def delete_stack(self: Any, name_or_stack_id: str) -> None:
        for stack in list(_stacks_named(self, name_or_stack_id)):
            frozen = _FrozenOutputs(stack)  # what it showed before: kept if the delete fails
            stack.resource_map.dtrain_delete_errors = {}
            try:
                original_delete(self, stack.stack_id)
            except Exception:
                _record_delete_failure(self, stack, frozen)
            else:
                _forget_resources(stack)

    patch(parsing.ResourceMap, "_delete_resource", delete_resource)
    patch(models.CloudFormationBackend, "delete_stack", delete_stack)


class _FrozenOutputs(dict[str, Any]):
    """A stack's outputs and exports as they were resolved before its delete (an OutputMap
    resolves them again on every read, and re-created each deleted resource it referred to)."""

    def __init__(self, stack: Any) -> None:
        try:
            super().__init__({key: stack.output_map[key] for key in stack.output_map})
            self.exports = list(stack.output_map.exports)
        except Exception:  # outputs that no longer resolve (a half-made stack): none to keep
            super().__init__()
            self.exports = []


def _stacks_named(backend: Any, name_or_stack_id: str) -> Iterator[Any]:
    if name_or_stack_id in backend.stacks:
        yield backend.stacks[name_or_stack_id]
        return
    yield from (s for s in backend.stacks.values() if s.name == name_or_stack_id)


def _record_delete_failure(backend: Any, stack: Any, frozen: _FrozenOutputs) -> None:
    """moto's delete stopped on a resource: the stack stays, DELETE_FAILED, with what is left
    (its template narrowed to those resources, so that nothing deleted is made again)."""
    from moto.cloudformation.models import Event

    backend.stacks[stack.stack_id] = stack  # moto popped it before deleting its resources
    backend.deleted_stacks.pop(stack.stack_id, None)
    stack.output_map = frozen
    for export in frozen.exports:  # still exported: the stack (and its outputs) remain
        backend.exports[export.name] = export
    resource_map = stack.resource_map
    errors: dict[str, Exception] = getattr(resource_map, "dtrain_delete_errors", {})
    templates = resource_map._resource_json_map
    left = {name for name in templates if resource_map._parsed_resources.get(name) is not None}
    resource_map._resource_json_map = {name: body for name, body in templates.items() if name in left}
    failed = sorted(name for name in left if name in errors)
    for name in failed:
        resource = resource_map._parsed_resources[name]
        stack.events.append(
            Event(
                stack_id=stack.stack_id,
                stack_name=stack.name,
                logical_resource_id=name,
                physical_resource_id=getattr(resource, "physical_resource_id", ""),
                resource_type=templates[name]["Type"],
                resource_status="DELETE_FAILED",
                resource_status_reason=_reason(errors[name]),
                resource_properties=None,
            )
        )
    reason = f"The following resource(s) failed to delete: [{', '.join(failed)}]. "
    stack._add_stack_event("DELETE_FAILED", resource_status_reason=reason)
    stack.status = "DELETE_FAILED"
    stack.stack_status_reason = reason


def _forget_resources(stack: Any) -> None:
    """A deleted stack has no template to make resources from: moto's lazy map re-created each
    one (and a new bucket per bucket) whenever the deleted stack was described."""
    from moto.cloudformation.parsing import OutputMap

    retained = {
        name
        for name, body in stack.resource_map._resource_json_map.items()
        if body.get("DeletionPolicy") == "Retain"
    }
    stack.resource_map._resource_json_map = {
        name: body for name, body in stack.resource_map._resource_json_map.items() if name in retained
    }
    stack.output_map = OutputMap(stack.resource_map, {}, stack.stack_id)
