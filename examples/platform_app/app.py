#!/usr/bin/env python3
"""`cdk synth` entry point of the team's app (cdk.json: "app")."""

from ml_platform import build

if __name__ == "__main__":
    build().app.synth()
