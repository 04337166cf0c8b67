"""The sObjects the Salesforce sandbox serves, and their fields as `describe` reports them.

One table is the source of truth for the store's columns, the SOQL field check, describe, and
write validation (createable / updateable / required / restricted picklists).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Standard sales process (Opportunity stage picklist): label, probability, forecast category,
# closed, won. Matches the OpportunityStage defaults of a new org.
OPPORTUNITY_STAGES: list[tuple[str, int, str, bool, bool]] = [
    ("Prospecting", 10, "Pipeline", False, False),
    ("Qualification", 10, "Pipeline", False, False),
    ("Needs Analysis", 20, "Pipeline", False, False),
    ("Value Proposition", 50, "Pipeline", False, False),
    ("Id. Decision Makers", 60, "Pipeline", False, False),
    ("Perception Analysis", 70, "Pipeline", False, False),
    ("Proposal/Price Quote", 75, "Pipeline", False, False),
    ("Negotiation/Review", 90, "Pipeline", False, False),
    ("Closed Won", 100, "Closed", True, True),
    ("Closed Lost", 0, "Omitted", True, False),
]
STAGE_BY_NAME = {s[0]: s for s in OPPORTUNITY_STAGES}
FORECAST_CATEGORIES = ["Pipeline", "BestCase", "Forecast", "Closed", "Omitted"]
FORECAST_CATEGORY_LABELS = {
    "Pipeline": "Pipeline",
    "BestCase": "Best Case",
    "Forecast": "Commit",
    "Closed": "Closed",
    "Omitted": "Omitted",
}

INDUSTRIES = [
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Not For Profit",
    "Recreation",
    "Retail",
    "Shipping",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
]
ACCOUNT_TYPES = [
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Installation Partner",
    "Technology Partner",
    "Other",
]
OPPORTUNITY_TYPES = ["New Business", "Renewal", "Expansion"]
LEAD_SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"]
CURRENCIES = ["USD", "EUR", "GBP"]

ACM_TIERS = ["Key", "Existing", "New", "Dormant", "Prospect"]
ACM_BANDS = ["Green", "Yellow", "Red"]
ACM_TRENDS = ["Up", "Flat", "Down", "New"]


@dataclass(frozen=True)
class Field:
    """One field of an sObject, in describe's terms."""

    name: str
    type: str  # id, string, textarea, email, url, phone, picklist, boolean, int, double,
    #            currency, percent, date, datetime, reference
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    required: bool = False  # not nillable and no default on create (the API rejects omission)
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    custom: bool = False
    inline_help: str | None = None
    default_on_create: bool = False
    external_id: bool = False
    unique: bool = False
    filterable: bool = True
    sortable: bool = True
    calculated: bool = False
    # A compound field (type "address"): not stored, made of these component fields. Selectable
    # in SOQL (a nested object over REST), refused by Bulk queries, never filtered or written.
    components: tuple[str, ...] = ()
    compound_name: str | None = None  # on a component: its compound field
    # A parent's field reached through a lookup in a SOQL SELECT (`Owner.Name`, one level):
    # (the lookup field here, the parent sObject, the parent's field). Read-only, never stored.
    path: tuple[str, str, str] | None = None

    @property
    def sqlite_type(self) -> str:
        if self.type in ("boolean", "int"):
            return "INTEGER"
        if self.type in ("double", "currency", "percent"):
            return "REAL"
        return "TEXT"


@dataclass(frozen=True)
class SObject:
    name: str
    label: str
    label_plural: str
    fields: tuple[Field, ...]
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    queryable: bool = True
    custom: bool = False
    mergeable: bool = False
    compound: tuple[Field, ...] = ()  # compound fields over `fields` (described, not stored)
    field_map: dict[str, Field] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        names = {f.name.lower(): f for f in (*self.fields, *self.compound)}
        object.__setattr__(self, "field_map", names)

    def field(self, name: str) -> Field | None:
        """The field named `name`, case-insensitively (SOQL and the REST API ignore case)."""
        return self.field_map.get(name.lower())


