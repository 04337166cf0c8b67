"""The one module that reaches into the client libraries' internals is pinned to the versions it
was written for, and every internal name it uses still exists with the parameters it passes.

An upgrade of simple-salesforce or hubspot-api-client fails here first: re-read the adapter
against the new version's source, then move the pins."""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
from pathlib import Path

import hubspot
import pytest
from simple_salesforce import bulk2

from acm_sync.connectors import client_adapters
from acm_sync.connectors.client_adapters import BULK2_METHODS, WRITTEN_FOR

SRC = Path(client_adapters.__file__).resolve().parents[1]


@pytest.mark.parametrize("package", sorted(WRITTEN_FOR))
def test_the_installed_client_is_the_version_the_adapter_was_written_for(package: str) -> None:
    assert importlib.metadata.version(package) == WRITTEN_FOR[package]


@pytest.mark.parametrize("name", sorted(BULK2_METHODS))
def test_every_private_bulk2_method_used_exists_with_its_parameters(name: str) -> None:
    method = getattr(bulk2._Bulk2Client, name)
    params = list(inspect.signature(method).parameters)[1:]  # without self
    assert params[: len(BULK2_METHODS[name])] == list(BULK2_METHODS[name])
    init = list(inspect.signature(bulk2._Bulk2Client.__init__).parameters)[1:]
    assert init == ["object_name", "bulk2_url", "headers", "session"]


def test_the_public_apis_used_instead_are_there() -> None:
    from simple_salesforce import Salesforce, SalesforceLogin

    login = inspect.signature(SalesforceLogin).parameters
    for arg in ("username", "password", "security_token", "consumer_key", "consumer_secret"):
        assert arg in login
    assert {"privatekey", "privatekey_file", "session", "domain"} <= set(login)
    assert {"instance", "session_id", "session"} <= set(inspect.signature(Salesforce).parameters)
    for read in ("get_successful_records", "get_failed_records", "get_unprocessed_records"):
        assert callable(getattr(bulk2.SFBulk2Type, read))
    # `_preload_content` is a documented keyword of the generated HubSpot clients, not a
    # reach-in: its docstring says what it does.
    from hubspot.crm.objects import BasicApi

    assert "_preload_content" in (BasicApi.get_page.__doc__ or "")
    # `api_factory` (a keyword the HubSpot constructor passes to the discovery classes, named
    # in the client's README) is how our pool manager gets in.
    from hubspot.discovery.discovery_base import DiscoveryBase

    assert "api_factory" in inspect.getsource(DiscoveryBase._configure_api_client)


def _private_uses(path: Path) -> list[str]:
    """`x._name` attribute reads and `from m import _name` imports in one module, where `x` is
    not `self` / `cls` (a class's own privates are its business)."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found += [a.name for a in node.names if a.name.startswith("_")]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        ):
            found.append(node.attr)
        elif isinstance(node, ast.Call):
            for arg in node.args[1:2]:  # getattr(x, "_name")
                if (
                    isinstance(node.func, ast.Name)
                    and node.func.id == "getattr"
                    and isinstance(arg, ast.Constant)
                    and str(arg.value).startswith("_")
                ):
                    found.append(str(arg.value))
    return found


def test_no_other_product_module_reaches_into_a_client_library() -> None:
    """Outside the adapter, no private name of simple-salesforce or hubspot-api-client (nor
    of our own connector clients) is used by product code; the sandbox is not product code
    that talks to the clients."""
    library_privates = {
        name
        for module in (bulk2, inspect.getmodule(hubspot.HubSpot))
        for name in dir(module)
        if name.startswith("_") and not name.startswith("__")
    } | {
        "_Bulk2Client",
        "_salesforce_login_partial",
        "_refresh_session",
        "_client",
        "_call_salesforce",
        "_generate_headers",
        "_with_session",
        "_call",
        "_api",
    }
    offenders = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith("sandbox/") or rel == "connectors/client_adapters.py":
            continue
        own = {
            "connectors/salesforce.py": {"_with_session"},
            "connectors/hubspot.py": {"_call", "_api"},
        }
        used = set(_private_uses(path)) & (library_privates - own.get(rel, set()))
        if used:
            offenders[rel] = sorted(used)
    assert offenders == {}
