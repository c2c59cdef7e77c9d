"""bench/real_model.py's own machinery, where a defect there cost a real run its figures."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Run as its own process, started with Ctrl-C ignored as a shell without job control starts `make bench-real-model &`
# or `nohup`: the bench, with a ten-second time box (the judge's call is in flight by then) and a 20-second grace,
# over a `learn` whose judge call our server answers only after two minutes.
BACKGROUND_BENCH = """
import json, sys, time
from pathlib import Path
sys.path[:0] = [sys.argv[1] + "/tests", sys.argv[1] + "/bench"]
import real_model
from fake_llm import FakeLLM
real_model.INTERRUPT_GRACE_S = 20
server = FakeLLM().start()
server.responder = lambda request: time.sleep(120) or 'Thoughts: ok\\nStatus: "success"'
work = Path(sys.argv[2])
env = {"PATH": "/usr/bin:/bin", "BANKCORE_LLM_BASE_URL": server.url, "BANKCORE_MODEL": "m", "OPENAI_API_KEY": "x",
       "BANKCORE_LLM_TIMEOUT": "300", "HOME": str(work)}
result = real_model.run_step("learn", ["learn", sys.argv[3], "--judge", "llm", "--extractor", "heuristic"],
                             work / "bank.duckdb", env, work / "steps.log", timeout_s=10)
print(json.dumps(result))
"""


def test_a_time_boxed_step_is_interrupted_when_the_bench_runs_in_the_background(tmp_path):
    """Started in the background, the bench inherits an ignored SIGINT and so did every step it ran: its Ctrl-C was
    a no-op, the step ran out its grace and was killed, and the LLM calls it had made were lost (SmolLM2's learn
    step: 360 s, killed mid-judge; the repair it went on to send is in the server's log, not in the bank)."""
    trajectory = {"task_id": "t1", "query": "Book the fastest trip.", "final_answer": "done", "steps": [
        {"thought": "look", "action": "search_flights(DEN, IAH)", "observation": "HAT001 departs 07:00"}]}
    source = tmp_path / "one.jsonl"
    source.write_text(json.dumps(trajectory) + "\n")
    done = subprocess.run([sys.executable, "-c", BACKGROUND_BENCH, str(ROOT), str(tmp_path), str(source)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    log = (tmp_path / "steps.log").read_text()
    assert result["exit"] == "time box" and "interrupted" in log, log[-1000:]
    assert result["seconds"] < 10 + 20  # the step stopped on Ctrl-C, not when the grace ran out


def test_the_server_is_stopped_even_when_it_waits_out_a_request():
    """uvicorn answers SIGTERM by waiting for the request in flight (one a time box left behind): the bench kills it
    after the grace instead of ending in a traceback with the server still running."""
    sys.path.insert(0, str(ROOT / "bench"))
    import real_model
    busy = subprocess.Popen([sys.executable, "-c", "import signal, time\n"
                             "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\n"
                             "time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert busy.stdout.readline().strip() == "ready"  # SIGTERM is ignored from here on
        real_model.stop_server(busy, grace_s=1)
        assert busy.poll() is not None
    finally:
        busy.kill()
        busy.wait()
