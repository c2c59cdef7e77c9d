"""A scripted LLM for the `shop` environment, served by `fake_llm.FakeLLM`: the agent, its judge, its extractor,
the best-of-N selector and the self-contrast extractor, each answering from what the request shows.

The agent policy is deliberately naive in one way the paper names (missed pagination): asked to count or total
orders of a month, it opens the order history and answers from the first page — unless a lesson about going
through every page is in its system prompt, or it is an "explorer" attempt, or a refinement check makes it look
again. So a test can prove that memory changes behaviour through the real loop (retrieval → system prompt →
actions), without pretending that a script is smart. The judge reads only the trajectory: an answer given while
the order listing it read still had unread pages is a failure.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import datetime

from bankcore.agent.react import base_system
from bankcore.agent.shop import MONTHS, ShopEnvironment

BASE = base_system(ShopEnvironment().instructions)
_PAGE = re.compile(r"My Orders: showing \d+-\d+ of \d+ \(page (\d+) of (\d+)\)")
_ORDER = re.compile(r"^#(\d+) (\w{3}) (\d+), (\d{4}) \$([\d.]+) ", re.M)
_MONTH = re.compile(r"in (\w+) (\d{4})")
LESSON_WORDS = re.compile(r"every page|all pages|pagination", re.I)

PAGING_LESSON = {
    "title": "Check every page of the order history before counting",
    "description": "A count or total over orders taken from the first page of the history misses older orders.",
    "content": "The order history lists the newest orders first, one page at a time. Before counting or adding up "
               "orders for a period, go through every page of the listing and only then answer.",
}
SUCCESS_LESSON = {
    "title": "Read every page of a listing before aggregating",
    "description": "Counting across all pages of the order history gave the right result.",
    "content": "When a question asks how many or how much over a period, page through the whole order history "
               "and aggregate what every page shows before answering.",
}


class ShopScript:
    """Callable as `FakeLLM.responder`. `explore_every`: every n-th attempt at a task pages through anyway (the
    variety k sampled attempts have); 0 turns it off."""

    def __init__(self, explore_every: int = 0, selector_format: str = "fenced"):
        self.explore_every = explore_every
        self.selector_format = selector_format
        self.starts: Counter[str] = Counter()
        self.calls: defaultdict[str, list[dict]] = defaultdict(list)  # requests by role

    def __call__(self, request: dict) -> str:
        system = request["messages"][0]["content"]
        if system.startswith(BASE[:60]):
            role, reply = "agent", self.agent
        elif "evaluating the performance" in system:
            role, reply = "judge", self.judge
        elif "evaluating the trajectories of AI agents" in system:
            role, reply = "select", self.select
        elif "Compare and contrast" in system:
            role, reply = "contrast", self.contrast
        else:
            role, reply = "extract", self.extract
        self.calls[role].append(request)
        return reply(request)

    # ------------------------------------------------------------------ the agent
    def agent(self, request: dict) -> str:
        messages = request["messages"]
        memory = messages[0]["content"][len(BASE):]
        task = messages[1]["content"].split("\n\n")[0].removeprefix("Task: ")
        turns = sum(1 for m in messages if m["role"] == "assistant")
        if turns == 0:
            self.starts[task] += 1
        attempt = self.starts[task] - 1
        last = messages[-1]["content"]
        month = _MONTH.search(task)
        if month is None:
            return "Thought: I do not know how to do this.\nAction: answer[unknown]"
        if "re-examine your previous trajectory" in last:
            if self._unread_pages(messages):
                return ("Thought: Re-examining my work: I answered from the first page of my order history, but it "
                        "has more pages that I never read, so my count may miss orders. I will go through every "
                        "page.\nAction: next_page[]")
            return f"Thought: I checked every page; my answer stands.\nAction: answer[{self._result(messages, task)}]"
        if "Let's check again" in last:
            return (f"Thought: Checked again: every page of the history was read and the result follows from it."
                    f"\nAction: answer[{self._result(messages, task)}]")
        if turns == 0:
            return "Thought: The orders are in my order history.\nAction: orders[]"
        page = _PAGE.search(last)
        explorer = self.explore_every and attempt % self.explore_every == self.explore_every - 1
        careful = bool(LESSON_WORDS.search(memory)) or explorer or self._refining(messages)
        if page and careful and int(page.group(1)) < int(page.group(2)):
            why = "the memory says to check every page" if LESSON_WORDS.search(memory) else "there are more pages"
            return f"Thought: This is page {page.group(1)} of {page.group(2)} and {why}.\nAction: next_page[]"
        return f"Thought: I have what I need.\nAction: answer[{self._result(messages, task)}]"

    @staticmethod
    def _refining(messages: list[dict]) -> bool:
        return any("re-examine your previous trajectory" in m["content"] for m in messages if m["role"] == "user")

    @staticmethod
    def _unread_pages(messages: list[dict]) -> bool:
        pages = [(int(a), int(b)) for m in messages if m["role"] == "user" for a, b in _PAGE.findall(m["content"])]
        return bool(pages) and max(p for p, _ in pages) < pages[-1][1]

    @staticmethod
    def _result(messages: list[dict], task: str) -> str:
        name, year = _MONTH.search(task).groups()
        month = MONTHS.index(name) + 1
        seen = {}
        for m in messages:
            if m["role"] == "user":
                for number, mon, _, yr, total in _ORDER.findall(m["content"]):
                    if int(yr) == int(year) and datetime.strptime(mon, "%b").month == month:
                        seen[number] = float(total)
        if "How many" in task:
            return str(len(seen))
        return f"${sum(seen.values()):.2f}"

    # ------------------------------------------------------------------ the learning side
    def judge(self, request: dict) -> str:
        history = request["messages"][1]["content"]
        pages = [(int(a), int(b)) for a, b in _PAGE.findall(history)]
        if "Agent's final response: N/A" in history:
            return "Thoughts: The agent never answered.\nStatus: \"failure\""
        if pages and max(p for p, _ in pages) < pages[-1][1]:
            return ("Thoughts: The agent answered from page 1 of a multi-page order history without reading the "
                    "other pages, so its count cannot be trusted.\nStatus: \"failure\"")
        return "Thoughts: The agent read the whole listing before answering.\nStatus: \"success\""

    def extract(self, request: dict) -> str:
        failed = "FAILED" in request["messages"][0]["content"]
        lesson = dict(PAGING_LESSON if failed else SUCCESS_LESSON, steps=[1, 2])
        items = [lesson]
        if "**Refinement notes:**" in request["messages"][1]["content"]:
            items.append({"title": "Re-check coverage of a listing before finishing",
                          "description": "A re-examination found that the first answer skipped pages of a listing.",
                          "content": "When re-checking, ask whether every page the answer depends on was read; if "
                                     "not, read them and answer again.", "steps": [3]})
        return json.dumps({"reasoning": "scripted", "items": items})

    def select(self, request: dict) -> str:
        blocks = re.split(r"\*\*Trajectory (\d+)\*\*:", request["messages"][1]["content"])[1:]
        best = 1
        for number, text in zip(blocks[::2], blocks[1::2]):
            pages = [(int(a), int(b)) for a, b in _PAGE.findall(text)]
            if pages and max(p for p, _ in pages) == pages[-1][1]:
                best = int(number)
                break
        payload = json.dumps({"analysis": f"Trajectory {best} read every page before answering.", "index": [best]})
        if self.selector_format == "fenced":
            return f"Comparing the attempts on progress and coverage.\n```json\n{payload}\n```"
        return payload

    def contrast(self, request: dict) -> str:
        text = request["messages"][1]["content"]
        labels = re.findall(r"\*\*Trajectory (\d+)\*\* \(judged: (\w+)\):", text)
        wins = [int(n) for n, label in labels if label == "success"]
        losses = [int(n) for n, label in labels if label == "failure"]
        items = [dict(PAGING_LESSON, evidence=[{"trajectory": n, "steps": [2]} for n in losses] +
                      [{"trajectory": n, "steps": [2, 3]} for n in wins])]
        if wins and losses:
            items.append({"title": "Prefer the attempt that covered the whole listing",
                          "description": "Successful attempts read every page; failed ones stopped at the first.",
                          "content": "Compare how much of a listing an approach covers. Answers built on a partial "
                                     "listing fail; finish only after the last page.",
                          "evidence": {str(n): [2] for n in wins}})
        return json.dumps({"reasoning": "scripted contrast", "items": items})