ADDRESS_PARTS = (
    # (suffix, type, label, length / precision, nested key in the REST value)
    ("Street", "textarea", "Street", 255, "street"),
    ("City", "string", "City", 40, "city"),
    ("State", "string", "State/Province", 80, "state"),
    ("PostalCode", "string", "Zip/Postal Code", 20, "postalCode"),
    ("Country", "string", "Country", 80, "country"),
    ("Latitude", "double", "Latitude", 18, "latitude"),
    ("Longitude", "double", "Longitude", 18, "longitude"),
    ("GeocodeAccuracy", "picklist", "Geocode Accuracy", 40, "geocodeAccuracy"),
)
GEOCODE_ACCURACY = (
    "Address", "NearAddress", "Block", "Street", "ExtendedZip", "Zip", "Neighborhood", "City",
    "County", "State", "Unknown",
)  # fmt: skip


def _address_components(prefix: str) -> list[Field]:
    out = []
    for suffix, type_, label, size, _ in ADDRESS_PARTS:
        kw: dict[str, Any] = {"compound_name": f"{prefix}Address"}
        if type_ == "double":
            kw.update(precision=size, scale=15)
        else:
            kw["length"] = size
        if type_ == "picklist":
            kw["picklist"] = GEOCODE_ACCURACY
        out.append(Field(f"{prefix}{suffix}", type_, f"{prefix} {label}", **kw))
    return out


def _address(prefix: str, label: str) -> Field:
    return Field(
        f"{prefix}Address",
        "address",
        label,
        createable=False,
        updateable=False,
        filterable=False,
        sortable=False,
        components=tuple(f"{prefix}{suffix}" for suffix, *_ in ADDRESS_PARTS),
    )


# With the org permission "Set Audit Fields upon Record Creation" (granted to migration users)
# these system fields may be given on insert — never on update — so that records loaded from
# another system keep their history's dates and authors.
AUDIT_SETTABLE: frozenset[str] = frozenset(
    {"CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById"}
)


def _audit() -> list[Field]:
    """The system fields every object carries (read-only)."""
    ro: dict[str, Any] = {"createable": False, "updateable": False}
    return [
        Field("Id", "id", "Record ID", length=18, nillable=False, **ro),
        Field("IsDeleted", "boolean", "Deleted", nillable=False, **ro),
        Field("CreatedDate", "datetime", "Created Date", nillable=False, **ro),
        Field(
            "CreatedById",
            "reference",
            "Created By ID",
            length=18,
            nillable=False,
            reference_to=("User",),
            relationship_name="CreatedBy",
            **ro,
        ),
        Field("LastModifiedDate", "datetime", "Last Modified Date", nillable=False, **ro),
        Field(
            "LastModifiedById",
            "reference",
            "Last Modified By ID",
            length=18,
            nillable=False,
            reference_to=("User",),
            relationship_name="LastModifiedBy",
            **ro,
        ),
        Field("SystemModstamp", "datetime", "System Modstamp", nillable=False, **ro),
    ]


def _owner() -> Field:
    return Field(
        "OwnerId",
        "reference",
        "Owner ID",
        length=18,
        nillable=False,
        reference_to=("User",),
        relationship_name="Owner",
        default_on_create=True,
    )


def _acm(name: str, type_: str, label: str, help_: str, **kw: Any) -> Field:
    return Field(name, type_, label, custom=True, inline_help=help_, **kw)


