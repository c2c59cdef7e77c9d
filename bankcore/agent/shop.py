"""`shop`: a small, fully offline web-shop environment with real success checks, authored for bankcore.

It reproduces the failure modes the ReasoningBank paper names on WebArena-Shopping — missed pagination, the
wrong identifier among similar names, a premature "no results", loops and the step limit — in text form, so the
memory loop can be run and measured without a browser or a network. Everything is generated from a fixed seed.

Actions (one per turn): ``search[terms]``, ``sort[price_asc|price_desc|rating]``, ``next_page[]``,
``prev_page[]``, ``open[P1234]``, ``orders[]``, ``open_order[100123]``, ``answer[text]``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from .env import StepResult, Task

PAGE_SIZE = 5
ORDERS_PAGE_SIZE = 10
MAX_STEPS = 15
_ACTION = re.compile(r"^\s*([a-z_]+)\s*\[(.*)\]\s*$", re.S)
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


@dataclass(frozen=True)
class Product:
    pid: str
    name: str
    category: str
    price: float
    rating: float
    ports: int | None = None
    aliases: tuple[str, ...] = ()

    def line(self) -> str:
        extra = f", {self.ports} ports" if self.ports else ""
        return f"{self.pid} {self.name} — ${self.price:.2f}{extra}, rated {self.rating:.1f}"


@dataclass(frozen=True)
class Order:
    number: str
    placed: date
    items: tuple[str, ...]  # product ids
    total: float
    status: str


@dataclass
class Catalog:
    products: list[Product]
    orders: list[Order]  # newest first, as the order history shows them

    def product(self, pid: str) -> Product | None:
        return next((p for p in self.products if p.pid == pid), None)


HUB_BRANDS = ["Anker", "Ugreen", "Satechi", "Belkin", "Baseus", "Sabrent", "Plugable", "Hiearcool"]
OTHER = [
    ("kitchen", ["Stainless Steel Kettle", "Ceramic Pour-Over Dripper", "Bamboo Cutting Board", "Cast Iron Skillet",
                 "Digital Kitchen Scale", "Silicone Spatula Set"]),
    ("books", ["Field Guide to Mushrooms", "Introduction to Algorithms", "The Bread Baker's Notebook",
               "Hiking the Pacific Crest", "A Short History of Maps"]),
    ("office", ["Ergonomic Mouse Pad", "Mesh Desk Organizer", "Laptop Stand Aluminum", "Noise Cancelling Headset",
                "Wireless Presenter Remote"]),
]
ALIASES = {  # what a shopper might call a thing vs what the listing says
    "Ceramic Pour-Over Dripper": ("coffee filter cone",),
    "Wireless Presenter Remote": ("slide clicker",),
    "Mesh Desk Organizer": ("pen holder tray",),
    "Digital Kitchen Scale": ("food weighing scale",),
    "Noise Cancelling Headset": ("call center headphones",),
    "Bamboo Cutting Board": ("wooden chopping board",),
}


def build_catalog(seed: int = 2509) -> Catalog:
    rng = random.Random(seed)
    products: list[Product] = []
    pid = 1000
    for brand in HUB_BRANDS:
        for ports in (2, 4, 7):
            for plug in ("USB-C", "USB-A"):
                pid += 1
                price = round(9 + ports * rng.uniform(3.0, 6.5) + (4 if plug == "USB-C" else 0), 2)
                products.append(Product(f"P{pid}", f"{brand} {ports}-Port {plug} Hub", "electronics", price,
                                        round(rng.uniform(3.4, 4.9), 1), ports))
    for category, names in OTHER:
        for name in names:
            pid += 1
            products.append(Product(f"P{pid}", name, category, round(rng.uniform(8, 70), 2),
                                    round(rng.uniform(3.0, 4.9), 1), aliases=ALIASES.get(name, ())))
    rng.shuffle(products)  # listing order is "relevance", not price
    orders: list[Order] = []
    day = date(2024, 6, 28)
    number = 100400
    while day > date(2023, 1, 5):
        items = tuple(p.pid for p in rng.sample(products, rng.randint(1, 3)))
        total = round(sum(next(p.price for p in products if p.pid == i) for i in items), 2)
        orders.append(Order(str(number), day, items, total, rng.choice(["delivered"] * 5 + ["returned"])))
        number -= rng.randint(1, 9)
        day -= timedelta(days=rng.randint(4, 16))
    return Catalog(products, orders)


def _month_orders(catalog: Catalog, year: int, month: int) -> list[Order]:
    return [o for o in catalog.orders if o.placed.year == year and o.placed.month == month]


def build_tasks(catalog: Catalog, seed: int = 2509) -> list[Task]:
    """Five task families, interleaved so that a lesson from one task can help a later one of the same kind."""
    rng = random.Random(seed)
    families: list[list[Task]] = [[], [], [], [], []]
    months = sorted({(o.placed.year, o.placed.month) for o in catalog.orders})
    deep = [m for m in months if catalog.orders.index(_month_orders(catalog, *m)[0]) >= ORDERS_PAGE_SIZE]
    for i, (year, month) in enumerate(rng.sample(deep, 8)):
        found = _month_orders(catalog, year, month)
        families[0].append(Task(f"shop-count-{i}", f"How many orders did I place in {MONTHS[month - 1]} {year}?",
                                "shopping", gold=len(found), kind="count_orders"))
        families[4].append(Task(f"shop-spent-{i}", f"How much did I spend in total on orders placed in "
                                f"{MONTHS[month - 1]} {year}? Answer in dollars.", "shopping",
                                gold=round(sum(o.total for o in found), 2), kind="total_spent"))
    for i, ports in enumerate([4, 7, 4, 7, 2, 4, 7, 2]):
        plug = "USB-C" if i % 2 == 0 else "USB-A"
        fits = [p for p in catalog.products if p.ports and p.ports >= ports and plug in p.name]
        best = min(fits, key=lambda p: p.price)
        families[1].append(Task(f"shop-cheapest-{i}", f"What is the cheapest {plug} hub with at least {ports} ports? "
                                "Give its product id.", "shopping", gold=best.pid, kind="cheapest"))
    ordered = [(o, pid) for o in catalog.orders for pid in o.items
               if (p := catalog.product(pid)) and p.ports]
    for i, (order, pid) in enumerate(rng.sample(ordered, 8)):
        product = catalog.product(pid)
        families[2].append(Task(f"shop-order-{i}", f"What is the order number of my purchase of the {product.name} "
                                f"on {order.placed:%B %-d, %Y}?", "shopping", gold=order.number,
                                kind="order_lookup"))
    aliased = [p for p in catalog.products if p.aliases]
    for i, product in enumerate(aliased + aliased[:2]):
        families[3].append(Task(f"shop-find-{i}", f"I'm looking for {product.aliases[0]}. Do you sell one? If so, give its product id.",
                                "shopping", gold=product.pid, kind="synonym_search"))
    tasks = []
    for round_ in range(8):
        for family in families:
            if round_ < len(family):
                tasks.append(family[round_])
    return tasks


@dataclass
class _Listing:
    kind: str  # 'search' | 'orders'
    rows: list
    page: int = 0
    title: str = ""


@dataclass
class ShopEnvironment:
    """The environment state for one episode at a time."""

    name: str = "shop"
    catalog: Catalog = field(default_factory=build_catalog)
    max_steps: int = MAX_STEPS
    instructions: str = (
        "You are shopping on OneStopShop as the signed-in customer. Act with exactly one action per turn:\n"
        "search[terms] — search the catalog; sort[price_asc|price_desc|rating] — sort the current results;\n"
        "next_page[] / prev_page[] — move through the current listing; open[P1234] — product details;\n"
        "orders[] — your order history (newest first); open_order[100123] — one order;\n"
        "answer[text] — give your final answer and finish.")

    def __post_init__(self):
        self._tasks = build_tasks(self.catalog)
        self.task: Task | None = None
        self.listing: _Listing | None = None
        self.answer: str | None = None
        self.steps = 0
        self.done = False

    def tasks(self) -> list[Task]:
        return list(self._tasks)

    def reset(self, task: Task) -> str:
        self.task, self.listing, self.answer, self.steps, self.done = task, None, None, 0, False
        return "OneStopShop home page. Signed in. Search box, categories: electronics, kitchen, books, office. " \
               "Links: My Orders."

    def reopen(self) -> str:
        """Sequential MaTTS: let the agent act again after it answered, with a fresh step budget. The listing it
        was on is kept, and its answer stands unless it answers again."""
        if self.task is None:
            raise RuntimeError("reopen before reset")
        self.done, self.steps = False, 0
        return "You may act again. Your previous answer stands unless you give a new one with answer[...]."

    # ------------------------------------------------------------------ actions
    def step(self, action: str) -> StepResult:
        if self.done:
            return StepResult("The episode is over.", True)
        self.steps += 1
        match = _ACTION.match(action or "")
        if match is None:
            observation = f"Error: could not parse action {action!r}. Use one of: search[...], sort[...], " \
                          "next_page[], prev_page[], open[...], orders[], open_order[...], answer[...]."
        else:
            verb, arg = match[1], match[2].strip()
            handler = getattr(self, f"_do_{verb}", None)
            observation = handler(arg) if handler else f"Error: unknown action {verb!r}."
        if not self.done and self.steps >= self.max_steps:
            self.done = True
            observation += f"\nStep limit of {self.max_steps} reached; the episode ends without an answer."
        return StepResult(observation, self.done)

    def _do_search(self, terms: str) -> str:
        words = [w for w in re.findall(r"[a-z0-9-]+", terms.lower()) if w not in {"a", "the", "with", "for"}]
        if not words:
            return "Error: empty search."
        hits = [p for p in self.catalog.products
                if all(w in f"{p.name} {p.category}".lower() for w in words)]
        self.listing = _Listing("search", hits, 0, f"Results for '{terms}'")
        return self._show()

    def _do_sort(self, how: str) -> str:
        if self.listing is None or self.listing.kind != "search":
            return "Error: nothing to sort; search first."
        keys = {"price_asc": (lambda p: p.price, False), "price_desc": (lambda p: p.price, True),
                "rating": (lambda p: p.rating, True)}
        if how not in keys:
            return f"Error: unknown sort {how!r} (price_asc, price_desc, rating)."
        key, reverse = keys[how]
        self.listing.rows.sort(key=key, reverse=reverse)
        self.listing.page = 0
        return self._show()

    def _do_next_page(self, _: str) -> str:
        return self._turn(+1)

    def _do_prev_page(self, _: str) -> str:
        return self._turn(-1)

    def _turn(self, delta: int) -> str:
        if self.listing is None:
            return "Error: there is no listing to page through."
        pages = self._pages()
        target = self.listing.page + delta
        if not 0 <= target < pages:
            return f"Error: no {'next' if delta > 0 else 'previous'} page (page {self.listing.page + 1} of {pages})."
        self.listing.page = target
        return self._show()

    def _do_open(self, pid: str) -> str:
        product = self.catalog.product(pid.strip().upper())
        if product is None:
            return f"Error: no product {pid!r}."
        return f"{product.line()}. Category: {product.category}. In stock."

    def _do_orders(self, _: str) -> str:
        self.listing = _Listing("orders", list(self.catalog.orders), 0, "My Orders")
        return self._show()

    def _do_open_order(self, number: str) -> str:
        order = next((o for o in self.catalog.orders if o.number == number.strip().lstrip("#")), None)
        if order is None:
            return f"Error: no order {number!r}."
        names = "; ".join(self.catalog.product(i).name for i in order.items)
        return f"Order #{order.number} placed {order.placed:%B %-d, %Y}, {order.status}, total ${order.total:.2f}: {names}"

    def _do_answer(self, text: str) -> str:
        self.answer, self.done = text, True
        return "Answer submitted."

    def _pages(self) -> int:
        size = PAGE_SIZE if self.listing.kind == "search" else ORDERS_PAGE_SIZE
        return max(1, -(-len(self.listing.rows) // size))

    def _show(self) -> str:
        listing = self.listing
        size = PAGE_SIZE if listing.kind == "search" else ORDERS_PAGE_SIZE
        rows = listing.rows[listing.page * size:(listing.page + 1) * size]
        if not listing.rows:
            return f"{listing.title}: no results."
        start = listing.page * size + 1
        head = (f"{listing.title}: showing {start}-{start + len(rows) - 1} of {len(listing.rows)} "
                f"(page {listing.page + 1} of {self._pages()})")
        if listing.kind == "search":
            body = [p.line() for p in rows]
        else:
            body = [f"#{o.number} {o.placed:%b %-d, %Y} ${o.total:.2f} {o.status}" for o in rows]
        return "\n".join([head, *body])

    # ------------------------------------------------------------------ outcome
    def final_answer(self) -> str | None:
        return self.answer

    def success(self) -> bool | None:
        if self.task is None or self.answer is None:
            return False if self.done else None
        return answer_matches(self.answer, self.task.gold)


def answer_matches(answer: str, gold) -> bool:
    """Numbers compare numerically (to the cent); ids and names must appear as whole tokens."""
    if isinstance(gold, (int, float)):
        numbers = [float(n.replace(",", "")) for n in re.findall(r"-?\d[\d,]*\.?\d*", answer)]
        return any(abs(n - float(gold)) < 0.005 for n in numbers)
    return re.search(rf"(?<![\w]){re.escape(str(gold).lower())}(?![\w])", answer.lower()) is not None
