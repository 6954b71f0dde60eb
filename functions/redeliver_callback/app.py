"""POST /carrier/auth/{task_id}/callback: send the task's final callback again (same event id)."""

from carrier_auth import facade
from carrier_auth.handlers import api_function

lambda_handler = api_function("redeliverCallback", facade.redeliver, metric="CallbackRedeliveryRequested")
