"""POST /carrier/auth: start a carrier authentication (seed 000 魔蝎运营商认证接口)."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from carrier_auth import api, facade
from carrier_auth.envelope import http

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = api.resolver()


@app.post("/carrier/auth")
@tracer.capture_method(capture_response=False)
def start():
    metrics.add_metric(name="TaskStartRequested", unit=MetricUnit.Count, value=1)
    status, body = facade.start(app.current_event.decoded_body)
    return http(status, body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
