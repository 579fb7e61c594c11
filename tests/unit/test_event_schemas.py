"""The shipped event type schemas and the catalog that loads them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deltahook.catalog.events import EventCatalog, load_event_catalog, readable_errors
from deltahook.errors import CatalogError, EventError

EVENTS_DIR = Path(__file__).resolve().parents[2] / "schemas" / "events"
INT32_MAX = 2**31 - 1

EXPECTED_TYPES = {
    # Product notifications, derived by rules from SKU, price and stock changes
    "SkuChangedNotification": ("notification", "Product"),
    "SkuPriceChangedNotification": ("notification", "Product"),
    "SkuOnHandBreakPointNotification": ("notification", "Product"),
    "TranslationRequestedNotification": ("notification", "Product"),
    # Customer notifications
    "CustomerChangedNotification": ("notification", "Customer"),
    "CompanyChangedNotification": ("notification", "Customer"),
    # Supplier notifications
    "SupplierSkuChangedNotification": ("notification", "Supplier"),
    "SupplierSkuOnHandChangedNotification": ("notification", "Supplier"),
    "SupplierSkuPriceChangedNotification": ("notification", "Supplier"),
    # System events: job completion, the subscription test send, and endpoint health
    "JobCompletedEvent": ("event", "System"),
    "TestEvent": ("event", "System"),
    "EndpointCircuitOpenedEvent": ("event", "System"),
    "EndpointCircuitClosedEvent": ("event", "System"),
    "SubscriptionDisabledEvent": ("event", "System"),
    # Order events, posted directly by the integration
    "OrderReceivedEvent": ("event", "Order"),
    "OrderConfirmedEvent": ("event", "Order"),
    "OrderCancelledEvent": ("event", "Order"),
    "OrderDeliveredEvent": ("event", "Order"),
    "OrderPartlyDeliveredEvent": ("event", "Order"),
    "OrderReadyForPickupEvent": ("event", "Order"),
    "OrderPaymentReceivedEvent": ("event", "Order"),
    "InvoiceCaptureCompletedEvent": ("event", "Order"),
    "SubscriptionFailedEvent": ("event", "Order"),
}

ENTITY_CHANGED = {
    # the ten tables of Norce's SkuChangedNotification settings
    "SkuChangedNotification": [
        "tApplicationPriceList",
        "tCategory",
        "tCategoryCulture",
        "tCategorySalesArea",
        "tClientManufacturer",
        "tClientProductSku",
        "tClientProductSkuCulture",
        "tClientProductSkuOnHand",
        "tClientProductSkuPriceList",
        "tClientProductSkuSalesArea",
    ],
    # culture tables only
    "TranslationRequestedNotification": ["tClientProductSkuCulture", "tCategoryCulture"],
    # the account and six customer tables
    "CustomerChangedNotification": [
        "tApplicationAccount",
        "tClientCustomer",
        "tClientCustomerAddress",
        "tClientCustomerDivision",
        "tClientCustomerFlag",
        "tClientCustomerInfo",
        "tClientCustomerPriceList",
    ],
    # ten company tables (not the eleventh, tClientCustomerCompany, of one older reference)
    "CompanyChangedNotification": [
        "tClientCompany",
        "tClientCompanyAddress",
        "tClientCompanyDeliveryMethod",
        "tClientCompanyDiscount",
        "tClientCompanyDivision",
        "tClientCompanyFlag",
        "tClientCompanyInfo",
        "tClientCompanyPaymentMethod",
        "tClientCompanyPriceList",
        "tClientCustomer",
    ],
    # the supplier product and its client link
    "SupplierSkuChangedNotification": ["tSupplierProductSku", "tSupplierProductSkuClient"],
    # supplier stock only
    "SupplierSkuOnHandChangedNotification": ["tSupplierProductSkuOnHand"],
}


def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema file of one shipped type."""
    loaded: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text())
    return loaded


