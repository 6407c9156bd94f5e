"""What the CDK CLI's CloudFormation calls need from moto, so `cdk bootstrap` / `cdk deploy`
work against `dtrain emulate` (AWS_ENDPOINT_URL): two hooks on moto's CloudFormation.

1. Template URLs that point at the emulator itself are read as path-style S3 URLs. The CDK CLI
uploads each template to the bootstrap bucket and passes CloudFormation a `TemplateURL` built
from the S3 endpoint it resolved: with
`AWS_ENDPOINT_URL` set that is `http://127.0.0.1:<port>/<bucket>/<key>` (aws-cdk's
`restUrlFromManifest`). moto 5.2.5 reads a URL as path-style only when it contains `localhost` or
its host is `s3*.amazonaws.com`; any other host is taken as virtual-hosted, so the bucket becomes
`127` and CreateChangeSet fails with "The specified bucket does not exist". Virtual-hosted S3
names always end in `amazonaws.com`
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html), so a URL whose host
does not is the emulator's own endpoint: path-style.

2. Executing a change set gives the stack its outputs and registers its exports. The CLI creates
every stack through CreateChangeSet + ExecuteChangeSet; moto 5.2.5 keeps the outputs of the empty
template the change set's stack was made with and registers exports only in CreateStack/UpdateStack,
and makes the change set's stack without the region's exports, so the next stack's
Fn::ImportValue failed with "No export named ... found".

3. A change set's template gets the same placeholders as the emulator's own deploy for resources
moto cannot create (deploy.modelled_template): FSx's GetAtt otherwise fails the change set.
Like the emulator's own deploy, executing also applies the policies moto's CloudFormation skips
(authz.moto_state).

Updates, rollbacks and deletes as CloudFormation does them: dtrain.emulator.stack_updates.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse, urlunparse

from dtrain.emulator import stack_updates
from dtrain.emulator.authz.moto_state import load_skipped_policies
from dtrain.emulator.deploy import modelled_template


def as_moto_url(template_url: str) -> str:
    """The same URL, with a non-AWS host (the emulator's endpoint) named `localhost` so that moto
    reads bucket and key from the path; AWS URLs are returned unchanged."""
    parts = urlparse(template_url)
    host = parts.hostname or ""
    if host.endswith("amazonaws.com") or "localhost" in template_url:
        return template_url
    return urlunparse(parts._replace(netloc="localhost"))


_Patch = Callable[[Any, str, Any], None]


def install(patch: _Patch) -> None:
    """Wrap moto's template-URL reader where CloudFormation's responses and models import it,
    and its change sets' lookup, creation and execution, and the stacks they make."""
    _read_emulator_template_urls(patch)
    stack_updates.install(patch)  # under _execute_change_sets_as_aws: its rollback comes first
    _resolve_change_sets_within_their_stack(patch)
    _execute_change_sets_as_aws(patch)
    _model_change_set_templates(patch)
    _give_new_stacks_the_exports(patch)
    _keep_resources_moto_cannot_update(patch)


def _read_emulator_template_urls(patch: _Patch) -> None:
    """1. Template URLs on the emulator's endpoint read as path-style S3 URLs."""
    from moto.cloudformation import models, responses, utils

    original = utils.get_stack_from_s3_url

    def get_stack_from_s3_url(template_url: str, account_id: str, partition: str) -> str:
        return str(original(as_moto_url(template_url), account_id=account_id, partition=partition))

    patch(responses, "get_stack_from_s3_url", get_stack_from_s3_url)
    patch(models, "get_stack_from_s3_url", get_stack_from_s3_url)


def _change_set_not_found(name: str) -> Exception:
    """DescribeChangeSet's (and ExecuteChangeSet's) error for a name its stack does not hold (API
    reference, DescribeChangeSet, Errors: "ChangeSetNotFound: The specified change set name or ID
    doesn't exit", HTTP 404). The CLI deletes a stack's old `cdk-deploy-change-set` before each
    update and waits for this error (aws-cdk ChangeSetDescriber.waitForGone): answered with
    another stack's change set instead, every second `cdk deploy` of a many-stack app polled
    forever."""
    from moto.cloudformation.exceptions import CloudFormationError

    class ChangeSetNotFound(CloudFormationError):
        code = "ChangeSetNotFound"

    return ChangeSetNotFound(f"ChangeSet [{name}] does not exist")


def _own_change_set(backend: Any, change_set_name: str, stack_name: str | None) -> str | None:
    """4. A change set is addressed by ARN, or by name *within its stack* (CloudFormation API
    reference, DescribeChangeSet: "If you specified the name of a change set, specify the stack
    name or ID (ARN) of the change set you want to describe"). The CLI names every stack's change
    set `cdk-deploy-change-set`; moto 5.2.5 matched the name alone, so DescribeChangeSet answered
    another stack's (older) change set and the CLI polled it forever, and Execute/Delete could
    act on the wrong stack. Names are resolved to the stack's own change set's ARN first; None when
    the named stack has no change set of that name (moto would answer another stack's)."""
    if change_set_name in backend.change_sets or not stack_name:
        return change_set_name
    matches = [
        arn
        for arn, cs in backend.change_sets.items()
        if cs.change_set_name == change_set_name and stack_name in (cs.stack_name, cs.stack_id)
    ]
    return matches[-1] if matches else None


def _resolve_change_sets_within_their_stack(patch: _Patch) -> None:
    """DescribeChangeSet and DeleteChangeSet act on the named stack's own change set."""
    from moto.cloudformation import models, responses
    from moto.core.responses import ActionResult, EmptyResult

    original_describe = models.CloudFormationBackend.describe_change_set
    original_delete = models.CloudFormationBackend.delete_change_set

    def describe_change_set_response(self: Any) -> Any:
        backend = self.cloudformation_backend
        asked = self._get_param("ChangeSetName")
        name = _own_change_set(backend, asked, self._get_param("StackName"))
        if name is None:
            raise _change_set_not_found(asked)
        return ActionResult(original_describe(backend, name))

    def delete_change_set_response(self: Any) -> Any:
        backend = self.cloudformation_backend
        name = _own_change_set(backend, self._get_param("ChangeSetName"), self._get_param("StackName"))
        if name is not None:  # none in that stack: nothing to delete (never another stack's)
            original_delete(backend, name)
        return EmptyResult()

    patch(responses.CloudFormationResponse, "describe_change_set", describe_change_set_response)
    patch(responses.CloudFormationResponse, "delete_change_set", delete_change_set_response)


def _execute_change_sets_as_aws(patch: _Patch) -> None:
    """2. Executing a change set gives its stack the template's outputs and registers its exports
    (and applies the policies moto's CloudFormation skips)."""
    from moto.cloudformation import models

    original_execute = models.CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        import boto3

        own = _own_change_set(self, change_set_name, stack_name)
        if own is None:
            raise _change_set_not_found(change_set_name)
        change_set_name = own
        original_execute(self, change_set_name, stack_name)
        change_set = self.change_sets.get(change_set_name) or next(  # by name with no stack: moto's pick
            (cs for cs in reversed(list(self.change_sets.values())) if cs.change_set_name == change_set_name),
            None,
        )
        if change_set is None:
            return
        stack = self.stacks[change_set.stack_id]
        if stack.status == "ROLLBACK_COMPLETE":  # a CREATE rolled back: no outputs, no exports
            return
        # moto sets the executed template but keeps the outputs of the empty one the change set's
        # stack was created with; rebuild them from the executed template (as Stack.update does).
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()
        if change_set.change_set_type == "CREATE":
            self._validate_export_uniqueness(stack)  # as CreateStack does
        for export in stack.exports:
            self.exports[export.name] = export
        load_skipped_policies(boto3.Session(), stack.name, self.account_id, self.region_name)

    patch(models.CloudFormationBackend, "execute_change_set", execute_change_set)


def _model_change_set_templates(patch: _Patch) -> None:
    """3. A change set's template gets the placeholders of the emulator's own deploy."""
    from moto.cloudformation import models

    original_create = models.CloudFormationBackend.create_change_set

    def create_change_set(
        self: Any, stack_name: str, change_set_name: str, template: str, *a: Any, **kw: Any
    ) -> Any:
        parsed = json.loads(template) if template.lstrip().startswith("{") else None
        if parsed is not None:
            template = json.dumps(modelled_template(parsed)[0])
        return original_create(self, stack_name, change_set_name, template, *a, **kw)

    patch(models.CloudFormationBackend, "create_change_set", create_change_set)


def _give_new_stacks_the_exports(patch: _Patch) -> None:
    """A change set's stack is made without the region's exports (CreateStack passes them), so
    its Fn::ImportValue found none; give every stack made without them the live exports."""
    from moto.cloudformation import models

    original_init = models.Stack.__init__

    def stack_init(self: Any, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("cross_stack_resources") is None:
            backend = models.cloudformation_backends[kwargs["account_id"]][kwargs["region_name"]]
            kwargs["cross_stack_resources"] = backend.exports
        original_init(self, *args, **kwargs)

    patch(models.Stack, "__init__", stack_init)


def _keep_resources_moto_cannot_update(patch: _Patch) -> None:
    """6. An UPDATE change set keeps, as it is, a resource whose moto model has no update (a KMS
    key, a log group, ...). moto 5.2.5 stored None for it, so the next resource's Fn::GetAtt of
    it failed the update ("Fn::GetAtt references undefined resource FlowLogKey..."): every
    second `cdk deploy` that changed such a resource (a tag on all of them) failed. Its new
    properties are not applied in the emulator; the stack's template is the new one."""
    from moto.cloudformation import parsing

    original = parsing.parse_and_update_resource

    def parse_and_update_resource(
        logical_id: str, resource_json: dict[str, Any], resources_map: Any, *a: Any, **kw: Any
    ) -> Any:
        kept = resources_map._parsed_resources.get(logical_id)
        resource_json = _keeping_its_generated_name(resource_json, kept)
        updated = original(logical_id, resource_json, resources_map, *a, **kw)
        return kept if updated is None else updated

    patch(parsing, "parse_and_update_resource", parse_and_update_resource)


def _keeping_its_generated_name(resource_json: dict[str, Any], kept: Any) -> dict[str, Any]:
    """A resource CloudFormation named (its template gives no name) keeps that name when it is
    updated in place; moto 5.2.5 generated a new one on every update. A CDK bucket's update
    raised KeyError (HTTP 500: moto reads Properties.BucketName), and an EventBridge rule came
    back under a new name, so the Lambda permissions naming the old rule's ARN (kept as they
    were) refused every event: after a second `cdk deploy`, no job's state-change event
    reached the orchestration and its executions waited forever."""
    from moto.cloudformation.parsing import resource_name_property_from_type

    properties = resource_json.get("Properties") or {}
    name_property = resource_name_property_from_type(resource_json.get("Type", ""))
    name = getattr(kept, "name", None)
    if not name_property or name_property in properties or not isinstance(name, str):
        return resource_json
    return {**resource_json, "Properties": {**properties, name_property: name}}
