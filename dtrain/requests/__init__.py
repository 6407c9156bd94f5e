"""The requests a job spec becomes: CreateTrainingJob, CreateProcessingJob, the hosting calls and
the state machine's execution input. Pure like dtrain.jobspec (which is all they import): the
Submit Lambda, `dtrain validate` and local mode build the same request from the same code."""
