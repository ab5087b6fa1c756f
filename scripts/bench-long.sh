#!/usr/bin/env bash
# A conversation that outgrows the context, turn by turn through pipe mode (`ember -c`), on the
# default model (or $MODEL):
#
#   scripts/bench-long.sh        # ~20 minutes on 2 cores; `make bench-long`
#
# Each turn is one `ember -c --stats` run (greedy, short answers) in a small context ($CTX,
# default 1024), until $PAST turns (default 30) have run past the first turn that had to leave
# turns out. Five conversations run side by side, their turns interleaved so that a busy moment
# of the machine hits them alike:
#
#   - local, context_drop_to = 1 (turns leave one at a time: the cut moves every turn) and 0.5
#     (turns leave in blocks, and the next turns keep the cut), both with context_shift = false
#     (a cut evaluates the kept turns again: exact);
#   - local, 0.5 with context_shift = true (the default: a cut moves the kept turns' cache into
#     place instead);
#   - 1 and 0.5 through llama-server (`--endpoint`, same model, same context, one slot; a
#     server for each):
#     ember cuts the conversation, the server's prompt cache reuses what it can. llama-server
#     alone refuses a conversation longer than its context, so it has no figure of its own.
#
# Each conversation runs in its own data folder, so `-c` resumes its saved context (local) or
# only its history (server): every turn is a new process with no memory of the last cut.
#
# Prints one line per turn (first-token time in s, tokens evaluated, messages left out), then per
# conversation the mean first token before the first cut (turns 2 to the one before it), the mean
# and 95th percentile over the $PAST turns from the first cut, their ratios to that mean, and the
# mean tokens evaluated per turn. THREADS (default 1) is ember's and the server's thread count;
# ONLY (a regular expression) keeps the conversations whose name it matches, e.g. ONLY=local.
#
# Then `ember bench --context-shift` (same context and threads): how often the replies after a cut
# with shifting agree with a fresh evaluation of the same prompt, against the same without it.
set -euo pipefail
cd "$(dirname "$0")/.."

ember=$(scripts/bench-prepare.sh)
server=$(scripts/build-llama-tools.sh llama-server)
model=${MODEL:-${XDG_DATA_HOME:-$HOME/.local/share}/ember/models/SmolLM2-135M-Instruct.Q4_1.gguf}

exec python3 - "$ember" "$server" "$model" <<'PY'
import math, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.request

ember, server_bin, model = sys.argv[1:4]
ctx = int(os.environ.get("CTX", "1024"))
past = int(os.environ.get("PAST", "30"))
threads = os.environ.get("THREADS", "1")
STATS = re.compile(r"prompt: (\d+) tokens \((\d+) reused, (\d+) evaluated\).*first token after ([\d.]+) s"
                   r"(?: \| (\d+) earlier messages)?")

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def start_server():
    """A llama-server on a free port, with the model and the context of the local runs."""
    port = free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([server_bin, "--host", "127.0.0.1", "--port", str(port), "-c", str(ctx), "-np", "1",
                             "-t", threads, "--no-webui", "-m", model], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    servers.append(proc)
    for _ in range(600):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).status == 200:
                return f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.2)
    sys.exit("bench-long: llama-server did not start")

servers, homes = [], []
# A kill still stops the servers and removes the data folders (the `finally` below).
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
try:
    class Conversation:
        def __init__(self, name, drop_to, endpoint, shift=False):
            self.name, self.endpoint, self.turns = name, endpoint, []
            self.home = tempfile.mkdtemp(prefix="ember-long-")
            homes.append(self.home)
            os.makedirs(f"{self.home}/ember")
            with open(f"{self.home}/ember/config.toml", "w") as f:
                f.write(f"context_drop_to = {drop_to}\ncontext_shift = {'true' if shift else 'false'}\n")
            self.env = dict(os.environ, XDG_DATA_HOME=self.home, XDG_CONFIG_HOME=self.home,
                            XDG_STATE_HOME=self.home, XDG_CACHE_HOME=self.home, NO_COLOR="1")
            self.env.pop("EMBER_NO_HISTORY", None)

        def turn(self, n):
            q = f"Question {n}: tell me one short fact about the number {n}."
            cmd = [ember, "--model", model, "--ctx", str(ctx), "--threads", threads, "--temperature", "0",
                   "--seed", "1", "--max-tokens", "48", "--stats"]
            if self.endpoint:
                cmd += ["--endpoint", self.endpoint]
            if n > 1:
                cmd.append("-c")
            p = subprocess.run(cmd + [q], env=self.env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            m = STATS.search(p.stderr)
            if p.returncode != 0 or not m:
                sys.exit(f"bench-long: {self.name} turn {n} failed ({p.returncode}):\n{p.stderr[-2000:]}")
            prompt, reused, evaluated, ttft, dropped = m.groups()
            self.turns.append((float(ttft), int(evaluated), int(dropped or 0)))

        def first_cut(self):
            return next((i for i, t in enumerate(self.turns) if t[2] > 0), None)

    # One server per conversation: with one, the second conversation would find the first's
    # identical turns in its cache.
    plan = [("local drop_to=1", 1, False, False), ("local drop_to=0.5", 0.5, False, False),
            ("local drop_to=0.5, shifting", 0.5, False, True),
            ("server drop_to=1", 1, True, False), ("server drop_to=0.5", 0.5, True, False)]
    only = re.compile(os.environ.get("ONLY", ""))
    convos = [Conversation(name, drop_to, start_server() if server else None, shift)
              for name, drop_to, server, shift in plan if only.search(name)]
    n = 0
    while True:
        n += 1
        # Who goes first rotates, so that no conversation always follows the same one.
        k = n % len(convos)
        for c in convos[k:] + convos[:k]:
            c.turn(n)
        line = " · ".join(f"{c.turns[-1][0]:.2f}s {c.turns[-1][1]:>4} ev -{c.turns[-1][2]}" for c in convos)
        print(f"# turn {n:>3}: {line}", flush=True)
        cuts = [c.first_cut() for c in convos]
        if all(cut is not None and len(c.turns) >= cut + past for c, cut in zip(convos, cuts)):
            break
        if n > 400:
            sys.exit("bench-long: the conversations never outgrew the context")

    def p95(values):
        values = sorted(values)
        return values[min(len(values) - 1, math.ceil(0.95 * len(values)) - 1)]

    print(f"ctx={ctx}")
    print(f"threads={threads}")
    print("| conversation | first cut at turn | first token before (mean) | after: mean | after: p95 | mean ratio | p95 ratio | evaluated/turn before | after |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for c in convos:
        cut = c.first_cut()
        before = c.turns[1:cut]
        after = c.turns[cut:cut + past]
        b = statistics.mean(t[0] for t in before)
        am, ap = statistics.mean(t[0] for t in after), p95([t[0] for t in after])
        eb = statistics.mean(t[1] for t in before)
        ea = statistics.mean(t[1] for t in after)
        print(f"| {c.name} | {cut + 1} | {b:.3f} s | {am:.3f} s | {ap:.3f} s | {am / b:.2f}x | {ap / b:.2f}x | {eb:.0f} | {ea:.0f} |")
    sys.stdout.flush()
    subprocess.run([ember, "--model", model, "--ctx", str(ctx), "--threads", threads, "bench", "--context-shift"],
                   check=True, stdin=subprocess.DEVNULL)
finally:
    for proc in servers:
        proc.terminate()
        proc.wait()
    for home in homes:
        shutil.rmtree(home, ignore_errors=True)
PY
