#!/usr/bin/env python3
"""Runs a scenario's [[dialogue]]s with swaks against a live `relaysim serve`
(issue 18, step 4): one script format, two transports.

Each dialogue becomes one swaks invocation (EHLO name, --tls for STARTTLS or
--tls-on-connect for port 465, --auth with the user and password the script's
AUTH lines carry, --from, --to, --local-interface for the source IP, --quit-after
where the script stops). swaks's transcript must then hold exactly the script's
commands, each answered with a reply starting with the script's prefix; the DATA
step's reply is the one after the message. The simulation is asked first
(`relaysim test` on the same file), so a pass means the live server and the
simulation gave the same replies.

Usage: swaks_dialogues.py RELAYSIM SCENARIO WORK_DIR
Needs swaks on PATH; binds 127.0.0.1:2525 and 127.0.0.1:2465.
"""

import base64
import json
import pathlib
import signal
import subprocess
import sys
import time
import tomllib

PLAIN_PORT, TLS_PORT = 2525, 2465
# What a swaks-shaped script may hold, in the order swaks sends it.
SHAPE = ("EHLO name, STARTTLS, EHLO name, AUTH PLAIN <base64> or AUTH LOGIN with "
         "its two lines, MAIL FROM:<...>, RCPT TO:<...> lines, DATA, QUIT")


class NotSwaksShaped(Exception):
    pass


def swaks_arguments(dialogue):
    """The swaks command line that sends this dialogue's script."""
    connect = dialogue.get("connect", {})
    port = connect.get("port", 25)
    implicit_tls = connect.get("tls", False) or port == 465
    args = ["swaks", "--server", "127.0.0.1",
            "--port", str(TLS_PORT if implicit_tls else PLAIN_PORT),
            "--local-interface", connect.get("source_ip", "127.0.0.1"),
            "--timeout", "20"]
    if implicit_tls:
        args.append("--tls-on-connect")
    steps = [line for line, _ in dialogue["script"]]
    recipients = []
    last = "CONNECT"  # the last step swaks must take (for --quit-after)
    i = 0
    while i < len(steps):
        line = steps[i]
        verb = line.split(" ", 1)[0].upper()
        if verb == "EHLO" and "--helo" not in args:
            args += ["--helo", line[5:]]
            last = "FIRST-HELO"
        elif verb == "EHLO" and last == "TLS" and line[5:] == args[args.index("--helo") + 1]:
            last = "HELO"
        elif line.upper() == "STARTTLS" and last == "FIRST-HELO" and not implicit_tls:
            args.append("--tls")
            last = "TLS"
        elif line.upper().startswith("AUTH PLAIN ") and "--auth" not in args:
            _, user, password = base64.b64decode(line[11:]).decode().split("\0")
            args += ["--auth", "PLAIN", "--auth-user", user, "--auth-password", password]
            last = "AUTH"
        elif line.upper() == "AUTH LOGIN" and "--auth" not in args and i + 2 < len(steps):
            user = base64.b64decode(steps[i + 1]).decode()
            password = base64.b64decode(steps[i + 2]).decode()
            args += ["--auth", "LOGIN", "--auth-user", user, "--auth-password", password]
            last = "AUTH"
            i += 2
        elif line.upper().startswith("MAIL FROM:<") and line.endswith(">") and last != "MAIL":
            args += ["--from", line[11:-1]]
            last = "MAIL"
        elif line.upper().startswith("RCPT TO:<") and line.endswith(">") and last in ("MAIL", "RCPT"):
            recipients.append(line[9:-1])
            last = "RCPT"
        elif line.upper() == "DATA" and last == "RCPT":
            last = "DATA"
        elif line.upper() == "QUIT" and i == len(steps) - 1:
            pass
        else:
            raise NotSwaksShaped(f"step {i + 1} `{line}` is not what swaks sends there "
                                 f"(a swaks dialogue is: {SHAPE})")
        i += 1
    if recipients:
        args += ["--to", ",".join(recipients)]
    else:
        # swaks needs a recipient even when it stops before RCPT.
        args += ["--to", "nobody@example.org"]
    if last != "DATA":
        args += ["--quit-after", last]
    return args


