"""Import throughput of the τ²-bench (results file and dir format), Inspect AI, ATIF (JSONL and Harbor job folder)
and OpenTelemetry importers, against the τ-bench importer in the same run.

For each input it prints two rows: `parse` (the importer alone: records/s and steps/s, median of the repeats, in
this process) and `import` (a full `bankcore import` into a fresh bank in its own process: records/s, steps/s and
peak RSS, median of the repeats). Inputs:
- the real τ²-bench telecom results file (/work/realdata, or $BANKCORE_REALDATA) and the shared τ-bench airline
  file (the baseline), when present;
- generated files of --n records each: τ²-bench (the real file's simulations, or the test sample's, repeated as new
  trials), the same simulations as a τ²-bench dir-format run (``results.json`` with a ``simulation_index``, one
  ``simulations/<id>.json`` each), a Harbor job folder (the test job's trials with a trajectory, copied under new
  trial names: ``result.json`` + ``agent/trajectory.json`` each), τ-bench (the airline file's records repeated as new trials, the baseline at the same scale), an Inspect AI
  log (as `.json` and as the zip `.eval`), an ATIF JSONL and an OpenTelemetry collector JSONL (one trace per line)
  (the test samples repeated under new ids). The last lines give each format's records/s and steps/s as a ratio
  to τ-bench's at the same scale.

Usage: python bench/import_formats.py [--n 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bankcore.learn.importers import ImportOptions, Record, read  # noqa: E402

SHARED = Path(os.environ.get("BANKCORE_SHARED", ROOT.parent / "shared")) / "datasets"
REALDATA = Path(os.environ.get("BANKCORE_REALDATA", ROOT.parent / "realdata"))
TAU2_REAL = REALDATA / "tau2-bench" / "2025-08-10T02-44-06_telecom_llm_agent_gpt-4o_user_simulator_gpt-4o.json"
TAU_AIRLINE = SHARED / "tau-bench-airline" / "gpt-4o-airline.json"
DATA = ROOT / "tests" / "data"

CHILD = r"""
import json, resource, sys, time
from bankcore import Bank
bank = Bank(sys.argv[1])
bank.init()
t0 = time.perf_counter()
report = bank.import_path(sys.argv[2], fmt=sys.argv[3])
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "added": report.added, "steps": report.steps_added,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def parse_once(path: Path, fmt: str) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    records = steps = 0
    for item in read(path, fmt, ImportOptions()):  # the import's own dispatch: folders too
        if isinstance(item, Record):
            records += 1
            steps += item.trajectory.num_steps
    return time.perf_counter() - t0, records, steps


