"""Fleet load (issue 17): many agents sharing one bank at once, on PostgreSQL, against the DuckDB single-writer
baseline measured in the same run.

PostgreSQL (the embedded server the tests start, tests/embedded_pg.py, in a temp dir):
  - N agent processes (`--agents`, default 16) for `--seconds` (default 60), each looping retrieve -> record over
    real tasks (tau-bench airline, Reflexion HotpotQA: their queries and steps, each record under a new task id);
    half through MCP over HTTP against one `bankcore mcp --http` server, half through the Python API
    (`bankcore.Bank(url)`, a process each, `--api-agents` to change the split);
  - one process reading as the dashboard does (`Bank.views`: overview, stats, item and trajectory pages, the review
    queue), without Streamlit;
  - `bankcore consolidate --heuristic` in a loop (one run at a time, `--consolidate-pause` seconds apart).
DuckDB: the same workload as far as one file can take it. DuckDB lets one process write a file at a time, so every
agent goes through the one MCP-over-HTTP server process; Python-API agents cannot share the file (each would be a
second writing process: they could only take turns at the file lock), so the baseline has none. The dashboard reader
and the consolidate loop take turns with the server at the file lock, as `make run` and a CLI do.

Checked afterwards on each backend: every acknowledged `record` (a unique task id each) is in the bank exactly once
with all its steps (0 lost, 0 duplicates), and `bankcore check` is clean. Printed: p50/p95 retrieve and record
latency and throughput per backend and channel, and PostgreSQL/DuckDB ratios. `--results FILE` appends the figures
(and `uptime`) as a markdown section.

    .venv/bin/python bench/fleet_load.py --agents 4 --seconds 20
    .venv/bin/python bench/fleet_load.py --results bench/fleet_load_results.md
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("BANKCORE_DATASETS", ROOT.parent / "shared" / "datasets"))
DEFAULT_DATA = [DATASETS / "tau-bench-airline" / "gpt-4o-airline.json",
                DATASETS / "reflexion-hotpotqa" / "react_reflexion_100_questions_5_trials.txt"]
FALLBACK_DATA = [ROOT / "tests" / "fixtures" / "reflexion", ROOT / "tests" / "fixtures" / "mini-swe"]
READY_TIMEOUT_S = 600  # every process loaded, connected and warmed up (a busy 2-core machine is slow to start 20)


# ------------------------------------------------------------------------------------------------ the tasks
def load_tasks(paths: list[Path], per_file: int) -> list[dict]:
    """Real attempts as the MCP tool takes them (query, steps, final answer, success), up to `per_file` a file."""
    from bankcore.learn.importers import ImportOptions, detect, read

    tasks = []
    for path in paths:
        records = (r for r in read(path, detect(path), ImportOptions()) if hasattr(r, "trajectory"))
        for n, record in enumerate(records):
            if n >= per_file:
                break
            t = record.trajectory
            steps = [{k: v for k, v in {"thought": s.thought, "action": s.action, "observation": s.observation}.items()
                      if v is not None} for s in t.steps]
            success = record.truth.success if record.truth is not None else None
            tasks.append({"query": t.query, "steps": [s for s in steps if s], "final_answer": t.final_answer,
                          "domain": t.domain, "success": success})
    return [t for t in tasks if t["steps"]]


def trajectory_of(task: dict, task_id: str):
    from bankcore.models import Step, Trajectory, Truth

    steps = [Step(i, s.get("thought"), s.get("action"), s.get("observation")) for i, s in enumerate(task["steps"])]
    traj = Trajectory(task_id=task_id, query=task["query"], steps=steps, source_format="native",
                      final_answer=task["final_answer"], domain=task["domain"])
    return traj, (Truth(success=task["success"]) if task["success"] is not None else None)


# ------------------------------------------------------------------------------------------------ the roles
class Log:
    """One JSON line per operation, flushed as written (a killed process keeps what it acknowledged)."""

    def __init__(self, path: Path):
        self.file = path.open("a", encoding="utf-8")

    def write(self, **row) -> None:
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()


def wait_for_go(work: Path, name: str) -> tuple[float, float]:
    (work / f"ready-{name}").touch()
    while not (work / "go").exists():
        time.sleep(0.05)
    go = json.loads((work / "go").read_text())
    while time.time() < go["start"]:
        time.sleep(0.01)
    return go["start"], go["end"]


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def peak_rss_mb() -> float | None:
    """This process's peak resident memory (VmHWM: ru_maxrss would carry the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def role_api_agent(args, work: Path) -> None:
    from bankcore import Bank
    from bankcore.search.memory_block import memory_block

    tasks, rng, log = json.loads((work / "tasks.json").read_text()), random.Random(args.agent), Log(args.log)
    bank = Bank(args.db)
    bank.retrieve(tasks[0]["query"], 1, log=False)  # loads the embedder and the retrieval cache before the clock
    _, end = wait_for_go(work, args.name)
    n = 0
    while time.time() < end:
        task, task_id = rng.choice(tasks), f"{args.prefix}-{args.name}-{n:05d}"
        n += 1
        t0 = time.perf_counter()
        try:
            memory_block([h.item for h in bank.retrieve(task["query"], 1, task_id=task_id)])
            log.write(op="retrieve", ms=(time.perf_counter() - t0) * 1e3, ok=True)
        except Exception as exc:  # noqa: BLE001 — counted and reported, the agent goes on as a real one would
            log.write(op="retrieve", ms=(time.perf_counter() - t0) * 1e3, ok=False, error=one_line(exc))
        traj, truth = trajectory_of(task, task_id)
        t0 = time.perf_counter()
        try:
            recorded = bank.record(traj, truth)
            log.write(op="record", ms=(time.perf_counter() - t0) * 1e3, ok=True, task_id=task_id,
                      traj_id=recorded.traj_id, steps=len(traj.steps), added=recorded.added)
        except Exception as exc:  # noqa: BLE001
            log.write(op="record", ms=(time.perf_counter() - t0) * 1e3, ok=False, task_id=task_id,
                      error=one_line(exc))
    log.write(op="done", at=time.time(), rss_mb=peak_rss_mb())


