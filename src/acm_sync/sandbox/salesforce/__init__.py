"""The Salesforce REST / SOAP-login / Bulk API 2.0 emulator."""
