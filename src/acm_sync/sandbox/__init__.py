"""Local emulators of the Salesforce and HubSpot APIs, seeded with a dirty demo org.

The sandbox answers as the vendors' APIs do (paths, status codes, headers, bodies), so the
unmodified client libraries work against it. Product code never imports it outside the CLI/demo.
"""
