"""The HubSpot objects the sandbox serves and their default (HubSpot-defined) properties.

A property is (name, label, type, fieldType, groupName, options). Values travel as strings on
the wire whatever the type; the store keeps them as strings too. Portals add properties through
the properties API (the acm_sync group is created by the product, not seeded here).
"""

from __future__ import annotations

from dataclasses import dataclass

# Object type ids as HubSpot numbers them; the API takes either form in paths.
OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3"}
OBJECT_TYPES_BY_ID = {v: k for k, v in OBJECT_TYPE_IDS.items()}
SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal"}

# The default sales pipeline: (stage id, label, probability, display order, closed, won).
DEFAULT_PIPELINE_ID = "default"
DEAL_STAGES: list[tuple[str, str, str, int, bool, bool]] = [
    ("appointmentscheduled", "Appointment Scheduled", "0.2", 0, False, False),
    ("qualifiedtobuy", "Qualified To Buy", "0.4", 1, False, False),
    ("presentationscheduled", "Presentation Scheduled", "0.6", 2, False, False),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", 3, False, False),
    ("contractsent", "Contract Sent", "0.9", 4, False, False),
    ("closedwon", "Closed Won", "1.0", 5, True, True),
    ("closedlost", "Closed Lost", "0.0", 6, True, False),
]

LIFECYCLE_STAGES = [
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
]
INDUSTRIES = [
    "ACCOUNTING",
    "BANKING",
    "BIOTECHNOLOGY",
    "CHEMICALS",
    "COMPUTER_SOFTWARE",
    "CONSTRUCTION",
    "EDUCATION_MANAGEMENT",
    "FINANCIAL_SERVICES",
    "FOOD_BEVERAGES",
    "HOSPITAL_HEALTH_CARE",
    "INFORMATION_TECHNOLOGY_AND_SERVICES",
    "INSURANCE",
    "MACHINERY",
    "MEDIA_PRODUCTION",
    "RETAIL",
    "TELECOMMUNICATIONS",
    "TRANSPORTATION_TRUCKING_RAILROAD",
    "UTILITIES",
]
DEAL_TYPES = ["newbusiness", "existingbusiness"]
CURRENCIES = ["USD", "EUR", "GBP"]


@dataclass(frozen=True)
class Property:
    name: str
    label: str
    type: str  # string, number, date, datetime, enumeration, bool
    field_type: str  # text, textarea, number, date, select, radio, booleancheckbox, calculation_*
    group_name: str
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    read_only_value: bool = False  # HubSpot calculates it (the API ignores/rejects writes)
    has_unique_value: bool = False
    description: str = ""


# Labels of HubSpot's default option values, as its properties API lists them: the deal stages
# and the pipeline as the pipelines API names them, lifecycle stages, deal types, industries
# whose label is not the title-cased value. Other values fall back to the title-cased value.
OPTION_LABELS: dict[str, str] = {
    **{stage[0]: stage[1] for stage in DEAL_STAGES},
    DEFAULT_PIPELINE_ID: "Sales Pipeline",
    "marketingqualifiedlead": "Marketing Qualified Lead",
    "salesqualifiedlead": "Sales Qualified Lead",
    "newbusiness": "New Business",
    "existingbusiness": "Existing Business",
    "FOOD_BEVERAGES": "Food & Beverages",
    "HOSPITAL_HEALTH_CARE": "Hospital & Health Care",
    "INFORMATION_TECHNOLOGY_AND_SERVICES": "Information Technology and Services",
    "TRANSPORTATION_TRUCKING_RAILROAD": "Transportation/Trucking/Railroad",
}


def _p(
    name: str,
    label: str,
    type_: str = "string",
    field_type: str = "text",
    group: str = "",
    options: list[str] | None = None,
    ro: bool = False,
) -> Property:
    opts = tuple((o, OPTION_LABELS.get(o, o.replace("_", " ").title())) for o in (options or []))
    return Property(name, label, type_, field_type, group, opts, ro)


def _common(group: str) -> list[Property]:
    return [
        _p("hs_object_id", "Record ID", "number", "number", group, ro=True),
        _p("createdate", "Create Date", "datetime", "date", group, ro=True),
        _p("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", group, ro=True),
        _p("hubspot_owner_id", "Owner", "enumeration", "select", group),
        _p("hs_merged_object_ids", "Merged Record IDs", "enumeration", "checkbox", group, ro=True),
        _p("notes_last_updated", "Last Activity Date", "datetime", "date", group, ro=True),
    ]


