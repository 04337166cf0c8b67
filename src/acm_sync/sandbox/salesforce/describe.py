"""Describe results (global, sObject basic info, sObject describe) built from schema.py."""

from __future__ import annotations

from typing import Any

from acm_sync.sandbox.salesforce.ids import KEY_PREFIX
from acm_sync.sandbox.salesforce.schema import (
    AUDIT_SETTABLE,
    FORECAST_CATEGORY_LABELS,
    SOBJECTS,
    Field,
    SObject,
)

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "address": "urn:address",
}
_NOT_GROUPABLE = {"textarea", "double", "currency", "percent", "datetime", "address"}
_NAME_FIELDS = {
    "Account": "Name",
    "Contact": "Name",
    "Opportunity": "Name",
    "User": "Name",
    "OpportunityStage": "MasterLabel",
    "OpportunityHistory": "Id",
}
_CHILD_RELATIONSHIPS = {
    "Account": [
        ("Contact", "AccountId", "Contacts", True),
        ("Opportunity", "AccountId", "Opportunities", True),
        ("Account", "ParentId", "ChildAccounts", False),
    ],
    "Opportunity": [("OpportunityHistory", "OpportunityId", "OpportunityHistories", True)],
}


def _urls(name: str, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{name}"
    return {
        "compactLayouts": f"{base}/describe/compactLayouts",
        "rowTemplate": f"{base}/{{ID}}",
        "approvalLayouts": f"{base}/describe/approvalLayouts",
        "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
        "listviews": f"{base}/listviews",
        "describe": f"{base}/describe",
        "quickActions": f"{base}/quickActions",
        "layouts": f"{base}/describe/layouts",
        "sobject": base,
    }


def object_summary(sobj: SObject, version: str) -> dict[str, Any]:
    """The sObject entry of the global describe (and of the basic-information resource)."""
    searchable = sobj.name in ("Account", "Contact", "Opportunity", "User")
    return {
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "createable": sobj.createable,
        "custom": sobj.custom,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": sobj.deletable,
        "deprecatedAndHidden": False,
        "feedEnabled": sobj.name in ("Account", "Contact", "Opportunity", "User"),
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": KEY_PREFIX.get(sobj.name),
        "label": sobj.label,
        "labelPlural": sobj.label_plural,
        "layoutable": sobj.name not in ("OpportunityHistory",),
        "mergeable": sobj.mergeable,
        "mruEnabled": searchable,
        "name": sobj.name,
        "queryable": sobj.queryable,
        "replicateable": True,
        "retrieveable": True,
        "searchable": searchable,
        "triggerable": sobj.name not in ("OpportunityHistory", "OpportunityStage"),
        "undeletable": sobj.deletable,
        "updateable": sobj.updateable,
        "urls": _urls(sobj.name, version),
    }


def global_describe(version: str) -> dict[str, Any]:
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [object_summary(o, version) for o in SOBJECTS.values()],
    }


def _picklist_values(f: Field) -> list[dict[str, Any]]:
    labels = FORECAST_CATEGORY_LABELS if f.name == "ForecastCategory" else {}
    values = []
    for i, value in enumerate(f.picklist):
        default = (f.name == "CurrencyIsoCode" and value == "USD") or (
            f.name == "StageName" and i == 0
        )
        values.append(
            {
                "active": True,
                "defaultValue": default,
                "label": labels.get(value, value),
                "validFor": None,
                "value": value,
            }
        )
    return values


