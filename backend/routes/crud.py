"""One builder for the routes every owned resource has: list, create, get, put, patch, delete."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from flask import Blueprint, request, url_for
from marshmallow import Schema

from backend.auth import Principal, current_principal
from backend.http import Endpoint, Reply, endpoint, require_match
from backend.services.common import CrudService, Page, Precondition

ITEM_ERRORS = (401, 403, 404)
WRITE_ERRORS = (400, 413, 415)


@dataclass(frozen=True)
class Resource:
    """What differs between two resources' routes."""

    name: str
    plural: str
    schema: Schema
    page_schema: Schema
    query_schema: Schema
    service: CrudService
    conflict_errors: tuple[int, ...] = ()
    list_errors: tuple[int, ...] = (400, 401)
    # The service writes with single statements that take their own locks (see `Endpoint`).
    autocommit_writes: bool = False


def add_crud_routes(bp: Blueprint, resource: Resource) -> None:
    """Add the six routes of `resource` to `bp`."""
    name, plural, schema, service = (
        resource.name,
        resource.plural,
        resource.schema,
        resource.service,
    )
    item_rule = f"/{plural}/<id:resource_id>"
    write_errors = (*WRITE_ERRORS, *ITEM_ERRORS, *resource.conflict_errors, 412)

    def principal() -> Principal:
        """Return who the request acts for."""
        return current_principal()

    def precondition() -> Precondition | None:
        """Return the request's `If-Match` check of the resource, if it has one."""
        return partial(require_match, schema) if request.if_match else None

    def write(resource_id: int, body: Mapping[str, Any]) -> Any:
        return service.update(principal(), resource_id, body, precondition())

    def list_items(query: Mapping[str, Any]) -> Page[Any]:
        return service.list(principal().user_id, query)

    def create_item(body: Mapping[str, Any]) -> Reply:
        item = service.create(principal(), body)
        return Reply(item, {"Location": url_for(f"{bp.name}.get_{name}", resource_id=item.id)})

    def get_item(resource_id: int) -> Any:
        return service.get(principal().user_id, resource_id)

    def delete_item(resource_id: int) -> None:
        service.delete(principal(), resource_id, precondition())

    routes: list[tuple[str, str, str, Callable[..., Any], Endpoint]] = [
        (
            f"/{plural}",
            "GET",
            f"list_{plural}",
            list_items,
            Endpoint(
                summary=f"List your {plural}",
                query=resource.query_schema,
                response=resource.page_schema,
                links=True,
                cached=True,
                errors=resource.list_errors,
            ),
        ),
        (
            f"/{plural}",
            "POST",
            f"create_{name}",
            create_item,
            Endpoint(
                summary=f"Create a {name}",
                body=schema,
                response=schema,
                status=201,
                etag=True,
                location=True,
                idempotent=True,
                autocommit=resource.autocommit_writes,
                errors=(*WRITE_ERRORS, 401, 403, *resource.conflict_errors),
            ),
        ),
        (
            item_rule,
            "GET",
            f"get_{name}",
            get_item,
            Endpoint(
                summary=f"Get a {name}",
                response=schema,
                etag=True,
                cached=True,
                errors=ITEM_ERRORS,
            ),
        ),
        (
            item_rule,
            "PUT",
            f"replace_{name}",
            write,
            Endpoint(
                summary=f"Replace a {name}",
                description="Every writable field is replaced; omitted ones return to their "
                "defaults.",
                body=schema,
                response=schema,
                etag=True,
                if_match=True,
                autocommit=resource.autocommit_writes,
                errors=write_errors,
            ),
        ),
        (
            item_rule,
            "PATCH",
            f"patch_{name}",
            write,
            Endpoint(
                summary=f"Change some fields of a {name}",
                description="Only the fields given change. Accepts application/json or "
                "application/merge-patch+json (RFC 7396).",
                body=schema,
                partial=True,
                response=schema,
                etag=True,
                if_match=True,
                autocommit=resource.autocommit_writes,
                errors=write_errors,
            ),
        ),
        (
            item_rule,
            "DELETE",
            f"delete_{name}",
            delete_item,
            Endpoint(
                summary=f"Delete a {name}",
                status=204,
                if_match=True,
                autocommit=resource.autocommit_writes,
                errors=(*ITEM_ERRORS, 412),
            ),
        ),
    ]
    for rule, method, view_name, view, spec in routes:
        bp.add_url_rule(rule, view_name, endpoint(spec)(view), methods=[method])
