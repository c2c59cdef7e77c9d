"""`bankcore mcp`: the bank as an MCP server, for agents that speak the Model Context Protocol — over stdio (one
agent, the server as its subprocess) or streamable HTTP (`--http`: many agents share one bank server).

Two tools close the ReasoningBank loop from the agent's side:
- `retrieve_memory` before a task: the most relevant approved lessons and the system-prompt block to inject;
- `record_trajectory` after it: the finished attempt (OpenAI-style messages or native steps) is stored, judged and
  distilled into lessons, which stay pending until a human approves them.
A third, `bank_stats`, reports the bank's figures from the read model (`bankcore.read`), as `bankcore stats` does.
The tools are thin: parsing reuses the importers (same validation, same error locations) and the work is `Bank`'s.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from .bank import Bank
from .errors import BankcoreError, Where
from .learn.importers import ImportOptions, native, openai_chat
from .search.memory_block import memory_block

INSTRUCTIONS = (
    "bankcore is a ReasoningBank memory. Before a task, call retrieve_memory with the task as the query (and its "
    "task_id) and append the returned `prompt` to your system prompt when it is not empty. After the task, call "
    "record_trajectory with what you did; lessons learned from it become retrievable once a human approves them."
)


def build_server(bank: Bank):
    """An `MCPServer` whose tools act on `bank` (kept separate from `serve` so tests can connect in-process too)."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(name="bankcore", instructions=INSTRUCTIONS)

    @server.tool()
    @_user_errors
    def retrieve_memory(query: str, k: int = 1, task_id: str | None = None, domain: str | None = None,
                        include_pending: bool = False) -> dict[str, Any]:
        """Memory items most relevant to a task, and the block to append to the system prompt ("" if none).

        Pass the task as the agent received it. With task_id, a lesson learned from that same task is never
        returned, and the retrieval is logged so the trajectory you record later is linked to what it was shown.
        k=1 is the paper's best setting.
        """
        hits = bank.retrieve(query, k, task_id=task_id, domain=domain, include_pending=include_pending)
        return {
            "items": [{"item_id": h.item.item_id, "rank": h.rank, "score": round(h.score, 4), "title": h.item.title,
                       "description": h.item.description, "content": h.item.content, "source": h.item.source}
                      for h in hits],
            "prompt": memory_block([h.item for h in hits]),
            "warnings": bank.retriever.warnings(),
            "empty_because": None if hits else bank.why_nothing_retrieved(include_pending=include_pending,
                                                                        domain=domain),
        }

    @server.tool()
    @_user_errors
    def record_trajectory(query: str | None = None, messages: list[dict[str, Any]] | None = None,
                          steps: list[dict[str, Any]] | None = None, task_id: str | None = None,
                          domain: str | None = None, final_answer: str | None = None,
                          final_state: str | None = None, success: bool | None = None,
                          reward: float | None = None) -> dict[str, Any]:
        """Store a finished attempt at a task, judge it and extract lessons (pending until a human approves them).

        Give either `messages` (OpenAI chat format: the first user message is the task; assistant turns with
        tool_calls and the tool results that follow become steps) or `query` plus `steps` (each
        {thought, action, observation}). `success`/`reward` are ground truth from your environment if you have
        it: stored to measure the judge, never shown to it. Recording the same attempt twice stores it once.
        """
        trajectory, truth = _parse(query=query, messages=messages, steps=steps, task_id=task_id, domain=domain,
                                   final_answer=final_answer, final_state=final_state, success=success,
                                   reward=reward)
        recorded = bank.record(trajectory, truth)
        return {
            "traj_id": recorded.traj_id, "added": recorded.added, "linked_retrievals": recorded.linked_retrievals,
            "items": [{"item_id": i.item_id, "title": i.title, "source": i.source, "status": i.status}
                      for i in recorded.items],
        }

    @server.tool()
    @_user_errors
    def bank_stats() -> dict[str, Any]:
        """What the bank holds and how well it is doing: counts, lessons by source and status, success rate and
        mean steps per run, each judge's quality against the ground truth and human labels, and agent runs — the
        same figures as `bankcore stats --json`. Read-only."""
        return json.loads(json.dumps(bank.views.stats().as_dict(), default=str))  # times as text, as the CLI writes

    return server


