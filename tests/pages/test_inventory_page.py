"""Inventory pages under AppTest, from the real entry `streamlit_app.py` on a real DuckDB file."""

from __future__ import annotations

from tests.pages.conftest import MANAGER, Shop, new_app, open_page, run_ok, values
from workflow import inventory_services as inv
from workflow import services
from workflow.inventory import NewItem
from workflow.model import Role


def stocked(shop: Shop) -> Shop:
    shop.call(services.add_staff, MANAGER, Role.MANAGER)
    mara = shop.actor(MANAGER)
    shop.call(inv.add_item, mara, NewItem("metal", alloy="14K yellow gold", unit_cost="48.50",
                                          reorder_point="20"), quantity="25.000")
    return shop


def test_smoke(empty_shop):
    shop = stocked(empty_shop)
    at = run_ok(new_app(shop.staff_id(MANAGER)))
    for page in ("pages/inventory.py", "pages/inventory_item.py", "pages/inventory_receive.py",
                 "pages/inventory_count.py"):
        open_page(at, page, item="M-0001")
        print(page, values(at.title), [e.value for e in at.error])