ACCOUNT_ACM_FIELDS = (
    _acm(
        "ACM_Tier__c",
        "picklist",
        "ACM Tier",
        "Account tier computed by acm_sync.",
        length=255,
        picklist=tuple(ACM_TIERS),
        restricted=True,
    ),
    _acm(
        "ACM_Tier_Reason__c",
        "string",
        "ACM Tier Reason",
        "Why the account has its tier.",
        length=255,
    ),
    _acm(
        "ACM_Health_Score__c",
        "double",
        "ACM Health Score",
        "Weighted health, 0-100.",
        precision=3,
        scale=0,
    ),
    _acm(
        "ACM_Health_Band__c",
        "picklist",
        "ACM Health Band",
        "Green / Yellow / Red.",
        length=255,
        picklist=tuple(ACM_BANDS),
        restricted=True,
    ),
    _acm(
        "ACM_Health_Trend__c",
        "picklist",
        "ACM Health Trend",
        "Against the previous run.",
        length=255,
        picklist=tuple(ACM_TRENDS),
        restricted=True,
    ),
    _acm(
        "ACM_Health_Drivers__c",
        "textarea",
        "ACM Health Drivers",
        "The components that move the health score most.",
        length=1000,
    ),
    _acm(
        "ACM_Forecast_Amount__c",
        "currency",
        "ACM Forecast Amount",
        "Expected bookings over the forecast horizon.",
        precision=18,
        scale=2,
    ),
    _acm("ACM_Next_Action__c", "string", "ACM Next Action", "Suggested next action.", length=255),
    _acm(
        "ACM_Data_Issues__c",
        "textarea",
        "ACM Data Issues",
        "Open data-quality issues on this record.",
        length=1000,
    ),
    _acm("ACM_Scored_At__c", "datetime", "ACM Scored At", "When acm_sync computed the values."),
)

ACCOUNT = SObject(
    "Account",
    "Account",
    "Accounts",
    mergeable=True,
    fields=(
        *_audit()[:2],
        Field(
            "MasterRecordId",
            "reference",
            "Master Record ID",
            length=18,
            reference_to=("Account",),
            relationship_name="MasterRecord",
            createable=False,
            updateable=False,
        ),
        Field("Name", "string", "Account Name", length=255, nillable=False, required=True),
        Field("Type", "picklist", "Account Type", length=255, picklist=tuple(ACCOUNT_TYPES)),
        Field(
            "ParentId",
            "reference",
            "Parent Account ID",
            length=18,
            reference_to=("Account",),
            relationship_name="Parent",
        ),
        Field("Website", "url", "Website", length=255),
        Field("Phone", "phone", "Account Phone", length=40),
        Field("Industry", "picklist", "Industry", length=255, picklist=tuple(INDUSTRIES)),
        Field("NumberOfEmployees", "int", "Employees", precision=8),
        Field("AnnualRevenue", "currency", "Annual Revenue", precision=18, scale=0),
        *_address_components("Billing"),
        *_address_components("Shipping"),
        Field("Description", "textarea", "Account Description", length=32000),
        Field(
            "CurrencyIsoCode",
            "picklist",
            "Account Currency",
            length=3,
            picklist=tuple(CURRENCIES),
            restricted=True,
            default_on_create=True,
        ),
        _owner(),
        *_audit()[2:],
        Field("LastActivityDate", "date", "Last Activity", createable=False, updateable=False),
        *ACCOUNT_ACM_FIELDS,
    ),
    compound=(_address("Billing", "Billing Address"), _address("Shipping", "Shipping Address")),
)

CONTACT = SObject(
    "Contact",
    "Contact",
    "Contacts",
    mergeable=True,
    fields=(
        *_audit()[:2],
        Field(
            "MasterRecordId",
            "reference",
            "Master Record ID",
            length=18,
            reference_to=("Contact",),
            relationship_name="MasterRecord",
            createable=False,
            updateable=False,
        ),
        Field(
            "AccountId",
            "reference",
            "Account ID",
            length=18,
            reference_to=("Account",),
            relationship_name="Account",
        ),
        Field("LastName", "string", "Last Name", length=80, nillable=False, required=True),
        Field("FirstName", "string", "First Name", length=40),
        Field(
            "Name",
            "string",
            "Full Name",
            length=121,
            nillable=False,
            createable=False,
            updateable=False,
            calculated=True,
        ),
        Field("Title", "string", "Title", length=128),
        Field("Email", "email", "Email", length=80),
        Field("Phone", "phone", "Business Phone", length=40),
        *_address_components("Mailing"),
        Field("LeadSource", "picklist", "Lead Source", length=255, picklist=tuple(LEAD_SOURCES)),
        Field(
            "HasOptedOutOfEmail", "boolean", "Email Opt Out", nillable=False, default_on_create=True
        ),
        Field("EmailBouncedReason", "string", "Email Bounced Reason", length=255),
        Field(
            "CurrencyIsoCode",
            "picklist",
            "Contact Currency",
            length=3,
            picklist=tuple(CURRENCIES),
            restricted=True,
            default_on_create=True,
        ),
        _owner(),
        *_audit()[2:],
        Field("LastActivityDate", "date", "Last Activity", createable=False, updateable=False),
        _acm(
            "ACM_Data_Issues__c",
            "textarea",
            "ACM Data Issues",
            "Open data-quality issues on this record.",
            length=1000,
        ),
    ),
    compound=(_address("Mailing", "Mailing Address"),),
)