def _user_errors(tool):
    """Errors the caller caused (bad arguments, bad trajectory, busy bank) reach the agent as a one-line tool error;
    anything else is a crash, which the MCP server logs and reports without its text."""
    @functools.wraps(tool)
    def wrapper(*args, **kwargs):
        from mcp.server.mcpserver.exceptions import ToolError
        try:
            return tool(*args, **kwargs)
        except (BankcoreError, ValueError) as exc:
            raise ToolError(str(exc)) from exc
    return wrapper


def _parse(*, query, messages, steps, task_id, domain, final_answer, final_state, success, reward):
    """The tool's arguments as a trajectory, through the importers' own validation."""
    where = Where("record_trajectory")
    if (messages is None) == (steps is None):
        raise ValueError("give either `messages` (OpenAI chat format) or `query` with `steps`")
    obj: dict[str, Any] = {k: v for k, v in {"task_id": task_id, "domain": domain}.items() if v is not None}
    truth = {k: v for k, v in {"success": success, "reward": reward}.items() if v is not None}
    if truth:
        obj["truth"] = truth
    if messages is not None:
        record = openai_chat.parse_record({**obj, "messages": messages}, where, ImportOptions())
        if final_answer is not None:
            record.trajectory.final_answer = final_answer
        if final_state is not None:
            record.trajectory.final_state = final_state
    else:
        obj.update({"query": query, "steps": steps, "final_answer": final_answer, "final_state": final_state})
        record = native.parse_record({k: v for k, v in obj.items() if v is not None}, where, source_format=native.NAME)
    return record.trajectory, record.truth


# A server answers agents in bursts: between two calls less than this apart it keeps the bank file open (other
# processes that wait for the file get it at once; see `CoreStore.keep_open`).
KEEP_OPEN_S = 2.0


def serve(bank: Bank) -> None:
    """Serve `bank` over stdio until the client closes the connection."""
    bank.keep_open(KEEP_OPEN_S)
    build_server(bank).run("stdio")


def serve_http(bank: Bank, *, host: str = "127.0.0.1", port: int = 8000, token: str | None = None) -> None:
    """Serve `bank` over MCP's streamable HTTP transport at http://host:port/mcp, so many agents share one bank
    server, until interrupted. Bound beyond loopback it needs `token`, which every request must then carry as
    `Authorization: Bearer <token>`; on loopback a token is optional (enforced when given)."""
    import uvicorn

    check_http_binding(host, token)
    bank.keep_open(KEEP_OPEN_S)
    app = build_server(bank).streamable_http_app(host=host)
    if token:
        app = BearerToken(app, token)
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")).run()


def check_http_binding(host: str, token: str | None) -> None:
    """Refuse to serve beyond loopback without a token: anyone who can reach the port could read every lesson and
    record trajectories that become lessons."""
    if token or is_loopback(host):
        return
    raise BankcoreError(f"serving MCP on {host} reaches beyond this machine: set BANKCORE_MCP_TOKEN to a secret that "
                        "every client sends as `Authorization: Bearer <token>`, or bind to 127.0.0.1")


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class BearerToken:
    """ASGI middleware: an HTTP request without `Authorization: Bearer <token>` gets 401 and reaches nothing.
    The comparison takes the same time whatever the guess (`hmac.compare_digest`)."""

    def __init__(self, app, token: str):
        self.app, self.expected = app, f"Bearer {token}".encode("utf-8")

    async def __call__(self, scope, receive, send):
        import hmac

        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = b'{"error": "missing or wrong bearer token (BANKCORE_MCP_TOKEN)"}'
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"www-authenticate", b'Bearer realm="bankcore"'),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
