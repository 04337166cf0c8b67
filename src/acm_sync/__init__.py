"""acm_sync: CRM sync and data quality for Salesforce and HubSpot."""