OPPORTUNITY = SObject(
    "Opportunity",
    "Opportunity",
    "Opportunities",
    fields=(
        *_audit()[:2],
        Field(
            "AccountId",
            "reference",
            "Account ID",
            length=18,
            reference_to=("Account",),
            relationship_name="Account",
        ),
        Field("Name", "string", "Name", length=120, nillable=False, required=True),
        Field("Description", "textarea", "Description", length=32000),
        Field(
            "StageName",
            "picklist",
            "Stage",
            length=255,
            nillable=False,
            required=True,
            picklist=tuple(s[0] for s in OPPORTUNITY_STAGES),
        ),
        Field("Amount", "currency", "Amount", precision=18, scale=2),
        Field(
            "Probability",
            "percent",
            "Probability (%)",
            precision=3,
            scale=0,
            default_on_create=True,
        ),
        Field(
            "ExpectedRevenue",
            "currency",
            "Expected Amount",
            precision=18,
            scale=2,
            createable=False,
            updateable=False,
            calculated=True,
        ),
        Field("CloseDate", "date", "Close Date", nillable=False, required=True),
        Field(
            "Type", "picklist", "Opportunity Type", length=255, picklist=tuple(OPPORTUNITY_TYPES)
        ),
        Field("LeadSource", "picklist", "Lead Source", length=255, picklist=tuple(LEAD_SOURCES)),
        Field(
            "IsClosed",
            "boolean",
            "Closed",
            nillable=False,
            createable=False,
            updateable=False,
            default_on_create=True,
        ),
        Field(
            "IsWon",
            "boolean",
            "Won",
            nillable=False,
            createable=False,
            updateable=False,
            default_on_create=True,
        ),
        Field(
            "ForecastCategory",
            "picklist",
            "Forecast Category",
            length=40,
            nillable=False,
            createable=False,
            updateable=False,
            picklist=tuple(FORECAST_CATEGORIES),
            restricted=True,
        ),
        Field(
            "ForecastCategoryName",
            "picklist",
            "Forecast Category",
            length=255,
            picklist=tuple(FORECAST_CATEGORY_LABELS.values()),
            restricted=True,
            default_on_create=True,
        ),
        Field(
            "CurrencyIsoCode",
            "picklist",
            "Opportunity Currency",
            length=3,
            picklist=tuple(CURRENCIES),
            restricted=True,
            default_on_create=True,
        ),
        _owner(),
        *_audit()[2:],
        Field("LastActivityDate", "date", "Last Activity", createable=False, updateable=False),
        _acm(
            "ACM_Win_Probability__c",
            "percent",
            "ACM Win Probability",
            "Calibrated probability of winning, learned from this org's history.",
            precision=3,
            scale=0,
        ),
        _acm(
            "ACM_Data_Issues__c",
            "textarea",
            "ACM Data Issues",
            "Open data-quality issues on this record.",
            length=1000,
        ),
    ),
)

