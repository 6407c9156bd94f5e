"""The job-spec core: the spec's values, rules and schema, and the SageMaker service rules they
follow. Pure: no boto3 call, no CDK, no Lambda runtime (the import contracts in pyproject.toml
hold it so), so the CLI, the Lambdas, local mode and the emulator all read one source."""