def field_describe(sobj: SObject, f: Field, *, audit_fields: bool = False) -> dict[str, Any]:
    """One field's describe; `audit_fields`: the org lets audit fields be set on insert."""
    is_text = f.type in (
        "string",
        "textarea",
        "email",
        "url",
        "phone",
        "picklist",
        "id",
        "reference",
    )
    length = f.length if is_text else 0
    number = f.type in ("double", "currency", "percent")
    return {
        "aggregatable": f.type not in ("textarea", "address"),
        "aiPredictionField": False,
        "autoNumber": False,
        "byteLength": 18 if f.type in ("id", "reference") else length * 3,
        "calculated": f.calculated,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": False,
        "compoundFieldName": f.compound_name,
        "controllerName": None,
        "createable": f.createable or (audit_fields and f.name in AUDIT_SETTABLE),
        "custom": f.custom,
        "defaultValue": (f.name == "IsActive") if f.type == "boolean" and not f.nillable else None,
        "defaultValueFormula": None,
        "defaultedOnCreate": f.default_on_create
        or f.name
        in (
            "Id",
            "IsDeleted",
            "CreatedDate",
            "CreatedById",
            "LastModifiedDate",
            "LastModifiedById",
            "SystemModstamp",
            "OwnerId",
        ),
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": f.precision if f.type == "int" else 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": f.external_id,
        "extraTypeInfo": "plaintextarea" if f.type == "textarea" else None,
        "filterable": f.filterable and f.type != "textarea",
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": f.type not in _NOT_GROUPABLE,
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": f.name in ("Id", "Email", "Username")
        or (f.name == "Name" and sobj.name in ("Account", "Opportunity")),
        "inlineHelpText": f.inline_help,
        "label": f.label or f.name,
        "length": length,
        "mask": None,
        "maskType": None,
        "name": f.name,
        "nameField": _NAME_FIELDS.get(sobj.name) == f.name,
        "namePointing": False,
        "nillable": f.nillable,
        "permissionable": f.nillable and not f.calculated and f.createable and f.custom,
        "picklistValues": _picklist_values(f) if f.type == "picklist" else [],
        "polymorphicForeignKey": False,
        "precision": f.precision if number else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": f.restricted,
        "scale": f.scale if number else 0,
        "searchPrefilterable": f.type == "reference",
        "soapType": _SOAP_TYPES.get(f.type, "xsd:string"),
        "sortable": f.sortable and f.type != "textarea",
        "type": f.type,
        "unique": f.unique,
        "updateable": f.updateable,
        "writeRequiresMasterRead": False,
    }


def describe(sobj: SObject, version: str, *, audit_fields: bool = False) -> dict[str, Any]:
    out = object_summary(sobj, version)
    out.update(
        {
            "actionOverrides": [],
            "childRelationships": [
                {
                    "cascadeDelete": cascade,
                    "childSObject": child,
                    "deprecatedAndHidden": False,
                    "field": fk,
                    "junctionIdListNames": [],
                    "junctionReferenceTo": [],
                    "relationshipName": rel,
                    "restrictedDelete": False,
                }
                for child, fk, rel, cascade in _CHILD_RELATIONSHIPS.get(sobj.name, [])
            ],
            "compactLayoutable": out["layoutable"],
            "defaultImplementation": None,
            "extendedBy": None,
            "extendsInterfaces": None,
            "fields": [
                field_describe(sobj, f, audit_fields=audit_fields)
                for f in (*sobj.fields, *sobj.compound)
            ],
            "implementedBy": None,
            "implementsInterfaces": None,
            "listviewable": None,
            "lookupLayoutable": None,
            "namedLayoutInfos": [],
            "networkScopeFieldName": None,
            "recordTypeInfos": [
                {
                    "active": True,
                    "available": True,
                    "defaultRecordTypeMapping": True,
                    "developerName": "Master",
                    "master": True,
                    "name": "Master",
                    "recordTypeId": "012000000000000AAA",
                    "urls": {
                        "layout": f"/services/data/v{version}/sobjects/{sobj.name}/describe/"
                        "layouts/012000000000000AAA"
                    },
                }
            ]
            if sobj.name in ("Account", "Contact", "Opportunity")
            else [],
            "searchLayoutable": out["searchable"],
            "sobjectDescribeOption": "FULL",
            "supportedScopes": [
                {"label": "All " + sobj.label_plural.lower(), "name": "everything"}
            ],
        }
    )
    return dict(sorted(out.items()))