_RO: dict[str, Any] = {"createable": False, "updateable": False}
OPPORTUNITY_HISTORY = SObject(
    "OpportunityHistory",
    "Opportunity History",
    "Opportunity History",
    createable=False,
    updateable=False,
    deletable=False,
    fields=(
        Field("Id", "id", "Opportunity History ID", length=18, nillable=False, **_RO),
        Field(
            "OpportunityId",
            "reference",
            "Opportunity ID",
            length=18,
            nillable=False,
            reference_to=("Opportunity",),
            relationship_name="Opportunity",
            **_RO,
        ),
        Field(
            "CreatedById",
            "reference",
            "Created By ID",
            length=18,
            nillable=False,
            reference_to=("User",),
            relationship_name="CreatedBy",
            **_RO,
        ),
        Field("CreatedDate", "datetime", "Created Date", nillable=False, **_RO),
        Field(
            "StageName",
            "picklist",
            "Stage Name",
            length=255,
            nillable=False,
            picklist=tuple(s[0] for s in OPPORTUNITY_STAGES),
            **_RO,
        ),
        Field("Amount", "currency", "Amount", precision=18, scale=2, **_RO),
        Field("ExpectedRevenue", "currency", "Expected Revenue", precision=18, scale=2, **_RO),
        Field("CloseDate", "date", "Close Date", **_RO),
        Field("Probability", "percent", "Probability (%)", precision=3, scale=0, **_RO),
        Field(
            "ForecastCategory",
            "picklist",
            "Forecast Category",
            length=40,
            picklist=tuple(FORECAST_CATEGORIES),
            restricted=True,
            **_RO,
        ),
        Field("SystemModstamp", "datetime", "System Modstamp", nillable=False, **_RO),
        Field("IsDeleted", "boolean", "Deleted", nillable=False, **_RO),
    ),
)

USER = SObject(
    "User",
    "User",
    "Users",
    deletable=False,
    fields=(
        Field("Id", "id", "User ID", length=18, nillable=False, **_RO),
        Field(
            "Username", "string", "Username", length=80, nillable=False, required=True, unique=True
        ),
        Field("LastName", "string", "Last Name", length=80, nillable=False, required=True),
        Field("FirstName", "string", "First Name", length=40),
        Field("Name", "string", "Full Name", length=121, nillable=False, calculated=True, **_RO),
        Field("Email", "email", "Email", length=128, nillable=False, required=True),
        Field("Title", "string", "Title", length=80),
        Field("IsActive", "boolean", "Active", nillable=False, default_on_create=True),
        Field("CreatedDate", "datetime", "Created Date", nillable=False, **_RO),
        Field("LastModifiedDate", "datetime", "Last Modified Date", nillable=False, **_RO),
        Field("SystemModstamp", "datetime", "System Modstamp", nillable=False, **_RO),
    ),
)

OPPORTUNITY_STAGE = SObject(
    "OpportunityStage",
    "Opportunity Stage",
    "Opportunity Stages",
    createable=False,
    updateable=False,
    deletable=False,
    fields=(
        Field("Id", "id", "Opportunity Stage ID", length=18, nillable=False, **_RO),
        Field("MasterLabel", "string", "Master Label", length=255, nillable=False, **_RO),
        Field("ApiName", "string", "Api Name", length=255, nillable=False, **_RO),
        Field("IsActive", "boolean", "Is Active", nillable=False, **_RO),
        Field("SortOrder", "int", "Sort Order", precision=9, **_RO),
        Field("IsClosed", "boolean", "Closed", nillable=False, **_RO),
        Field("IsWon", "boolean", "Won", nillable=False, **_RO),
        Field(
            "ForecastCategory",
            "picklist",
            "Forecast Type",
            length=40,
            nillable=False,
            picklist=tuple(FORECAST_CATEGORIES),
            restricted=True,
            **_RO,
        ),
        Field(
            "ForecastCategoryName",
            "picklist",
            "Forecast Category",
            length=255,
            nillable=False,
            picklist=tuple(FORECAST_CATEGORY_LABELS.values()),
            **_RO,
        ),
        Field("DefaultProbability", "percent", "Probability (%)", precision=3, scale=0, **_RO),
        Field("Description", "string", "Description", length=255, **_RO),
        Field(
            "CreatedById",
            "reference",
            "Created By ID",
            length=18,
            nillable=False,
            reference_to=("User",),
            relationship_name="CreatedBy",
            **_RO,
        ),
        Field("CreatedDate", "datetime", "Created Date", nillable=False, **_RO),
        Field(
            "LastModifiedById",
            "reference",
            "Last Modified By ID",
            length=18,
            nillable=False,
            reference_to=("User",),
            relationship_name="LastModifiedBy",
            **_RO,
        ),
        Field("LastModifiedDate", "datetime", "Last Modified Date", nillable=False, **_RO),
        Field("SystemModstamp", "datetime", "System Modstamp", nillable=False, **_RO),
    ),
)