def role_mcp_agent(args, work: Path) -> None:
    import asyncio

    from mcp import Client
    from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

    tasks, rng, log = json.loads((work / "tasks.json").read_text()), random.Random(args.agent), Log(args.log)

    async def call(client, tool: str, arguments: dict):
        result = await client.call_tool(tool, arguments)
        if result.is_error:
            raise RuntimeError(" ".join(getattr(c, "text", "") for c in result.content))
        return result.structured_content

    async def run() -> None:
        async with Client(streamable_http_client(args.url, http_client=create_mcp_http_client())) as client:
            await call(client, "retrieve_memory", {"query": tasks[0]["query"]})  # warm: the server's embedder too
            _, end = wait_for_go(work, args.name)
            n = 0
            while time.time() < end:
                task, task_id = rng.choice(tasks), f"{args.prefix}-{args.name}-{n:05d}"
                n += 1
                t0 = time.perf_counter()
                try:
                    await call(client, "retrieve_memory", {"query": task["query"], "task_id": task_id})
                    log.write(op="retrieve", ms=(time.perf_counter() - t0) * 1e3, ok=True)
                except Exception as exc:  # noqa: BLE001
                    log.write(op="retrieve", ms=(time.perf_counter() - t0) * 1e3, ok=False, error=one_line(exc))
                arguments = {"query": task["query"], "steps": task["steps"], "task_id": task_id,
                             "domain": task["domain"], "final_answer": task["final_answer"],
                             "success": task["success"]}
                t0 = time.perf_counter()
                try:
                    recorded = await call(client, "record_trajectory", {k: v for k, v in arguments.items()
                                                                         if v is not None})
                    log.write(op="record", ms=(time.perf_counter() - t0) * 1e3, ok=True, task_id=task_id,
                              traj_id=recorded["traj_id"], steps=len(task["steps"]), added=recorded["added"])
                except Exception as exc:  # noqa: BLE001
                    log.write(op="record", ms=(time.perf_counter() - t0) * 1e3, ok=False, task_id=task_id,
                              error=one_line(exc))

    asyncio.run(run())
    log.write(op="done", at=time.time(), rss_mb=peak_rss_mb())


def role_dashboard(args, work: Path) -> None:
    """What a curator's dashboard reads, screen after screen, through the read model (no Streamlit)."""
    from bankcore import Bank

    log = Log(args.log)
    bank = Bank(args.db)
    bank.store.upgrade_on_open = False  # as the dashboard opens it (dashboard/ui.py): checks the bank, never migrates
    views = bank.views
    _, end = wait_for_go(work, args.name)
    while time.time() < end:
        t0 = time.perf_counter()
        try:
            with bank.store.reading():
                views.overview()
                views.stats()
                views.browse_items(filters={}, limit=50)
                views.browse_trajectories(limit=50)
                views.review_batch("all", 20, 0)
            log.write(op="screen", ms=(time.perf_counter() - t0) * 1e3, ok=True)
        except Exception as exc:  # noqa: BLE001
            log.write(op="screen", ms=(time.perf_counter() - t0) * 1e3, ok=False, error=one_line(exc))
        time.sleep(args.pause)  # a person reads the screen before the next one
    log.write(op="done", rss_mb=peak_rss_mb())


