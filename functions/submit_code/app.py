"""POST /carrier/auth/code: 运营商提交验证码 (seed 000). Idempotent on (task_id, traceId, body)."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from carrier_auth import api, facade
from carrier_auth.envelope import http

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = api.resolver()


@app.post("/carrier/auth/code")
@tracer.capture_method(capture_response=False)
def submit():
    metrics.add_metric(name="SubmitRequested", unit=MetricUnit.Count, value=1)
    status, body = facade.signal("submit", app.current_event.decoded_body)
    return http(status, body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event, context):
    facade.register_lambda_context(context)
    return app.resolve(event, context)
