"""Cross-cutting endpoints: the API root, health, and the API's own 404."""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from platform_api.errors import NotFoundError

logger = logging.getLogger(__name__)


def _routes(patterns: list, prefix: str = "") -> list[str]:
    routes: list[str] = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            routes.extend(_routes(pattern.url_patterns, prefix + str(pattern.pattern)))
        elif isinstance(pattern, URLPattern) and pattern.name and not pattern.name.startswith("_"):
            route = prefix + str(pattern.pattern)
            routes.append("/" + route.replace("^", "").replace("$", ""))
    return routes


@extend_schema(
    summary="API root",
    description="Lists the endpoints of API version 1 and where the schema and docs are.",
    responses=inline_serializer(
        "ApiRoot",
        {
            "version": serializers.CharField(),
            "endpoints": serializers.ListField(child=serializers.CharField()),
            "schema": serializers.CharField(),
            "docs": serializers.CharField(),
            "token_url": serializers.CharField(),
        },
    ),
    auth=[],
)
@api_view(["GET"])
@permission_classes([AllowAny])
def api_root(request: Request) -> Response:
    resolver = get_resolver()
    api = next(p for p in resolver.url_patterns if isinstance(p, URLResolver) and str(p.pattern) == "api/v1/")
    return Response(
        {
            "version": "v1",
            "endpoints": sorted(set(_routes(api.url_patterns, "api/v1/"))),
            "schema": "/api/schema",
            "docs": "/api/docs",
            "token_url": "/oauth/token",
        }
    )


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@permission_classes([AllowAny])
def api_not_found(request: Request, *args, **kwargs) -> Response:
    raise NotFoundError(f"No API endpoint at {request.path}.")


@extend_schema(
    summary="Health check",
    description="Checks the database and Redis; 503 when either is down.",
    responses={
        200: inline_serializer(
            "Health",
            {
                "status": serializers.ChoiceField(choices=["ok", "unavailable"]),
                "checks": serializers.DictField(child=serializers.CharField()),
            },
        ),
        503: inline_serializer(
            "HealthUnavailable",
            {
                "status": serializers.ChoiceField(choices=["ok", "unavailable"]),
                "checks": serializers.DictField(child=serializers.CharField()),
            },
        ),
    },
    auth=[],
)
@api_view(["GET"])
@permission_classes([AllowAny])
def healthz(request: Request) -> Response:
    checks = {"database": _check_database(), "redis": _check_redis()}
    healthy = all(value == "ok" for value in checks.values())
    return Response({"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503)


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "not healthy"; the class name is enough to debug
        logger.warning("health: database check failed: %s", type(exc).__name__)
        # Drop the broken connection so the next request reconnects.
        connection.close_if_unusable_or_obsolete()
        return "unavailable"
    return "ok"


def _check_redis() -> str:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        client.close()
    except Exception as exc:
        logger.warning("health: redis check failed: %s", type(exc).__name__)
        return "unavailable"
    return "ok"
