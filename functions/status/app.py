"""GET /carrier/auth/{task_id}: the task's current answer, in the same envelope (own tenant's tasks only)."""

from carrier_auth import facade
from carrier_auth.handlers import api_function


def _status(_request: None, tenant: str, task_id: str) -> tuple[int, dict]:
    return facade.status(task_id, tenant)


lambda_handler = api_function("getCarrierAuth", _status, metric="StatusRequested")
