#!/usr/bin/env python3
"""Replay a session's events (same as `soma replay`): see `scripts/replay_session.py --help`."""

from __future__ import annotations

import typer

from somaagent.cli.replay import replay

if __name__ == "__main__":
    typer.run(replay)
