"""The Salesforce DX metadata package of the fields we own, rendered from `fields.OWNED`.

`salesforce/` at the repo top is this module's output, checked in so that an admin can deploy it
with the `sf` CLI and nothing else:

    sf project deploy start --source-dir salesforce/force-app --target-org <alias>
    sf org assign permset --name ACM_Sync --target-org <alias>

Regenerate it after changing `fields.py` (a test fails while the two disagree):

    .venv/bin/python -m acm_sync.writeback.metadata salesforce

Source format, as `sf project retrieve start` writes it: one `<Object>/fields/<API name>
.field-meta.xml` per custom field (standard objects need no `.object-meta.xml` of their own) and
a permission set granting read + edit on every owned field — without field-level security a
deployed field is invisible to the API user.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape

from acm_sync.writeback.fields import OWNED, Kind, Owned

API_VERSION = "59.0"
PACKAGE_DIR = "force-app"
SOURCE_DIR = f"{PACKAGE_DIR}/main/default"
PERMISSION_SET = "ACM_Sync"
PERMISSION_SET_LABEL = "ACM Sync"
METADATA_NS = "http://soap.sforce.com/2006/04/metadata"
LONG_TEXT_VISIBLE_LINES = 3
DEPLOY_COMMAND = (
    f"sf project deploy start --source-dir salesforce/{PACKAGE_DIR} --target-org <alias>"
)
ASSIGN_COMMAND = f"sf org assign permset --name {PERMISSION_SET} --target-org <alias>"

# Metadata API field type of each kind (CustomField.type).
METADATA_TYPES: dict[Kind, str] = {
    "picklist": "Picklist",
    "text": "Text",
    "longtext": "LongTextArea",
    "number": "Number",
    "percent": "Percent",
    "currency": "Currency",
    "datetime": "DateTime",
}

_INDENT = "    "


def _salesforce_fields() -> list[Owned]:
    """Owned Salesforce fields, one per object + API name, in a stable order."""
    seen: dict[tuple[str, str], Owned] = {}
    for f in OWNED:
        seen.setdefault((f.object("salesforce"), f.salesforce), f)
    return [seen[k] for k in sorted(seen)]


def _element(name: str, value: str | int | bool, depth: int = 1) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = escape(str(value))
    return f"{_INDENT * depth}<{name}>{text}</{name}>\n"


def field_xml(f: Owned) -> str:
    """The CustomField metadata of one owned field (elements in the order a retrieve writes)."""
    kind = f.kind
    parts = [_element("fullName", f.salesforce), _element("description", f.description)]
    if kind in ("text", "number"):
        parts.append(_element("externalId", False))
    parts.append(_element("inlineHelpText", f.description))
    parts.append(_element("label", f.label))
    if kind in ("text", "longtext"):
        parts.append(_element("length", f.length))
    if kind in ("number", "percent", "currency"):
        parts.append(_element("precision", f.precision))
    parts.append(_element("required", False))
    if kind in ("number", "percent", "currency"):
        parts.append(_element("scale", f.scale))
    parts.append(_element("type", METADATA_TYPES[kind]))
    if kind in ("text", "number"):
        parts.append(_element("unique", False))
    if kind == "picklist":
        values = "".join(
            f"{_INDENT * 3}<value>\n"
            + _element("fullName", option, 4)
            + _element("default", False, 4)
            + _element("label", option, 4)
            + f"{_INDENT * 3}</value>\n"
            for option in f.options
        )
        parts.append(
            f"{_INDENT}<valueSet>\n"
            + _element("restricted", True, 2)
            + f"{_INDENT * 2}<valueSetDefinition>\n"
            + _element("sorted", False, 3)
            + values
            + f"{_INDENT * 2}</valueSetDefinition>\n"
            + f"{_INDENT}</valueSet>\n"
        )
    if kind == "longtext":
        parts.append(_element("visibleLines", LONG_TEXT_VISIBLE_LINES))
    return _document("CustomField", parts)


def permission_set_xml(fields: Iterable[Owned]) -> str:
    """A permission set granting read + edit (field-level security) on every owned field."""
    parts = [
        _element(
            "description",
            "Field-level security for the fields acm_sync writes: assign it to the integration "
            "user acm_sync logs in as.",
        )
    ]
    for f in fields:
        parts.append(
            f"{_INDENT}<fieldPermissions>\n"
            + _element("editable", True, 2)
            + _element("field", f"{f.object('salesforce')}.{f.salesforce}", 2)
            + _element("readable", True, 2)
            + f"{_INDENT}</fieldPermissions>\n"
        )
    parts.append(_element("hasActivationRequired", False))
    parts.append(_element("label", PERMISSION_SET_LABEL))
    return _document("PermissionSet", parts)


def _document(root: str, parts: list[str]) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<{root} xmlns="{METADATA_NS}">\n' + "".join(parts) + f"</{root}>\n"
    )


def project_json() -> str:
    project = {
        "packageDirectories": [{"path": PACKAGE_DIR, "default": True}],
        "name": "acm-sync-owned-fields",
        "namespace": "",
        "sfdcLoginUrl": "https://login.salesforce.com",
        "sourceApiVersion": API_VERSION,
    }
    return json.dumps(project, indent=2) + "\n"


def field_path(f: Owned) -> str:
    return f"{SOURCE_DIR}/objects/{f.object('salesforce')}/fields/{f.salesforce}.field-meta.xml"


def permission_set_path() -> str:
    return f"{SOURCE_DIR}/permissionsets/{PERMISSION_SET}.permissionset-meta.xml"


def package_files() -> dict[str, str]:
    """Every file of the package: relative path → content."""
    fields = _salesforce_fields()
    files = {"sfdx-project.json": project_json()}
    for f in fields:
        files[field_path(f)] = field_xml(f)
    files[permission_set_path()] = permission_set_xml(fields)
    return files


def render_package(directory: str | Path) -> list[Path]:
    """Write the package into `directory`; drop owned-field files fields.py no longer lists.

    Returns the paths written. Other files in the directory (a README, an admin's own metadata)
    are left alone."""
    root = Path(directory)
    files = package_files()
    objects = root / SOURCE_DIR / "objects"
    if objects.is_dir():
        for stale in objects.glob("*/fields/ACM_*.field-meta.xml"):
            if stale.relative_to(root).as_posix() not in files:
                stale.unlink()
    written = []
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else Path("salesforce")
    paths = render_package(target)
    print(f"rendered {len(paths)} files into {target}/")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
