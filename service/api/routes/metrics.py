"""``GET /metrics``: this process's and its store's figures in the Prometheus text format.

For administrators and service accounts (Prometheus scrapes with a service account's bearer token).
Each API replica answers for itself, so Prometheus scrapes every replica; see ``service.metrics``
for what is counted where, and docs/api.md for the metrics and a scrape configuration.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from service import metrics
from service.api.deps import AccessDep

router = APIRouter(tags=["operations"])


@router.get("/metrics", name="metrics.read", response_class=Response,
            summary="Requests, latency, events appended, view lag, SLA items, verification, key and checkpoint age",
            responses={200: {"description": "the Prometheus text format (version 0.0.4)",
                             "content": {"text/plain": {"schema": {"type": "string"}}}}})
def read(access: AccessDep) -> Response:
    return Response(metrics.exposition(access.ledger), media_type=metrics.CONTENT_TYPE,
                    headers={"Cache-Control": "no-store"})
