"""GET /carrier/auth/{task_id}: the task's current answer, in the same envelope."""

from carrier_auth import facade
from carrier_auth.handlers import api_function

lambda_handler = api_function(
    "GET", "/carrier/auth/<task_id>", lambda _body, task_id: facade.status(task_id), metric="StatusRequested"
)
