"""GET /carrier/auth/{task_id}: the task's current answer, in the same envelope."""

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths

from carrier_auth import api, facade
from carrier_auth.envelope import http

logger = Logger()
tracer = Tracer()
app = api.resolver()


@app.get("/carrier/auth/<task_id>")
@tracer.capture_method(capture_response=False)
def status(task_id: str):
    return http(*facade.status(task_id))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event, context):
    return app.resolve(event, context)
