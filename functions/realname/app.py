"""Identity: 驭信 real-name mobile check (verifyMobile).

Two entry points, one function: the state machine's identity step (`{"task_id": ...}`) and
POST /identity/realname (API Gateway). Both go through the identity cache.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from carrier_auth import api, facade, flow
from carrier_auth.envelope import http

PROVIDER = "yuxin"
logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = api.resolver()


@app.post("/identity/realname")
@tracer.capture_method(capture_response=False)
def check():
    metrics.add_metric(name="IdentityCheckRequested", unit=MetricUnit.Count, value=1)
    return http(*facade.identity_check(PROVIDER, app.current_event.decoded_body))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event, context):
    if "httpMethod" in event:
        return app.resolve(event, context)
    logger.append_keys(task_id=event.get("task_id"))
    metrics.add_metric(name="IdentityStepChecked", unit=MetricUnit.Count, value=1)
    return flow.identity_step(event["task_id"], PROVIDER)