COMPANY_PROPERTIES: list[Property] = [
    *_common("companyinformation"),
    _p("name", "Company name", group="companyinformation"),
    _p("domain", "Company Domain Name", group="companyinformation"),
    _p("website", "Website URL", group="companyinformation"),
    _p("industry", "Industry", "enumeration", "select", "companyinformation", INDUSTRIES),
    _p("numberofemployees", "Number of Employees", "number", "number", "companyinformation"),
    _p("annualrevenue", "Annual Revenue", "number", "number", "companyinformation"),
    _p("phone", "Phone Number", group="companyinformation"),
    _p("city", "City", group="companyinformation"),
    _p("country", "Country/Region", group="companyinformation"),
    _p(
        "lifecyclestage",
        "Lifecycle Stage",
        "enumeration",
        "radio",
        "companyinformation",
        LIFECYCLE_STAGES,
    ),
    _p("description", "Description", "string", "textarea", "companyinformation"),
    _p(
        "num_associated_contacts",
        "Number of Associated Contacts",
        "number",
        "number",
        "companyinformation",
        ro=True,
    ),
    _p(
        "num_associated_deals",
        "Number of Associated Deals",
        "number",
        "number",
        "companyinformation",
        ro=True,
    ),
]

CONTACT_PROPERTIES: list[Property] = [
    *[p for p in _common("contactinformation") if p.name != "hs_lastmodifieddate"],
    # Contacts carry both: `lastmodifieddate` is the one HubSpot documents for contacts.
    _p("lastmodifieddate", "Last Modified Date", "datetime", "date", "contactinformation", ro=True),
    _p(
        "hs_lastmodifieddate",
        "Object last modified date/time",
        "datetime",
        "date",
        "contactinformation",
        ro=True,
    ),
    _p("email", "Email", group="contactinformation"),
    _p("firstname", "First Name", group="contactinformation"),
    _p("lastname", "Last Name", group="contactinformation"),
    _p("jobtitle", "Job Title", group="contactinformation"),
    _p("phone", "Phone Number", group="contactinformation"),
    _p("company", "Company Name", group="contactinformation"),
    _p(
        "associatedcompanyid",
        "Primary Associated Company ID",
        "number",
        "number",
        "contactinformation",
    ),
    _p(
        "lifecyclestage",
        "Lifecycle Stage",
        "enumeration",
        "radio",
        "contactinformation",
        LIFECYCLE_STAGES,
    ),
    _p(
        "hs_email_bad_address",
        "Invalid email address",
        "bool",
        "booleancheckbox",
        "contactinformation",
        ["true", "false"],
        ro=True,
    ),
]

DEAL_PROPERTIES: list[Property] = [
    *_common("dealinformation"),
    _p("dealname", "Deal Name", group="dealinformation"),
    _p("amount", "Amount", "number", "number", "dealinformation"),
    _p("deal_currency_code", "Currency", "enumeration", "select", "dealinformation", CURRENCIES),
    _p(
        "dealstage",
        "Deal Stage",
        "enumeration",
        "radio",
        "dealinformation",
        [s[0] for s in DEAL_STAGES],
    ),
    _p("pipeline", "Pipeline", "enumeration", "select", "dealinformation", [DEFAULT_PIPELINE_ID]),
    _p("closedate", "Close Date", "datetime", "date", "dealinformation"),
    _p("dealtype", "Deal Type", "enumeration", "radio", "dealinformation", DEAL_TYPES),
    _p(
        "hs_deal_stage_probability",
        "Deal Stage Probability",
        "number",
        "number",
        "dealinformation",
        ro=True,
    ),
    _p(
        "hs_is_closed",
        "Is Deal Closed?",
        "bool",
        "booleancheckbox",
        "dealinformation",
        ["true", "false"],
        ro=True,
    ),
    _p(
        "hs_is_closed_won",
        "Is Closed Won",
        "bool",
        "booleancheckbox",
        "dealinformation",
        ["true", "false"],
        ro=True,
    ),
    _p(
        "hs_forecast_category",
        "Forecast category",
        "enumeration",
        "select",
        "dealinformation",
        ["OMIT", "PIPELINE", "BEST_CASE", "COMMIT", "CLOSED"],
    ),
    _p("description", "Deal Description", "string", "textarea", "dealinformation"),
]

DEFAULT_PROPERTIES: dict[str, list[Property]] = {
    "companies": COMPANY_PROPERTIES,
    "contacts": CONTACT_PROPERTIES,
    "deals": DEAL_PROPERTIES,
}

# The property a search or incremental pull filters on for "modified since".
LAST_MODIFIED_PROPERTY = {
    "companies": "hs_lastmodifieddate",
    "contacts": "lastmodifieddate",
    "deals": "hs_lastmodifieddate",
}

# Properties returned when a request names none (as HubSpot does).
DEFAULT_RETURNED = {
    "companies": ["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"],
    "contacts": [
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ],
    "deals": [
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ],
}