def role_consolidate(args, work: Path) -> None:
    """`bankcore consolidate` as a curator or a cron job runs it, over and over while the agents write."""
    log = Log(args.log)
    _, end = wait_for_go(work, args.name)
    while time.time() < end:
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "bankcore.cli", "consolidate", "--heuristic", "--json",
                               "--by", "fleet-bench", "--db", args.db], capture_output=True, text=True,
                              env=child_env())
        ms = (time.perf_counter() - t0) * 1e3
        outcome = {}
        if done.returncode == 0:
            parts = json.loads(done.stdout)["report"]
            outcome = {k: len(parts[k]) for k in ("merged", "skipped", "failed")}
        log.write(op="consolidate", ms=ms, ok=done.returncode == 0, **outcome,
                  error=None if done.returncode == 0 else consolidate_error(done.stderr))
        time.sleep(args.pause)
    log.write(op="done", at=time.time(), rss_mb=None)


def consolidate_error(stderr: str) -> str:
    """The error line of a failed run: bankcore's own one-line "error: …", else the exception line of a traceback."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    picked = next((line for line in reversed(lines) if line.startswith("error: ")), None) or \
        next((line for line in reversed(lines) if not line.startswith((" ", "\t", "HINT", "DETAIL", "CONTEXT"))), "")
    return picked[:300]


ROLES = {"api": role_api_agent, "mcp": role_mcp_agent, "dashboard": role_dashboard, "consolidate": role_consolidate}


# ------------------------------------------------------------------------------------------------ the run
def child_env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BANKCORE_LLM", "OPENAI_", "BANKCORE_MODEL", "BANKCORE_DB"))}  # heuristic judge
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("BANKCORE_LOCK_TIMEOUT", "120")  # DuckDB: turns at the file lock can be long under this load
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def bank_for(label: str, base: Path, args):
    """The bank one backend's run uses: a `fleet` database on the embedded server the tests use (tests/embedded_pg.py:
    the first wheel whose pgvector builds an HNSW index on this CPU; a Unix socket), stopped on exit, or a DuckDB
    file. Which wheel served goes into the report (`args.pg_wheel`)."""
    if label != "postgresql":
        yield str(base / "fleet.duckdb")
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from embedded_pg import new_database, running, wheel_of

    with running("bankcore-fleet-pg-") as server:
        args.pg_wheel = wheel_of(server)
        yield new_database(server, "fleet")


def seed(db: str, tasks: list[dict]) -> int:
    """Lessons to retrieve from the first second: learn some tasks (heuristic) and approve what they gave."""
    from bankcore import Bank

    bank = Bank(db)
    for n, task in enumerate(tasks):
        bank.record(*trajectory_of(task, f"seed-{n:03d}"))
    bank.bulk_review("approve", actor="human:fleet-bench", reason="seed lessons for the load test")
    approved = bank.store.count_items(status=["approved"])
    getattr(bank.store, "close", lambda: None)()
    return approved


def start_mcp_server(db: str, work: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bankcore.cli", "mcp", "--http", "--port", str(port), "--db", db],
                            env=child_env(), stderr=(work / "mcp-server.err").open("w"))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bankcore mcp --http exited: {(work / 'mcp-server.err').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"http://127.0.0.1:{port}/mcp"
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("bankcore mcp --http did not start listening in 120 s")


def run_backend(label: str, db: str, work: Path, tasks: list[dict], args) -> dict:
    work.mkdir(parents=True)
    (work / "tasks.json").write_text(json.dumps(tasks))
    t0 = time.perf_counter()
    approved = seed(db, tasks[:args.seed])
    print(f"[{label}] seeded {approved} approved lessons from {args.seed} tasks in {time.perf_counter() - t0:.1f}s",
          flush=True)
    server, url = start_mcp_server(db, work)
    api = args.api_agents if label == "postgresql" else 0
    roles = [("api", f"api{n:02d}") for n in range(api)] + \
            [("mcp", f"mcp{n:02d}") for n in range(args.agents - api)] + \
            [("dashboard", "dashboard"), ("consolidate", "consolidate")]
    procs = []
    for n, (role, name) in enumerate(roles):
        cmd = [sys.executable, __file__, "--role", role, "--name", name, "--agent", str(n), "--work", str(work),
               "--db", db, "--url", url, "--prefix", f"fleet-{label}", "--log", str(work / f"{name}.jsonl"),
               "--pause", str(args.consolidate_pause if role == "consolidate" else args.dashboard_pause)]
        procs.append((name, subprocess.Popen(cmd, env=child_env(), stderr=(work / f"{name}.err").open("w"))))
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not all((work / f"ready-{name}").exists() for name, _ in procs):
        dead = [(name, p.returncode) for name, p in procs if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            for _, p in procs:
                p.kill()
            server.kill()
            detail = "; ".join(f"{n} rc={rc}: {(work / f'{n}.err').read_text()[-600:]}" for n, rc in dead)
            raise SystemExit(f"[{label}] processes failed to get ready: {detail or 'timeout'}")
        time.sleep(0.2)
    load_before = os.getloadavg()
    start = time.time() + 1.0
    (work / "go.tmp").write_text(json.dumps({"start": start, "end": start + args.seconds}))
    (work / "go.tmp").rename(work / "go")
    print(f"[{label}] {len(procs)} processes ready ({api} Python-API agents, {args.agents - api} MCP agents, "
          f"dashboard, consolidate); running {args.seconds}s", flush=True)
    for name, p in procs:
        try:
            p.wait(timeout=args.seconds + 600)
        except subprocess.TimeoutExpired:
            p.kill()
            print(f"[{label}] {name} did not finish: killed", flush=True)
    elapsed = time.time() - start
    load_after = os.getloadavg()
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
    rows = {name: [json.loads(line) for line in (work / f"{name}.jsonl").read_text().splitlines() if line.strip()]
            if (work / f"{name}.jsonl").exists() else [] for name, _ in procs}
    crashed = [f"{name} rc={p.returncode}: {(work / f'{name}.err').read_text().strip()[-300:]}"
               for name, p in procs if p.returncode]
    # throughput over the agents' window: from the start to the last agent's last operation (the consolidate loop's
    # final run may end later)
    agent_ends = [r["at"] for name, lines in rows.items() if name.startswith(("api", "mcp")) for r in lines
                  if r["op"] == "done"]
    elapsed = max(agent_ends) - start if agent_ends else elapsed
    result = summarize(label, rows, elapsed, args.seconds, {"api": api, "mcp": args.agents - api})
    result.update(verify(db, rows), check=bank_check(db), crashed=crashed, approved_seed=approved,
                  load=(load_before, load_after), api_agents=api, mcp_agents=args.agents - api)
    return result


# ------------------------------------------------------------------------------------------------ the figures
def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summarize(label: str, rows: dict[str, list[dict]], elapsed: float, seconds: float, agents: dict[str, int]
              ) -> dict:
    ops: dict[str, dict] = {}
    errors: dict[str, int] = {}
    for name, lines in rows.items():
        channel = "api" if name.startswith("api") else "mcp" if name.startswith("mcp") else name
        for row in lines:
            if row["op"] == "done":
                continue
            keys = ((row["op"], channel), (row["op"], "all")) if channel in ("api", "mcp") else ((row["op"], channel),)
            for key in keys:
                slot = ops.setdefault("/".join(key), {"ms": [], "errors": 0})
                if row["ok"]:
                    slot["ms"].append(row["ms"])
                else:
                    slot["errors"] += 1
            if not row["ok"]:
                errors[row.get("error") or "?"] = errors.get(row.get("error") or "?", 0) + 1
    agents["all"] = agents["api"] + agents["mcp"]
    figures = {key: {"n": len(s["ms"]), "errors": s["errors"], "p50": percentile(s["ms"], 50),
                     "p95": percentile(s["ms"], 95), "per_s": len(s["ms"]) / elapsed,
                     "per_agent_s": len(s["ms"]) / elapsed / agents[key.split("/")[1]]
                     if agents.get(key.split("/")[1]) else None} for key, s in ops.items()}
    runs = [r for r in rows.get("consolidate", []) if r["op"] == "consolidate" and r["ok"]]
    consolidation = {k: sum(r.get(k, 0) for r in runs) for k in ("merged", "skipped", "failed")}
    rss = {name: next((r["rss_mb"] for r in lines if r["op"] == "done"), None) for name, lines in rows.items()}
    return {"label": label, "elapsed": elapsed, "seconds": seconds, "figures": figures,
            "errors": sorted(errors.items(), key=lambda kv: -kv[1])[:5], "rss_mb": rss,
            "consolidation": consolidation}


def verify(db: str, rows: dict[str, list[dict]]) -> dict:
    """Every acknowledged record in the bank exactly once, with all its steps; what was not acknowledged, counted."""
    from collections import Counter

    from bankcore import Bank

    acked = {r["task_id"]: r for lines in rows.values() for r in lines if r["op"] == "record" and r["ok"]}
    tried = {r["task_id"] for lines in rows.values() for r in lines if r["op"] == "record"}
    bank = Bank(db)  # not read_only: on PostgreSQL a read-only session cannot make the temp tables reads page with
    stored = [(t.task_id, len(t.steps)) for t in bank.store.iter_trajectories() if t.task_id.startswith("fleet-")]
    counts = Counter(task_id for task_id, _ in stored)
    steps = dict(stored)
    lost = [t for t in acked if counts[t] == 0]
    duplicates = [t for t, n in counts.items() if n > 1]
    short = [t for t, r in acked.items() if counts[t] and steps[t] != r["steps"]]
    unacked_landed = [t for t in tried - acked.keys() if counts[t]]
    strays = [t for t in counts if t not in tried]
    return {"acked": len(acked), "stored": len(stored), "lost": len(lost), "duplicates": len(duplicates),
            "partial": len(short), "unacked_landed": len(unacked_landed), "strays": len(strays),
            "items": bank.store.count("memory_items"), "events": bank.store.count("memory_events")}


def bank_check(db: str) -> str:
    done = subprocess.run([sys.executable, "-m", "bankcore.cli", "check", "--db", db, "--json"], capture_output=True,
                          text=True, env=child_env())
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        return f"FAILED rc={done.returncode}: {(done.stdout + done.stderr).strip()[-300:]}"
    if report.get("ok") and done.returncode == 0:
        return f"clean ({report['checks']} checks)"
    return f"{len(report['findings'])} finding(s): {json.dumps(report['findings'])[:300]}"


def fmt(value, spec: str = ".0f") -> str:
    return "—" if value is None else format(value, spec)


def report(results: list[dict], args, uptime: str, memory: str) -> str:
    by = {r["label"]: r for r in results}
    lines = [f"### {args.agents} agents, {args.seconds:.0f} s ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
             "", f"- machine: {os.cpu_count()} cores; `uptime` before: {uptime}; {memory}"]
    if getattr(args, "pg_wheel", None):
        lines.append(f"- PostgreSQL: the embedded server of the `{args.pg_wheel}` wheel (tests/embedded_pg.py)")
    for r in results:
        lines.append(f"- {r['label']}: {r['api_agents']} Python-API + {r['mcp_agents']} MCP-HTTP agents, dashboard "
                     f"reader, consolidate loop; {r['elapsed']:.1f} s measured; load average "
                     f"{r['load'][0][0]:.1f} -> {r['load'][1][0]:.1f}; peak RSS per agent process "
                     f"{rss_summary(r['rss_mb'])}")
    lines += ["", "| backend | op / channel | n | errors | p50 ms | p95 ms | per s | per s per agent |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        for key in sorted(r["figures"]):
            f = r["figures"][key]
            lines.append(f"| {r['label']} | {key} | {f['n']} | {f['errors']} | {fmt(f['p50'])} | {fmt(f['p95'])} | "
                         f"{f['per_s']:.2f} | {fmt(f['per_agent_s'], '.3f')} |")
    if "postgresql" in by and "duckdb" in by:
        pg, duck = by["postgresql"]["figures"], by["duckdb"]["figures"]
        lines += ["", "PostgreSQL / DuckDB (same run; latency ratio < 1 and throughput ratio > 1 favour PostgreSQL):",
                  "",
                  "| op / channel | p50 | p95 | throughput | throughput per agent |", "|---|---:|---:|---:|---:|"]
        for key in ("retrieve/all", "record/all", "retrieve/mcp", "record/mcp", "screen/dashboard"):
            if key in pg and key in duck:
                # a channel's total depends on how many agents use it: only whole-backend totals are compared
                total = ratio(pg[key]["per_s"], duck[key]["per_s"]) if key.endswith(("/all", "dashboard")) else "—"
                lines.append(f"| {key} | {ratio(pg[key]['p50'], duck[key]['p50'])} | "
                             f"{ratio(pg[key]['p95'], duck[key]['p95'])} | {total} | "
                             f"{ratio(pg[key]['per_agent_s'], duck[key]['per_agent_s'])} |")
    lines += ["", "| backend | acknowledged records | stored | lost | duplicates | partial | unacknowledged but "
              "stored | items / events after | `bankcore check` | crashed processes |",
              "|---|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for r in results:
        lines.append(f"| {r['label']} | {r['acked']} | {r['stored']} | {r['lost']} | {r['duplicates']} | "
                     f"{r['partial']} | {r['unacked_landed']} | {r['items']} / {r['events']} | {r['check']} | "
                     f"{len(r['crashed'])} |")
    for r in results:
        c = r["consolidation"]
        lines.append(f"- {r['label']} consolidate runs: {r['figures'].get('consolidate/consolidate', {}).get('n', 0)} "
                     f"ok, {c['merged']} groups merged, {c['skipped']} skipped by the optimistic check (items changed "
                     f"under it), {c['failed']} failed")
    for r in results:
        if r["errors"]:
            lines.append(f"- {r['label']} errors (top): " + "; ".join(f"{n}× {e}" for e, n in r["errors"]))
        for c in r["crashed"]:
            lines.append(f"- {r['label']} crashed: {c}")
    return "\n".join(lines) + "\n"


def rss_summary(rss: dict) -> str:
    """The largest peak RSS among each kind of agent process."""
    parts = []
    for prefix, kind in (("api", "Python-API"), ("mcp", "MCP client")):
        peaks = [v for k, v in rss.items() if v and k.startswith(prefix)]
        if peaks:
            parts.append(f"{kind} ~{max(peaks):.0f} MB")
    return ", ".join(parts) or "—"


def ratio(a, b) -> str:
    return "—" if a is None or not b else f"{a / b:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=16, help="agent processes per backend")
    parser.add_argument("--api-agents", type=int, default=None,
                        help="of them, Python-API agents on PostgreSQL (default: half)")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=30, help="tasks learned and approved before the clock starts")
    parser.add_argument("--per-file", type=int, default=200, help="tasks taken from each data file")
    parser.add_argument("--data", type=Path, nargs="*", help="agent trajectory files (default: tau-bench airline and "
                                                             "Reflexion HotpotQA from ../shared/datasets)")
    parser.add_argument("--backends", nargs="*", default=["postgresql", "duckdb"])
    parser.add_argument("--dashboard-pause", type=float, default=1.0)
    parser.add_argument("--consolidate-pause", type=float, default=2.0)
    parser.add_argument("--results", type=Path, help="append the figures to this markdown file")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) and print where")
    # a role's own arguments (the bench starts itself once per process)
    for name in ("--role", "--name", "--work", "--db", "--url", "--prefix", "--log"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--agent", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pause", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        args.log = Path(args.log)
        ROLES[args.role](args, Path(args.work))
        return 0

    sys.path.insert(0, str(ROOT))
    paths = args.data or [p for p in DEFAULT_DATA if p.exists()] or FALLBACK_DATA
    tasks = load_tasks(paths, args.per_file)
    if len(tasks) <= args.seed:
        raise SystemExit(f"only {len(tasks)} tasks with steps in {', '.join(map(str, paths))}: need more than "
                         f"--seed {args.seed}")
    args.api_agents = args.agents // 2 if args.api_agents is None else args.api_agents
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    memory = next((f"memory available {int(line.split()[1]) / 2**20:.1f} GiB" for line in
                   Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemAvailable")), "")
    print(f"{len(tasks)} tasks from {', '.join(p.name for p in paths)}; {uptime}", flush=True)
    base = Path(tempfile.mkdtemp(prefix="bankcore-fleet-"))
    results = []
    try:
        for label in args.backends:
            with bank_for(label, base, args) as db:
                results.append(run_backend(label, db, base / label, tasks, args))
    finally:
        if args.keep:
            print(f"work folder kept: {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    text = report(results, args, uptime, memory)
    print("\n" + text)
    if args.results:
        with args.results.open("a", encoding="utf-8") as out:
            out.write("\n" + text)
    bad = [r["label"] for r in results if r["lost"] or r["duplicates"] or r["partial"]
           or not r["check"].startswith("clean")]
    if bad:
        print(f"FAILED on {', '.join(bad)}: lost/duplicate/partial writes or `bankcore check` not clean")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