def size_mb(path: Path) -> float:
    """A file's size, or a folder's (every file under it)."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1024 / 1024


def import_once(path: Path, fmt: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", CHILD, str(Path(tmp) / "b.duckdb"), str(path), fmt],
                             check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out)


def measure(label: str, path: Path, fmt: str, repeats: int) -> dict:
    parses = [parse_once(path, fmt) for _ in range(repeats)]
    secs = statistics.median(p[0] for p in parses)
    _, records, steps = parses[0]
    mb = size_mb(path)
    parse_row = {"input": label, "format": fmt, "stage": "parse", "file_mb": round(mb, 1), "records": records,
                 "steps": steps, "median_s": round(secs, 3), "records_per_s": round(records / secs),
                 "steps_per_s": round(steps / secs), "mb_per_s": round(mb / secs, 1)}
    print(json.dumps(parse_row), flush=True)
    runs = [import_once(path, fmt) for _ in range(repeats)]
    secs = statistics.median(r["seconds"] for r in runs)
    import_row = {"input": label, "format": fmt, "stage": "import", "file_mb": round(mb, 1),
                  "records": runs[0]["added"], "steps": runs[0]["steps"], "median_s": round(secs, 3),
                  "records_per_s": round(runs[0]["added"] / secs), "steps_per_s": round(runs[0]["steps"] / secs),
                  "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs)), "repeats": repeats}
    print(json.dumps(import_row), flush=True)
    return import_row


# ---------------------------------------------------------------------- generated inputs
def gen_tau2(source: Path, out: Path, n: int) -> None:
    """The source's simulations repeated as further trials, written member by member (no whole-file dict)."""
    data = json.loads(source.read_text())
    sims = data["simulations"]
    with out.open("w") as fh:
        fh.write("{" + ", ".join(f"{json.dumps(k)}: {json.dumps(data[k])}" for k in ("timestamp", "info", "tasks"))
                 + ', "simulations": [\n')
        for i in range(n):
            sim = dict(sims[i % len(sims)], id=f"gen-{i}", trial=i // len(sims))
            fh.write(("," if i else "") + json.dumps(sim) + "\n")
        fh.write("]}\n")


def gen_tau2_dir(source: Path, out: Path, n: int) -> None:
    """`gen_tau2`'s simulations as τ²-bench's dir format: `out/results.json` (info, tasks, simulation_index) and one
    `out/simulations/<id>.json` per simulation."""
    data = json.loads(source.read_text())
    sims = data["simulations"]
    (out / "simulations").mkdir(parents=True)
    index = []
    for i in range(n):
        sim = dict(sims[i % len(sims)], id=f"gen-{i}", trial=i // len(sims))
        (out / "simulations" / f"gen-{i}.json").write_text(json.dumps(sim))
        index.append({k: sim.get(k) for k in ("id", "task_id", "trial", "termination_reason", "duration")})
    (out / "results.json").write_text(json.dumps({k: data[k] for k in ("timestamp", "info", "tasks")}
                                                 | {"simulation_index": index}))


def gen_harbor(job: Path, out: Path, n: int) -> None:
    """A Harbor job folder of `n` trials: the sample job's trials that hold a trajectory, copied in turn under new
    trial names (`<task>__gen000042`), each `result.json` renamed to match; the job's config and result beside."""
    out.mkdir(parents=True)
    for name in ("config.json", "result.json"):
        (out / name).write_bytes((job / name).read_bytes())
    trials = sorted(p for p in job.iterdir() if (p / "agent" / "trajectory.json").is_file())
    for i in range(n):
        source = trials[i % len(trials)]
        result = json.loads((source / "result.json").read_text())
        name = f"{result['task_name']}__gen{i:06d}"
        (out / name / "agent").mkdir(parents=True)
        result.update(id=f"00000000-0000-0000-0000-{i:012d}", trial_name=name)
        (out / name / "result.json").write_text(json.dumps(result))
        (out / name / "agent" / "trajectory.json").write_bytes((source / "agent" / "trajectory.json").read_bytes())


def gen_tau_bench(source: Path, out: Path, n: int) -> None:
    records = json.loads(source.read_text())
    with out.open("w") as fh:
        fh.write("[\n")
        for i in range(n):
            fh.write(("," if i else "") + json.dumps(dict(records[i % len(records)], trial=i)) + "\n")
        fh.write("]\n")


def gen_inspect(source: Path, out: Path, n: int) -> None:
    data = json.loads(source.read_text())
    samples = data["samples"]
    head = {k: v for k, v in data.items() if k not in ("samples", "reductions")}
    with out.open("w") as fh:
        fh.write(json.dumps(head)[:-1] + ', "samples": [\n')
        for i in range(n):
            fh.write(("," if i else "") + json.dumps(dict(samples[i % len(samples)], id=f"gen-{i}")) + "\n")
        fh.write("]}\n")


def gen_inspect_eval(source: Path, out: Path, n: int) -> None:
    """The same samples as `gen_inspect`, in Inspect's zip `.eval` encoding (header.json + samples/*.json)."""
    import zipfile

    data = json.loads(source.read_text())
    samples = data["samples"]
    head = {k: v for k, v in data.items() if k not in ("samples", "reductions")}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(n):
            sample = dict(samples[i % len(samples)], id=f"gen-{i}")
            zf.writestr(f"samples/gen-{i}_epoch_{sample['epoch']}.json", json.dumps(sample))
        zf.writestr("header.json", json.dumps(head))


def gen_atif(source: Path, out: Path, n: int) -> None:
    lines = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    with out.open("w") as fh:
        for i in range(n):
            line = dict(lines[i % len(lines)], session_id=f"gen-{i}", extra={"task_id": f"gen-task-{i}"})
            fh.write(json.dumps(line) + "\n")


def gen_otel(source: Path, out: Path, n: int) -> None:
    """The sample export's trace repeated as `n` traces (new trace ids, the query numbered so each is its own task),
    one export per line, as the collector's file exporter writes."""
    export = json.loads(source.read_text())
    text = json.dumps(export)
    trace_id = export["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
    with out.open("w") as fh:
        for i in range(n):
            fh.write(text.replace(trace_id, f"{i:032x}").replace("I land in Lisbon", f"({i}) I land in Lisbon") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="records per generated file (default 1000)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, dict] = {}
    if TAU_AIRLINE.exists():
        rows["tau-bench real"] = measure("tau-bench airline (shared, real)", TAU_AIRLINE, "tau-bench", args.repeats)
    if TAU2_REAL.exists():
        rows["tau2 real"] = measure("tau2-bench telecom (realdata, real)", TAU2_REAL, "tau2-bench", args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        generated = []
        tau2_source = TAU2_REAL if TAU2_REAL.exists() else DATA / "tau2" / "airline_2tasks_2trials.json"
        gen_tau2(tau2_source, tmp_dir / "tau2.json", args.n)
        generated.append(("tau2", f"tau2-bench generated x{args.n} (from {tau2_source.name})", "tau2.json",
                          "tau2-bench"))
        gen_tau2_dir(tau2_source, tmp_dir / "tau2_dir", args.n)
        generated.append(("tau2-dir", f"tau2-bench dir format generated x{args.n} (from {tau2_source.name})",
                          "tau2_dir", "tau2-bench"))
        if TAU_AIRLINE.exists():
            gen_tau_bench(TAU_AIRLINE, tmp_dir / "gpt-4o-airline.json", args.n)
            generated.append(("tau-bench", f"tau-bench generated x{args.n} (baseline)", "gpt-4o-airline.json",
                              "tau-bench"))
        gen_inspect(DATA / "inspect_ai" / "shell_facts_2epochs.json", tmp_dir / "inspect.json", args.n)
        generated.append(("inspect", f"inspect-ai generated x{args.n}", "inspect.json", "inspect-ai"))
        gen_inspect_eval(DATA / "inspect_ai" / "shell_facts_2epochs.json", tmp_dir / "inspect.eval", args.n)
        generated.append(("inspect-eval", f"inspect-ai .eval generated x{args.n}", "inspect.eval", "inspect-ai"))
        gen_atif(DATA / "atif" / "mini_swe_agent_v2.atif.jsonl", tmp_dir / "atif.jsonl", args.n)
        generated.append(("atif", f"atif generated x{args.n}", "atif.jsonl", "atif"))
        gen_harbor(DATA / "harbor" / "2025-11-04__09-30-00", tmp_dir / "harbor_job", args.n)
        generated.append(("harbor", f"harbor job folder generated x{args.n} trials", "harbor_job", "atif"))
        gen_otel(DATA / "otel" / "chat_two_tools.json", tmp_dir / "otel.jsonl", args.n)
        generated.append(("otel", f"otel collector JSONL generated x{args.n}", "otel.jsonl", "otel"))
        for key, label, name, fmt in generated:
            rows[key] = measure(label, tmp_dir / name, fmt, args.repeats)
    base = rows.get("tau-bench")
    if base:
        for key in ("tau2", "tau2-dir", "inspect", "inspect-eval", "atif", "harbor", "otel"):
            row = rows[key]
            print(json.dumps({"ratio_vs_tau_bench": key, "n": row["records"],
                              "records_per_s": round(row["records_per_s"] / base["records_per_s"], 2),
                              "steps_per_s": round(row["steps_per_s"] / base["steps_per_s"], 2)}))


if __name__ == "__main__":
    main()
