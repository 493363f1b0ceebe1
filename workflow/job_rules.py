"""Which line items of an order become jobs, and what a line item tells about the piece.

Rules are kept in the shop's settings (key `job_rules`, JSON), edited on the settings page, and
read top to bottom: the first rule that matches a line decides; a line no rule matches becomes a
job (a made-to-order shop makes almost everything it sells). Stock items that get no job are
still listed on the order.

Customizations come from where Shopify puts them (GUIDE.md §5): variant options appended to
`Lineitem name` ("Solitaire Ring - 14K Yellow Gold / 6.5"), cart attributes in `Note Attributes`
(`key: value` lines), and the order's `Notes`.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

import pandas as pd

from workflow.errors import InvalidInput

RULE_KINDS = {
    "name_pattern": "Product name matches (regular expression, any case)",
    "sku_prefix": "SKU starts with",
    "vendor": "Vendor is",
    "tag": "Order has tag",
}


@dataclass(frozen=True)
class JobRule:
    """One rule: lines matching (`kind`, `value`) become jobs when `makes_job`, else not."""

    kind: str
    value: str
    makes_job: bool = False
    note: str = ""

    def validate(self, position: int) -> None:
        if self.kind not in RULE_KINDS:
            raise InvalidInput(f"Rule {position}: kind {self.kind!r} is not one of "
                               f"{', '.join(RULE_KINDS)}.")
        if not self.value.strip():
            raise InvalidInput(f"Rule {position}: say what to match.")
        if self.kind == "name_pattern":
            try:
                re.compile(self.value)
            except re.error as exc:
                raise InvalidInput(f"Rule {position}: {self.value!r} is not a valid pattern "
                                   f"({exc}).") from exc


# Things a jewelry shop sells that nobody makes at the bench.
DEFAULT_RULES = [
    JobRule("name_pattern",
            r"gift ?card|gift ?wrap|gift ?box|shipping protection|package protection|"
            r"insurance|warranty|polishing cloth|cleaning kit|\btip\b",
            makes_job=False, note="Gift cards, wrapping, protection plans and supplies"),
]


def rules_to_json(rules: list[JobRule]) -> str:
    return json.dumps([asdict(r) for r in rules])


def rules_from_json(text: str | None) -> list[JobRule]:
    """Rules as stored; the defaults when nothing is stored. Raises `InvalidInput`."""
    if not text:
        return list(DEFAULT_RULES)
    try:
        raw = json.loads(text)
        rules = [JobRule(str(r["kind"]), str(r["value"]), bool(r.get("makes_job", False)),
                         str(r.get("note", ""))) for r in raw]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"The stored job rules can't be read ({exc}).") from exc
    for i, rule in enumerate(rules, start=1):
        rule.validate(i)
    return rules


def makes_job(lines: pd.DataFrame, rules: list[JobRule],
              order_tags: pd.Series | None = None) -> pd.Series:
    """For each line (columns title, sku, vendor, match_key): True when it becomes a job.

    `order_tags` maps match_key -> the order's comma-separated Shopify tags. Vectorised: one
    pass per rule over the whole batch.
    """
    decided = pd.Series(pd.NA, index=lines.index, dtype="boolean")
    title = lines["title"].fillna("").astype(str)
    sku = lines["sku"].fillna("").astype(str).str.lower()
    vendor = lines["vendor"].fillna("").astype(str).str.strip().str.lower()
    tags = (lines["match_key"].map(order_tags) if order_tags is not None
            else pd.Series("", index=lines.index)).fillna("").astype(str).str.lower()
    for rule in rules:
        value = rule.value.strip()
        if rule.kind == "name_pattern":
            hit = title.str.contains(value, case=False, regex=True)
        elif rule.kind == "sku_prefix":
            hit = sku.str.startswith(value.lower())
        elif rule.kind == "vendor":
            hit = vendor == value.lower()
        else:
            wanted = value.lower()
            hit = tags.map(lambda t, w=wanted: w in [x.strip() for x in t.split(",")])
        hit = hit.fillna(False).astype(bool)
        decided = decided.mask(decided.isna() & hit, rule.makes_job)
    return decided.fillna(True).astype(bool)


# --- customizations --------------------------------------------------------------------------

_KARAT = re.compile(r"\b(9|10|14|18|22|24)\s?k(?:t|arat)?\b|\bpt\s?950\b|\bplatinum\b|"
                    r"\b925\b|\bsterling silver\b", re.IGNORECASE)
_METAL = re.compile(r"\b(yellow|white|rose|green)\s+gold\b|\bplatinum\b|\bsterling silver\b|"
                    r"\bsilver\b|\bgold[- ]plated\b|\bgold plating\b|\brhodium plat\w*\b|"
                    r"\btitanium\b|\bpalladium\b", re.IGNORECASE)


def metal_and_karat(options: str) -> tuple[str | None, str | None, str | None]:
    """(metal, karat, finish) from variant options like "14K Yellow Gold / 6.5".

    ("yellow gold", "14K", None); platinum gives ("platinum", "Pt950", None); sterling silver
    ("sterling silver", "925", None). Plating ("18K Gold-plated", "Rhodium Plating") is a
    finish, not a karat: (None, None, "18K Gold-plated").
    """
    metal_text = karat_text = finish = None
    for option in (o.strip() for o in (options or "").split(" / ")):
        metal = _METAL.search(option)
        if metal is None and not _KARAT.search(option):
            continue
        found = metal.group(0).lower() if metal else None
        if found and "plat" in found and "platinum" not in found:
            finish = finish or option
            continue
        if found and metal_text is None:
            metal_text = found
        karat = _KARAT.search(option)
        if karat and karat_text is None:
            k = karat.group(0).lower().replace(" ", "")
            if k.startswith("pt") or k == "platinum":
                karat_text = "Pt950"
            elif k in ("925", "sterlingsilver"):
                karat_text = "925"
            else:
                karat_text = re.sub(r"k.*$", "K", k)
    return metal_text, karat_text, finish


_ATTRIBUTE_KEYS = {
    "engraving": ("engraving", "engrave", "inscription", "engraving text"),
    "ring_size": ("ring size", "size", "finger size"),
    "metal": ("metal", "metal type", "material"),
}


def cart_attributes(text: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """`Note Attributes` ("key: value" lines) split into known keys (engraving, ring_size,
    metal) and the rest, both as {key: value}."""
    known, rest = {}, {}
    for line in (text or "").splitlines():
        if ":" not in line:
            continue
        key, value = line.split(":", 1)
        key, value = key.strip(), value.strip()
        if not key or not value:
            continue
        for field, names in _ATTRIBUTE_KEYS.items():
            if key.lower() in names:
                known.setdefault(field, value)
                break
        else:
            rest[key] = value
    return known, rest
