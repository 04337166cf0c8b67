"""One module per CRM: a Dagster resource over the vendor's client library, and its pulls.

    settings.py          the `sync` section of acm_sync.yaml: field maps, lookback, thresholds,
                         budgets, retry (pydantic; validated with the rest of the config)
    policy.py            the request policy both connectors run every call through: retry
                         classification, Retry-After, per-run API budget, rolling-window pacing
    mapping.py           raw CRM values → canonical frames (vectorised pandas)
    salesforce.py        SalesforceResource / SalesforceClient over simple-salesforce
    salesforce_pull.py   full / incremental pulls, REST or Bulk API 2.0, deletes and merges
    hubspot.py           HubSpotResource / HubSpotClient over hubspot-api-client (raw JSON)
    hubspot_pull.py      full (list) / incremental (search) pulls, archives, merges, history
    pull_run.py          what both pulls share: where a pull starts, its stop on a spent budget,
                         its tally
    http.py              login-host routing and CA trust for simple-salesforce's session
    common.py            errors that say what to fix, secret masking, pull results

The connectors speak only the vendors' public APIs; nothing here imports the sandbox.
"""