def transcript(output):
    """swaks's output as (command, or None for the greeting; first reply line)."""
    pairs = []
    command = None
    in_data = in_reply = False
    for raw in output.splitlines():
        marker, text = raw[:4], raw[4:]
        if marker in (" -> ", " ~> "):
            if in_data:
                in_data = text != "."
            else:
                command = text
        elif marker in ("<-  ", "<~  ", "<** ", "<~* "):
            continuing, in_reply = in_reply, text[3:4] == "-"
            if continuing:
                continue  # a later line of a multi-line reply
            reply = text[:3] + " " + text[4:] if in_reply else text
            if command == "DATA" and reply.startswith("354"):
                in_data = True
            else:
                pairs.append((command, reply))
    return pairs


def check(dialogue, output):
    """The differences between swaks's transcript and the script; empty if none."""
    pairs = transcript(output)
    expected = [(None, dialogue.get("connect", {}).get("expect", "220"))]
    expected += [(line, reply) for line, reply in dialogue["script"]]
    problems = []
    for n, (want, got) in enumerate(zip(expected, pairs)):
        what = "the greeting" if n == 0 else f"step {n} `{want[0]}`"
        if want[0] != got[0]:
            problems.append(f"{what}: swaks sent `{got[0]}`")
            break
        if not got[1].startswith(want[1]):
            problems.append(f"{what}: replied \"{got[1]}\", the script expects \"{want[1]}\"")
    if not problems and len(pairs) != len(expected):
        problems.append(f"swaks's transcript has {len(pairs) - 1} replies to commands, "
                        f"the script {len(expected) - 1}")
    return problems


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    relaysim, scenario, work = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
    work.mkdir(parents=True, exist_ok=True)
    dialogues = tomllib.loads(scenario.read_text()).get("dialogue", [])
    if not dialogues:
        sys.exit(f"{scenario}: no [[dialogue]] to run")
    try:
        commands = [swaks_arguments(d) for d in dialogues]
    except NotSwaksShaped as e:
        sys.exit(f"{scenario}: {e}")
    # The simulation's replies first: the same file must pass `relaysim test`.
    subprocess.run([relaysim, "test", str(scenario)], check=True)

    log = open(work / "serve.out", "w")
    serve = subprocess.Popen(
        [relaysim, "serve", str(scenario), "--listen", f"127.0.0.1:{PLAIN_PORT}",
         "--listen-tls", f"127.0.0.1:{TLS_PORT}", "--out", str(work / "run")],
        stdout=log, stderr=subprocess.STDOUT)
    failed = 0
    try:
        for _ in range(100):
            if (work / "serve.out").read_text().startswith("serving"):
                break
            time.sleep(0.1)
        else:
            sys.exit("relaysim serve did not start:\n" + (work / "serve.out").read_text())
        # In file order: the dialogues of such a file are in time order, so the
        # windows count what they counted simulated.
        for i in range(len(dialogues)):
            dialogue, args = dialogues[i], commands[i]
            name = dialogue.get("name", f"dialogue {i + 1}")
            run = subprocess.run(args, capture_output=True, text=True, timeout=60)
            problems = check(dialogue, run.stdout)
            if problems:
                failed += 1
                print(f"FAIL {name}\n  " + "\n  ".join(problems))
                print("  " + " ".join(args))
                print("  " + run.stdout.replace("\n", "\n  ") + run.stderr)
            else:
                print(f"PASS {name}: {len(dialogue['script'])} replies as scripted "
                      f"(swaks exit {run.returncode})")
    finally:
        serve.send_signal(signal.SIGTERM)
        code = serve.wait(timeout=30)
    if code != 0:
        sys.exit(f"relaysim serve exited with {code}:\n" + (work / "serve.out").read_text())
    accepted = json.loads((work / "run" / "summary.json").read_text())["messages_accepted"]
    sent = sum(any(line == "DATA" and reply.startswith("250") for line, reply in d["script"])
               for d in dialogues)
    if accepted != sent:
        failed += 1
        print(f"FAIL the relay accepted {accepted} messages, the scripts send {sent}")
    print(f"swaks: {len(dialogues) - failed} of {len(dialogues)} dialogues as simulated; "
          f"{accepted} messages accepted")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