@pytest.fixture(scope="module")
def catalog() -> EventCatalog:
    """The shipped catalog, loaded once for the module."""
    return load_event_catalog(EVENTS_DIR)


def test_every_expected_type_has_exactly_one_schema_file() -> None:
    """schemas/events holds one file per type of the design, and nothing else."""
    assert sorted(path.stem for path in EVENTS_DIR.glob("*.json")) == sorted(EXPECTED_TYPES)


@pytest.mark.parametrize("name", sorted(EXPECTED_TYPES))
def test_schema_is_valid_draft_07_and_its_example_validates(name: str) -> None:
    """Each schema is valid draft-07 and its one example passes it."""
    schema = load_schema(name)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    assert len(schema["examples"]) == 1
    assert list(jsonschema.Draft7Validator(schema).iter_errors(schema["examples"][0])) == []


@pytest.mark.parametrize(("name", "kind"), sorted(EXPECTED_TYPES.items()))
def test_schema_is_annotated_and_titled_with_its_type(name: str, kind: tuple[str, str]) -> None:
    """The x-deltahook annotation names the type, family and category; title is the name."""
    schema = load_schema(name)
    family, category = kind
    assert schema["x-deltahook"] == {"type": name, "family": family, "category": category}
    assert schema["title"] == name
    assert schema["description"].strip()


@pytest.mark.parametrize("name", sorted(EXPECTED_TYPES))
def test_payloads_are_flat_closed_objects_with_pascal_case_keys(name: str) -> None:
    """Payloads are flat objects of PascalCase scalars with no undeclared properties."""
    schema = load_schema(name)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    for key, definition in schema["properties"].items():
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", key), key
        assert definition["type"] in {"integer", "number", "string"}, key
    assert set(schema["required"]) <= set(schema["properties"])


@pytest.mark.parametrize(("name", "kind"), sorted(EXPECTED_TYPES.items()))
def test_client_id_is_a_required_int32_and_application_id_required_on_order_events(
    name: str, kind: tuple[str, str]
) -> None:
    """ClientId is always required; ApplicationId is required exactly on Order events."""
    schema = load_schema(name)
    for key in ("ClientId", "ApplicationId"):
        definition = schema["properties"][key]
        assert definition["type"] == "integer"
        assert (definition["minimum"], definition["maximum"]) == (-(2**31), INT32_MAX)
    assert "ClientId" in schema["required"]
    assert ("ApplicationId" in schema["required"]) == (kind[1] == "Order")


@pytest.mark.parametrize(("name", "values"), sorted(ENTITY_CHANGED.items()))
def test_entity_changed_enum_is_exactly_norces(name: str, values: list[str]) -> None:
    """EntityChanged is required and lists exactly the documented tables."""
    schema = load_schema(name)
    assert "EntityChanged" in schema["required"]
    assert sorted(schema["properties"]["EntityChanged"]["enum"]) == sorted(values)


def test_only_the_changed_notifications_carry_entity_changed() -> None:
    """Price, stock breakpoint, supplier price and events have no EntityChanged."""
    carrying = {
        name for name in EXPECTED_TYPES if "EntityChanged" in load_schema(name)["properties"]
    }
    assert carrying == set(ENTITY_CHANGED)


def test_supplier_price_notification_carries_the_changed_cost() -> None:
    """SupplierSkuPriceChangedNotification requires the new CostPurchase; the rest is optional."""
    schema = load_schema("SupplierSkuPriceChangedNotification")
    assert set(schema["required"]) == {"ClientId", "SupplierId", "PartNo", "CostPurchase"}
    assert set(schema["properties"]) == {
        "ClientId",
        "ApplicationId",
        "SupplierId",
        "PartNo",
        "PriceListCode",
        "CostPurchase",
        "CurrencyCode",
    }
    assert schema["properties"]["CostPurchase"]["type"] == "number"


