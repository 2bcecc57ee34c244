"""Security review as tests (GitHub issue 7, point 4): the OWASP API Security Top 10 (2023).

One module per item that applies:

- API1 Broken Object Level Authorization: `test_api1_object_authorization.py`
- API2 Broken Authentication: `test_api2_authentication.py`
- API3 Broken Object Property Level Authorization: `test_api3_property_authorization.py`
- API4 Unrestricted Resource Consumption: `test_api4_resource_consumption.py`
- API5 Broken Function Level Authorization: `test_api5_function_authorization.py`
- API8 Security Misconfiguration: `test_api8_misconfiguration.py`
- Injection (API8:2019, no longer its own item in 2023): `test_injection.py`

Not applicable:

- API6 Unrestricted Access to Sensitive Business Flows: the API has no flow whose automated
  use harms the business (no purchases, bookings, referrals or messages to others); the one
  automatable flow, creating accounts, is rate-limited (API4).
- API7 Server Side Request Forgery: the server never fetches a URL or contacts a host that a
  client supplies; its only outbound connections are to the configured database and redis.
- API9 Improper Inventory Management: one API version is served, and its inventory (every
  route documented in the generated OpenAPI document, no other) is already enforced by
  `tests/test_openapi.py::test_every_api_route_and_no_other_is_documented`.
- API10 Unsafe Consumption of APIs: the server consumes no third-party API; its only inputs
  are client requests, which every other module here covers.
"""
