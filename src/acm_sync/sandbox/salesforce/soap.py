"""The partner SOAP API: login() (what simple-salesforce uses by default), logout() and merge().

POST /services/Soap/u/{version} with a `login` envelope answers a `loginResponse` whose
`serverUrl` points back at this sandbox; a bad username / password+token is a SOAP Fault with
`sf:exceptionCode` INVALID_LOGIN and HTTP 500, as Salesforce answers it. A `merge` envelope
(with a SessionHeader) merges up to two records into a master, as the REST API cannot.
"""

from __future__ import annotations

import hmac
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape

from starlette.responses import Response

from acm_sync.sandbox.salesforce.auth import SalesforceCredentials, Sessions
from acm_sync.sandbox.salesforce.schema import ORGANIZATION_NAME

_XML = "text/xml; charset=utf-8"
_ENVELOPE_OPEN = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns="urn:partner.soap.sforce.com" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<soapenv:Body>"
)
_ENVELOPE_CLOSE = "</soapenv:Body></soapenv:Envelope>"


def soap_fault(
    code: str, message: str, fault_type: str = "UnexpectedErrorFault", status: int = 500
) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><soapenv:Fault>"
        f"<faultcode>sf:{escape(code)}</faultcode>"
        f"<faultstring>{escape(code)}: {escape(message)}</faultstring>"
        f'<detail><sf:{fault_type} xsi:type="sf:{fault_type}">'
        f"<sf:exceptionCode>{escape(code)}</sf:exceptionCode>"
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        f"</sf:{fault_type}></detail>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(body, status, media_type=_XML)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(element: ET.Element, name: str) -> ET.Element | None:
    for child in element.iter():
        if _local(child.tag) == name:
            return child
    return None


def _tag(name: str, value: Any) -> str:
    if value is None:
        return f'<{name} xsi:nil="true"/>'
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{escape(str(value))}</{name}>"


def parse_envelope(body: bytes) -> tuple[ET.Element | None, Response | None]:
    """(the operation element inside the SOAP Body, None) or (None, a fault)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        return None, soap_fault("INVALID_XML", f"Unable to parse the request: {exc}")
    soap_body = _find(root, "Body")
    if _local(root.tag) != "Envelope" or soap_body is None:
        return None, soap_fault("INVALID_XML", "The request is not a SOAP envelope")
    operation = next(iter(soap_body), None)
    if operation is None:
        return None, soap_fault("INVALID_XML", "The SOAP Body names no operation")
    return operation, None


def operation_name(element: ET.Element) -> str:
    return _local(element.tag)


def session_id(body: bytes) -> str:
    """The sessionId of the envelope's SessionHeader ('' when there is none)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return ""
    header = _find(root, "SessionHeader")
    found = _find(header, "sessionId") if header is not None else None
    return (found.text or "").strip() if found is not None else ""


def merge_request(operation: ET.Element) -> tuple[str, str, list[str]]:
    """(object type, master id, ids to merge) of a merge() call (ValueError when malformed)."""
    request = _find(operation, "request")
    master = _find(request, "masterRecord") if request is not None else None
    if request is None or master is None:
        raise ValueError("merge() needs a request with a masterRecord")
    type_el, id_el = _find(master, "type"), _find(master, "Id")
    if type_el is None or id_el is None:
        raise ValueError("the masterRecord needs a type and an Id")
    ids = [(e.text or "").strip() for e in request.iter() if _local(e.tag) == "recordToMergeIds"]
    return (type_el.text or "").strip(), (id_el.text or "").strip(), ids


def merge_response(result: dict[str, Any]) -> Response:
    inner = "".join(
        [
            *(
                "<errors>"
                + _tag("message", e["message"])
                + _tag("statusCode", e["statusCode"])
                + "</errors>"
                for e in result.get("errors", [])
            ),
            _tag("id", result.get("id")),
            *(_tag("mergedRecordIds", i) for i in result.get("mergedRecordIds", [])),
            _tag("success", bool(result.get("success"))),
            *(_tag("updatedRelatedIds", i) for i in result.get("updatedRelatedIds", [])),
        ]
    )
    body = f"<mergeResponse><result>{inner}</result></mergeResponse>"
    return Response(_ENVELOPE_OPEN + body + _ENVELOPE_CLOSE, 200, media_type=_XML)


def logout_response() -> Response:
    return Response(_ENVELOPE_OPEN + "<logoutResponse/>" + _ENVELOPE_CLOSE, 200, media_type=_XML)


def soap_login(
    operation: ET.Element,
    *,
    version: str,
    credentials: SalesforceCredentials,
    sessions: Sessions,
    user: dict[str, Any],
    instance_url: str,
    session_ttl_s: float,
) -> Response:
    login = operation
    username_el, password_el = _find(login, "username"), _find(login, "password")
    username = (username_el.text or "") if username_el is not None else ""
    password = (password_el.text or "") if password_el is not None else ""
    expected = credentials.password + credentials.security_token
    if username.strip().lower() != credentials.username.lower() or not hmac.compare_digest(
        password, expected
    ):
        return soap_fault(
            "INVALID_LOGIN",
            "Invalid username, password, security token; or user locked out.",
            "LoginFault",
        )
    user_id = str(user["Id"])
    session = sessions.issue(user_id)
    org15 = sessions.org_id[:15]
    user_info = {
        "accessibilityMode": False,
        "chatterExternal": False,
        "currencySymbol": "$",
        "orgAttachmentFileSizeLimit": 5242880,
        "orgDefaultCurrencyIsoCode": "USD",
        "orgDefaultCurrencyLocale": "en_US",
        "orgDisallowHtmlAttachments": False,
        "orgHasPersonAccounts": False,
        "organizationId": sessions.org_id,
        "organizationMultiCurrency": True,
        "organizationName": ORGANIZATION_NAME,
        "profileId": "00e5g000000AdMnAAK",
        "roleId": None,
        "sessionSecondsValid": int(session_ttl_s),
        "userDefaultCurrencyIsoCode": None,
        "userEmail": user.get("Email") or credentials.username,
        "userFullName": user.get("Name") or credentials.username,
        "userId": user_id,
        "userLanguage": "en_US",
        "userLocale": "en_US",
        "userName": user.get("Username") or credentials.username,
        "userTimeZone": "GMT",
        "userType": "Standard",
        "userUiSkin": "Theme3",
    }
    result = (
        "<loginResponse><result>"
        + _tag("metadataServerUrl", f"{instance_url}/services/Soap/m/{version}/{org15}")
        + _tag("passwordExpired", False)
        + _tag("sandbox", True)
        + _tag("serverUrl", f"{instance_url}/services/Soap/u/{version}/{org15}")
        + _tag("sessionId", session.token)
        + _tag("userId", user_id)
        + "<userInfo>"
        + "".join(_tag(k, v) for k, v in user_info.items())
        + "</userInfo></result></loginResponse>"
    )
    return Response(_ENVELOPE_OPEN + result + _ENVELOPE_CLOSE, 200, media_type=_XML)
