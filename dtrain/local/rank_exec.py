"""Run by mpirun for every rank: become the process of the rank's simulated host.

mpirun starts all ranks on this one machine from one command, with one environment. On
SageMaker each rank runs on its own instance with that instance's SM_* variables and
/opt/ml tree. This shim maps its rank to a simulated host (rank // processes per host),
applies that host's environment file, moves to the host's code dir and execs the entry
point. Standard library only: it runs under whichever interpreter the image uses.

    python rank_exec.py LAUNCH_DIR PROCESSES_PER_HOST -- COMMAND...
"""

import json
import os
import sys


def main(argv: list[str]) -> None:
    if len(argv) < 4 or argv[2] != "--":
        sys.exit("usage: rank_exec.py LAUNCH_DIR PROCESSES_PER_HOST -- COMMAND...")
    launch_dir, per_host, command = argv[0], int(argv[1]), argv[3:]
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0")))
    with open(os.path.join(launch_dir, "hosts.json")) as f:
        hosts = json.load(f)
    host = hosts[rank // per_host]
    with open(os.path.join(launch_dir, f"{host}.env.json")) as f:
        host_env = json.load(f)
    env = dict(os.environ)
    env.update(host_env)
    # Ranks that share a simulated host see the local rank and size an instance would give them.
    env["OMPI_COMM_WORLD_LOCAL_RANK"] = str(rank % per_host)
    env["OMPI_COMM_WORLD_LOCAL_SIZE"] = str(per_host)
    env["OMPI_COMM_WORLD_NODE_RANK"] = str(rank // per_host)
    os.chdir(os.path.join(host_env["SAGEMAKER_BASE_DIR"], "code"))
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    main(sys.argv[1:])