def test_catalog_loads_every_type_with_its_family_and_category(catalog: EventCatalog) -> None:
    """The loaded catalog knows every shipped type as annotated."""
    assert catalog.names() == tuple(sorted(EXPECTED_TYPES))
    assert {t.name: (t.family, t.category) for t in catalog} == EXPECTED_TYPES


@pytest.mark.parametrize(
    ("name", "payload", "expected"),
    [
        (
            "SkuPriceChangedNotification",
            {"ClientId": 1, "PartNo": "A1", "PricelistId": 3, "PriceSaleValue": "abc"},
            ["PriceSaleValue: 'abc' is not of type 'number'"],
        ),  # a wrong type names the field and the value
        (
            "SkuChangedNotification",
            {"ClientId": 1, "PartNo": "A1"},
            ["'EntityChanged' is a required property"],
        ),  # a missing field is named
        (
            "SkuChangedNotification",
            {"ClientId": 1, "PartNo": "A1", "EntityChanged": "tClientProduct"},
            ["EntityChanged: 'tClientProduct' is not one of ['tApplicationPriceList', "],
        ),  # a value outside the enum (tClientProduct is not one of Norce's tables)
        (
            "TestEvent",
            {"ClientId": 1, "Message": "hi", "Extra": 1},
            ["Additional properties are not allowed ('Extra' was unexpected)"],
        ),  # an undeclared field
        (
            "JobCompletedEvent",
            {"ClientId": INT32_MAX + 1, "JobId": True, "StatusId": 2},
            [
                "ClientId: 2147483648 is greater than the maximum of 2147483647",
                "JobId: True is not of type 'integer'",
            ],
        ),  # int32 overflow, and a boolean is not an integer; every problem is listed
    ],
)
def test_validate_gives_readable_messages(
    catalog: EventCatalog, name: str, payload: dict[str, Any], expected: list[str]
) -> None:
    """validate raises EventError naming the type and each problem as 'Field: reason'."""
    with pytest.raises(EventError) as caught:
        catalog.validate(name, payload)
    message = str(caught.value)
    assert message.startswith(f"invalid {name} payload: ")
    for part in expected:
        assert part in message
    assert len(catalog.require(name).errors(payload)) == len(expected)


def test_validate_accepts_a_valid_payload(catalog: EventCatalog) -> None:
    """A payload matching its schema passes silently, with optional fields left out."""
    payload = {"ClientId": 1, "PartNo": "A1", "EntityChanged": "tCategory"}
    catalog.validate("SkuChangedNotification", payload)
    assert catalog.require("SkuChangedNotification").errors(payload) == []
    assert "SkuChangedNotification" in catalog
    assert len(catalog) == len(EXPECTED_TYPES)


def test_unknown_type_names_suggest_close_ones(catalog: EventCatalog) -> None:
    """get returns None for an unknown name; require and validate raise with suggestions."""
    assert catalog.get("SkuChangedNotifcation") is None
    with pytest.raises(EventError, match="did you mean SkuChangedNotification"):
        catalog.require("SkuChangedNotifcation")
    with pytest.raises(EventError, match=r"unknown event type 'Nothing'$"):
        catalog.validate("Nothing", {})


GOOD = load_schema("TestEvent")


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != key}


