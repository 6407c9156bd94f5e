"""ResourceLimitExceeded on a Create call: wait for capacity, or fail because it never comes.

SageMaker answers a create that would pass an account quota with ResourceLimitExceeded and a
message naming the quota, its value, the current use and the request, e.g. "The account-level
service limit 'ml.p3.8xlarge for training job usage' is 2 Instances, with current utilization
of 3 Instances and a request delta of 1 Instances." (as reported in
github.com/aws/amazon-sagemaker-examples/issues/1543). A sweep wider than the quota hits it on
every item past the quota's width: those items wait (CapacityWait, retried by the state
machine with backoff) until earlier items end and free instances. A request larger than the
quota itself (a quota of 0 for the instance type, the common case on a new account) can never
fit: it fails at once with the quota named, instead of retrying for hours.
"""

from __future__ import annotations

import re

from botocore.exceptions import ClientError

from dtrain.orchestration.errors import CapacityWait, QuotaTooSmall

RESOURCE_LIMIT_EXCEEDED = "ResourceLimitExceeded"
_QUOTA = re.compile(
    r"limit '(?P<name>[^']+)' is (?P<limit>\d+) \w+, with current utilization of (?P<used>\d+) \w+"
    r" and a request delta of (?P<delta>\d+)"
)


def capacity_error(err: ClientError) -> Exception | None:
    """CapacityWait or QuotaTooSmall for a ResourceLimitExceeded answer; None for anything else."""
    if err.response.get("Error", {}).get("Code") != RESOURCE_LIMIT_EXCEEDED:
        return None
    message = str(err.response.get("Error", {}).get("Message", ""))
    quota = _QUOTA.search(message)
    if quota is not None and int(quota["delta"]) > int(quota["limit"]):
        return QuotaTooSmall(
            f"the request needs {quota['delta']} of quota '{quota['name']}', which is {quota['limit']}"
            " for this account: ask AWS for an increase (Service Quotas) or use another instance type"
        )
    return CapacityWait(f"waiting for capacity: {message or RESOURCE_LIMIT_EXCEEDED}")
