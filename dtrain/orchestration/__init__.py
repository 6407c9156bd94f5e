"""Orchestration logic behind the state machine's Lambdas.

Everything here is plain Python over boto3 clients passed in by the caller, so unit tests
reach it with moto (or no AWS at all) and the Lambda handlers stay thin.
"""
