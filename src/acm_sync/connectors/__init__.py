"""One module per CRM: a Dagster resource over the vendor's client library."""
