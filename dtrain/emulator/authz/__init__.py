"""Authorization in the emulator: who calls, what the call means in IAM, and the decision."""
