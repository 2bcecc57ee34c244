"""One builder for the routes every owned resource has: list, create, get, put, patch, delete."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, url_for
from marshmallow import Schema

from backend.auth import current_principal
from backend.http import Endpoint, Reply, endpoint, require_match
from backend.services.common import CrudService, Page

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

    def user_id() -> int:
        """Return the id of the user the request acts for."""
        return current_principal().user_id

    def write(resource_id: int, body: Mapping[str, Any]) -> Any:
        """Lock the resource, check `If-Match`, then write `body`."""
        item = service.get(user_id(), resource_id, for_update=True)
        require_match(schema, item)
        return service.update(item, body)

    def list_items(query: Mapping[str, Any]) -> Page[Any]:
        return service.list(user_id(), query)

    def create_item(body: Mapping[str, Any]) -> Reply:
        item = service.create(user_id(), body)
        return Reply(item, {"Location": url_for(f"{bp.name}.get_{name}", resource_id=item.id)})

    def get_item(resource_id: int) -> Any:
        return service.get(user_id(), resource_id)

    def delete_item(resource_id: int) -> None:
        item = service.get(user_id(), resource_id, for_update=True)
        require_match(schema, item)
        service.delete(item)

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
                errors=(*ITEM_ERRORS, 412),
            ),
        ),
    ]
    for rule, method, view_name, view, spec in routes:
        bp.add_url_rule(rule, view_name, endpoint(spec)(view), methods=[method])
