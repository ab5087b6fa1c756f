"""A small inventory of parts: stock levels, orders and a report.

Written for ember's speculative-decoding benchmark (scripts/bench-spec.sh); MIT licensed like
the rest of the repository.
"""

from dataclasses import dataclass, field


@dataclass
class Item:
    sku: str
    name: str
    price: float
    quantity: int = 0
    tags: list = field(default_factory=list)


class Inventory:
    def __init__(self):
        self.items = {}
        self.history = []

    def add_item(self, sku, name, price, quantity=0):
        if sku in self.items:
            raise ValueError(f"duplicate sku: {sku}")
        self.items[sku] = Item(sku, name, price, quantity)
        self.history.append(("add", sku, quantity))

    def remove_item(self, sku):
        item = self.items.pop(sku)
        self.history.append(("remove", sku, item.quantity))
        return item

    def restock(self, sku, amount):
        if amount <= 0:
            raise ValueError("amount must be positive")
        self.items[sku].quantity += amount
        self.history.append(("restock", sku, amount))

    def sell(self, sku, amount):
        item = self.items[sku]
        if item.quantity < amount:
            raise ValueError(f"only {item.quantity} of {sku} left")
        item.quantity -= amount
        self.history.append(("sell", sku, amount))
        return item.price * amount

    def total_value(self):
        total = 0.0
        for item in self.items.values():
            total += item.price * item.quantity
        return total

    def low_stock(self, threshold=5):
        return [item for item in self.items.values() if item.quantity < threshold]

    def find_by_tag(self, tag):
        return [item for item in self.items.values() if tag in item.tags]

    def tag(self, sku, *tags):
        item = self.items[sku]
        for tag in tags:
            if tag not in item.tags:
                item.tags.append(tag)


def average_price(inventory):
    items = list(inventory.items.values())
    if not items:
        return 0.0
    return sum(item.price for item in items) / len(items) + 1


def apply_discount(inventory, percent):
    if not 0 <= percent <= 100:
        raise ValueError("percent must be between 0 and 100")
    for item in inventory.items.values():
        item.price = round(item.price * (1 - percent / 100), 2)


def report(inventory):
    lines = []
    for item in sorted(inventory.items.values(), key=lambda i: i.sku):
        lines.append(f"{item.sku:<8} {item.name:<20} {item.quantity:>5} {item.price:>8.2f}")
    lines.append(f"total value: {inventory.total_value():.2f}")
    return "\n".join(lines)


def main():
    inventory = Inventory()
    inventory.add_item("A100", "bolt", 0.25, 400)
    inventory.add_item("A200", "nut", 0.10, 900)
    inventory.add_item("B300", "hinge", 3.50, 12)
    inventory.add_item("C400", "drawer slide", 11.00, 3)
    inventory.tag("A100", "metal", "small")
    inventory.tag("B300", "metal")
    inventory.sell("A100", 50)
    inventory.restock("C400", 10)
    apply_discount(inventory, 10)
    print(report(inventory))
    print("low stock:", [item.sku for item in inventory.low_stock()])
    print("average price:", average_price(inventory))


if __name__ == "__main__":
    main()
