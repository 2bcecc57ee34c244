"""Marshmallow schemas: every body and query string is validated, every response dumped, here."""
