"""Services: the queries and transactions the routes call. Each write function commits once."""