# Association type ids (HUBSPOT_DEFINED) between the three objects.
ASSOCIATION_TYPES: dict[tuple[str, str], tuple[int, str]] = {
    ("contacts", "companies"): (1, "contact_to_company"),
    ("companies", "contacts"): (2, "company_to_contact"),
    ("deals", "companies"): (5, "deal_to_company"),
    ("companies", "deals"): (6, "company_to_deal"),
    ("deals", "contacts"): (3, "deal_to_contact"),
    ("contacts", "deals"): (4, "contact_to_deal"),
}
# Unlabeled association types (v4); the ids above are the "Primary" labelled ones.
UNLABELED_ASSOCIATION_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
}
# HubSpot's default association type ids (developers.hubspot.com, associations v4 guide:
# "Association type IDs"): each id, its pair of objects, its label in v4 answers (None for the
# unlabelled type) and the id of the same association seen from the other side.
ASSOCIATION_TYPE_INFO: dict[int, tuple[str, str, str | None, int]] = {
    1: ("contacts", "companies", "Primary", 2),
    2: ("companies", "contacts", "Primary", 1),
    279: ("contacts", "companies", None, 280),
    280: ("companies", "contacts", None, 279),
    3: ("deals", "contacts", None, 4),
    4: ("contacts", "deals", None, 3),
    5: ("deals", "companies", "Primary", 6),
    6: ("companies", "deals", "Primary", 5),
    341: ("deals", "companies", None, 342),
    342: ("companies", "deals", None, 341),
}
# The type a v4 "default" (unlabelled) association between two objects gets.
DEFAULT_ASSOCIATION_TYPE: dict[tuple[str, str], int] = {
    (src, dst): type_id
    for type_id, (src, dst, label, _inverse) in ASSOCIATION_TYPE_INFO.items()
    if label is None
}


def v3_association_type_name(type_id: int) -> str:
    """The `type` a v3 object read puts on an association: contact_to_company(_unlabeled)."""
    src, dst, label, _ = ASSOCIATION_TYPE_INFO[type_id]
    base = f"{SINGULAR[src]}_to_{SINGULAR[dst]}"
    if label is None and (src, dst) in UNLABELED_ASSOCIATION_TYPES:
        return base + "_unlabeled"
    return base


# Property groups HubSpot defines for each object: (name, label, display order).
PROPERTY_GROUPS: dict[str, list[tuple[str, str, int]]] = {
    "companies": [
        ("companyinformation", "Company information", 0),
        ("social_media_information", "Social media information", 1),
        ("analyticsinformation", "Web analytics history", 2),
    ],
    "contacts": [
        ("contactinformation", "Contact information", 0),
        ("emailinformation", "Email information", 1),
        ("analyticsinformation", "Web analytics history", 2),
    ],
    "deals": [
        ("dealinformation", "Deal information", 0),
        ("deal_activity", "Deal activity", 1),
    ],
}

# Properties the search `query` string looks in (HubSpot's "default searchable properties").
SEARCHABLE_PROPERTIES: dict[str, list[str]] = {
    "companies": ["website", "phone", "name", "domain"],
    "contacts": ["firstname", "lastname", "email", "phone", "company"],
    "deals": ["dealname", "pipeline", "dealstage", "description", "dealtype"],
}

# Properties HubSpot computes from the record itself; the store derives them and never keeps
# them as columns: the record id and its create / last-modified timestamps.
SYSTEM_PROPERTIES: dict[str, dict[str, str]] = {
    "companies": {
        "hs_object_id": "id",
        "createdate": "created_at",
        "hs_lastmodifieddate": "updated_at",
    },
    "contacts": {
        "hs_object_id": "id",
        "createdate": "created_at",
        "lastmodifieddate": "updated_at",
        "hs_lastmodifieddate": "updated_at",
    },
    "deals": {
        "hs_object_id": "id",
        "createdate": "created_at",
        "hs_lastmodifieddate": "updated_at",
    },
}

# Properties always returned with a record, whatever `properties` asks for.
ALWAYS_RETURNED: dict[str, list[str]] = {
    "companies": ["createdate", "hs_lastmodifieddate", "hs_object_id"],
    "contacts": ["createdate", "hs_object_id", "lastmodifieddate"],
    "deals": ["createdate", "hs_lastmodifieddate", "hs_object_id"],
}

# Properties that identify a record uniquely besides its id (usable as `idProperty`).
BUILTIN_ID_PROPERTIES: dict[str, set[str]] = {
    "companies": {"hs_object_id"},
    "contacts": {"hs_object_id", "email"},
    "deals": {"hs_object_id"},
}

PIPELINE_LABEL = "Sales Pipeline"

# The default ticket pipeline every account has ("each account has at least one pipeline",
# developers.hubspot.com/docs/api/crm/pipelines): the Support Pipeline, id "0", its statuses New,
# Waiting on contact, Waiting on us and Closed with ids "1"-"4" (as tickets created through the
# API name them: `"hs_pipeline": "0", "hs_pipeline_stage": "1"`), each with the `ticketState`
# metadata the pipelines API documents for tickets ("OPEN" or "CLOSED"). Served read-only from
# the same tables as the deal pipeline (db.py); the sandbox stores no tickets.
TICKET_PIPELINE = ("0", "Support Pipeline")
TICKET_STAGES = (
    ("1", "New", "OPEN"),
    ("2", "Waiting on contact", "OPEN"),
    ("3", "Waiting on us", "OPEN"),
    ("4", "Closed", "CLOSED"),
)
