#!/usr/bin/env python3
"""Reads the line that ../shared/bench/simpy_relay.py prints (on stdin) and prints
`MESSAGES WALL_S`: the messages it simulated and its event loop's wall time.

A message is counted once, by its outcome that is not a 4xx (a 4xx is retried and
the message goes on); the same count for simpy-ratio.sh and simpy-instructions.sh.
"""
import ast
import re
import sys

line = sys.stdin.read()
wall = float(re.search(r"wall_s=([0-9.]+)", line).group(1))
outcomes = ast.literal_eval(re.search(r"outcomes=(\{.*\})", line).group(1))
messages = sum(n for code, n in outcomes.items() if not code.startswith("4"))
print(messages, wall)
