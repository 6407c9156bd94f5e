"""Talking to a deployed dtrain platform: what the `submit|status|logs|stop|list` commands share.

Each module holds one idea: finding the platform from its stack outputs (`platform_stack`),
naming executions (`execution_names`), reading the job ledger (`ledger_view`), resolving a job or
execution the user names (`job_lookup`), summarising a job (`job_summary`), merging its logs
(`log_merge`), following it (`progress`) and packaging local code (`source_upload`).
Everything here talks to AWS through boto3 only, so the same code runs against AWS and against
the embedded emulator (boto3 honours `AWS_ENDPOINT_URL`).
"""
