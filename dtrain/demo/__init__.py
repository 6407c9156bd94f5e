"""The demos `make demo` runs: the emulated platform end to end (`emulated`: deploy, train on two
simulated hosts, serve, predict) and `dtrain local` on the sample data (`local_demo`). The top
layer: it drives the CLI, the emulator and local mode as a user would."""
