"""Staff and workflow: the shop's people, the lifecycle diagram, the settings."""

from __future__ import annotations

from tests.pages.support import (
    BEN,
    MANAGER,
    AppTest,
    Shop,
    button,
    new_app,
    open_page,
    run_ok,
    values,
)
from workflow import lifecycle


def staff_page(shop: Shop, who: str = MANAGER) -> AppTest:
    at = open_page(run_ok(new_app(shop.staff_id(who))), "pages/staff.py")
    assert values(at.title) == ["Staff and workflow"]
    return at


def add(at: AppTest, name: str, role: str) -> AppTest:
    at.text_input(key="new_staff_name").input(name)
    at.selectbox(key="new_staff_role").set_value(role)
    button(at, "Add staff member").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_page_shows_the_lifecycle_as_mermaid_from_the_same_table(eur_shop):
    at = staff_page(eur_shop)

    diagram, = [c for c in at.code if c.language == "mermaid"]
    assert diagram.value == lifecycle.mermaid()
    assert diagram.value.startswith("stateDiagram-v2")
    moves = at.dataframe[1].value
    assert list(moves["trigger"]) == [t.trigger for t in lifecycle.TRANSITIONS
                                      if t.trigger not in ("hold", "resume", "cancel")]


def test_a_manager_adds_a_staff_member(eur_shop):
    at = add(staff_page(eur_shop), "Noor Haddad", "setter")

    assert values(at.success) == ["Noor Haddad added."]
    assert eur_shop.rows("SELECT name, role, active FROM staff WHERE name = 'Noor Haddad'") == [
        ("Noor Haddad", "setter", True)]
    assert eur_shop.rows("""SELECT actor, action FROM audit_log
                            WHERE entity = 'staff' AND after LIKE '%Noor%'""") == [
        ("Mara Quinn", "staff.add")]


def test_a_taken_name_is_refused(eur_shop):
    at = add(staff_page(eur_shop), "ben ortiz", "setter")

    assert values(at.error) == ["There is already a staff member called ben ortiz."]
    assert eur_shop.count("staff") == 5


def test_only_a_manager_can_add_staff(eur_shop):
    at = staff_page(eur_shop, who=BEN)

    assert "Add staff member" not in [b.label for b in at.button]
    assert "Only a manager can add staff." in values(at.caption)


def test_the_staff_table_lists_the_person_just_added(eur_shop):
    at = add(staff_page(eur_shop), "Noor Haddad", "setter")

    assert "Noor Haddad" in list(at.dataframe[0].value["name"])