def _annotated(**changes: Any) -> dict[str, Any]:
    return {**GOOD, "x-deltahook": {**GOOD["x-deltahook"], **changes}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_without("x-deltahook"), 'missing "x-deltahook"'),  # no annotation at all
        ({**GOOD, "x-deltahook": "TestEvent"}, 'missing "x-deltahook" object'),  # not an object
        (_annotated(type="SomethingElse"), "file is named 'TestEvent'"),  # name != file stem
        (_annotated(family="alert"), "family must be notification or event"),  # bad family
        (_annotated(category="Billing"), "category must be one of Product"),  # bad category
        (_annotated(owner="me"), "unknown keys owner"),  # a typo'd or invented key
        ({**GOOD, "type": "array"}, '"type": "object"'),  # payloads are objects
        ({**GOOD, "required": "ClientId"}, "not a valid schema at required"),  # invalid schema
        (
            {**GOOD, "$schema": "https://json-schema.org/draft/2020-12/schema"},
            "must be draft-07",
        ),  # another draft
        ({**GOOD, "examples": [{"ClientId": 1}]}, "example 1 is invalid"),  # a wrong example
        (
            {**GOOD, "properties": {**GOOD["properties"], "X": {"$ref": "http://x.test/s.json"}}},
            "external \\$ref",
        ),  # schemas must be self-contained
        ([GOOD], "must be a JSON object"),  # a list instead of a schema
    ],
)
def test_a_bad_schema_file_is_refused_naming_the_file(
    tmp_path: Path, content: Any, message: str
) -> None:
    """Loading stops with CatalogError carrying the file's path and the reason."""
    path = tmp_path / "TestEvent.json"
    path.write_text(json.dumps(content))
    with pytest.raises(CatalogError, match=message) as caught:
        load_event_catalog(tmp_path)
    assert caught.value.path == str(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_invalid_json_is_refused_with_its_position(tmp_path: Path) -> None:
    """A file that is not JSON names the file and where parsing failed."""
    path = tmp_path / "TestEvent.json"
    path.write_text('{"title": "TestEvent",\n  oops}')
    with pytest.raises(CatalogError, match=r"invalid JSON.*line 2") as caught:
        load_event_catalog(tmp_path)
    assert caught.value.path == str(path)


@pytest.mark.parametrize("make_dir", [True, False])
def test_an_empty_or_missing_directory_is_refused(tmp_path: Path, make_dir: bool) -> None:
    """A catalog with no types is a configuration mistake, reported with the directory."""
    directory = tmp_path / "events"
    if make_dir:
        directory.mkdir()
    with pytest.raises(CatalogError) as caught:
        load_event_catalog(directory)
    assert caught.value.path == str(directory)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["", "tCategory", "tClientCustomer", "Captured", "WEB", "SEK", "sek"]),
)


@st.composite
def payloads(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A type name and a payload near its schema: right keys mostly, values of any kind."""
    name = draw(st.sampled_from(sorted(EXPECTED_TYPES)))
    keys = [*load_schema(name)["properties"], "Unexpected"]
    example = load_schema(name)["examples"][0]
    chosen = draw(st.lists(st.sampled_from(keys), unique=True))
    payload = {**example, **{key: draw(scalars) for key in chosen}}
    for key in draw(st.lists(st.sampled_from(sorted(example)), unique=True, max_size=2)):
        payload.pop(key, None)
    return name, payload


@given(case=payloads())
def test_fast_and_readable_validators_agree(
    catalog: EventCatalog, case: tuple[str, dict[str, Any]]
) -> None:
    """The compiled validator accepts exactly what jsonschema accepts, so messages never lie."""
    name, payload = case
    event_type = catalog.require(name)
    assert event_type.is_valid(payload) == (readable_errors(event_type.schema, payload) == [])
    assert event_type.is_valid(payload) == (event_type.errors(payload) == [])


def test_an_unchanged_folder_is_read_once_and_an_edited_file_again(tmp_path: Path) -> None:
    """Loading the same files twice gives the same catalog; an edit to a file is seen."""
    path = tmp_path / "TestEvent.json"
    path.write_text(json.dumps(GOOD))
    first = load_event_catalog(tmp_path)
    assert load_event_catalog(tmp_path) is first
    path.write_text(json.dumps({**GOOD, "description": "edited, and longer than before"}))
    assert load_event_catalog(tmp_path).require("TestEvent").description.startswith("edited")
    path.write_text(json.dumps(_without("x-deltahook")))
    with pytest.raises(CatalogError, match='missing "x-deltahook"'):
        load_event_catalog(tmp_path)