# The org itself: one row, read-only here (the API allows no create or delete; the few fields
# an admin may update stay unwritable in the sandbox). Clients read it on login: the Salesforce
# CLI queries Name, InstanceName, IsSandbox, TrialExpirationDate, NamespacePrefix and
# OrganizationType on every command (@salesforce/core lib/org/determineOrg.js).
ORGANIZATION_NAME = "acm_sync Sandbox"  # also the SOAP login's userInfo.organizationName
ORGANIZATION_TYPES = (
    "Base Edition", "Contact Manager Edition", "Developer Edition", "Enterprise Edition",
    "Group Edition", "Personal Edition", "Professional Edition", "Team Edition",
    "Unlimited Edition",
)  # fmt: skip
ORGANIZATION = SObject(
    "Organization",
    "Organization",
    "Organizations",
    createable=False,
    updateable=False,
    deletable=False,
    fields=(
        Field("Id", "id", "Organization ID", length=18, nillable=False, **_RO),
        Field("Name", "string", "Name", length=80, nillable=False, **_RO),
        Field("Division", "string", "Division", length=80, **_RO),
        Field(
            "OrganizationType",
            "picklist",
            "Edition",
            length=40,
            picklist=ORGANIZATION_TYPES,
            restricted=True,
            **_RO,
        ),
        Field("InstanceName", "string", "Instance Name", length=5, **_RO),
        Field("IsSandbox", "boolean", "Is Sandbox", nillable=False, **_RO),
        Field("TrialExpirationDate", "datetime", "Trial Expiration Date", **_RO),
        Field("NamespacePrefix", "string", "Namespace Prefix", length=15, **_RO),
        Field("CreatedDate", "datetime", "Created Date", nillable=False, **_RO),
        Field("LastModifiedDate", "datetime", "Last Modified Date", nillable=False, **_RO),
        Field("SystemModstamp", "datetime", "System Modstamp", nillable=False, **_RO),
    ),
)

SOBJECTS: dict[str, SObject] = {
    o.name: o
    for o in (
        ACCOUNT,
        CONTACT,
        OPPORTUNITY,
        OPPORTUNITY_HISTORY,
        USER,
        OPPORTUNITY_STAGE,
        ORGANIZATION,
    )
}
_SOBJECTS_LOWER = {k.lower(): v for k, v in SOBJECTS.items()}


def sobject(name: str) -> SObject | None:
    """The sObject named `name`, case-insensitively, or None."""
    return _SOBJECTS_LOWER.get(name.lower())


def path_field(sobj: SObject, text: str) -> Field | None:
    """`Owner.Name` on Account: the parent's field through the lookup whose relationship name
    is `Owner`, as a read-only Field named like the path; None when `text` is no such path."""
    relationship, _, column = text.partition(".")
    if not column or "." in column:
        return None
    lookup = next(
        (
            f
            for f in sobj.fields
            if f.relationship_name
            and f.relationship_name.lower() == relationship.lower()
            and len(f.reference_to) == 1
        ),
        None,
    )
    parent = sobject(lookup.reference_to[0]) if lookup is not None else None
    target = parent.field(column) if parent is not None else None
    if lookup is None or parent is None or target is None or target.components:
        return None
    return Field(
        name=f"{lookup.relationship_name}.{target.name}",
        type=target.type,
        label=target.label,
        length=target.length,
        precision=target.precision,
        scale=target.scale,
        createable=False,
        updateable=False,
        picklist=target.picklist,
        reference_to=target.reference_to,
        custom=target.custom,
        path=(lookup.name, parent.name, target.name),
    )
