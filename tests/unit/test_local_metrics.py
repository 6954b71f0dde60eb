"""local/metrics.py: the embedded stack's EMF aggregator and the funnel it serves."""

from __future__ import annotations

import io
import json
import os
import threading
from collections import deque

import pytest

from local.metrics import EmfAggregator, funnel_report, parse_emf, render_html
from local.runtime import LogRelay


def emf(name: str, value=1.0, unit: str = "Count", namespace: str = "CarrierAuth", **dimensions: str) -> str:
    """One line as Powertools' single_metric prints it (carrier_auth.telemetry.emit)."""
    dims = {**dimensions, "service": "carrier-auth"}
    return json.dumps({
        "_aws": {"Timestamp": 1795461444645, "CloudWatchMetrics": [{
            "Namespace": namespace, "Dimensions": [list(dims)], "Metrics": [{"Name": name, "Unit": unit}]}]},
        **dims,
        name: value if isinstance(value, list) else [value],
    }, separators=(",", ":"))


def started(carrier: str = "中国移动", province: str = "北京") -> str:
    return emf("FunnelStarted", Carrier=carrier, Province=province)


def test_a_powertools_line_is_parsed():
    # the line carrier_auth.telemetry.funnel("FunnelStarted", ...) printed in a function
    line = ('{"_aws":{"Timestamp":1795461444645,"CloudWatchMetrics":[{"Namespace":"CarrierAuth","Dimensions":'
            '[["Carrier","Province","service"]],"Metrics":[{"Name":"FunnelStarted","Unit":"Count"}]}]},'
            '"Carrier":"\\u79fb\\u52a8","Province":"\\u6c5f\\u82cf","service":"carrier-auth","FunnelStarted":[1.0]}')
    dimensions = {"Carrier": "移动", "Province": "江苏", "service": "carrier-auth"}
    assert parse_emf(line) == [("CarrierAuth", "FunnelStarted", "Count", dimensions, [1.0])]


@pytest.mark.parametrize("line", [
    "",
    "START RequestId: 1234 Version: $LATEST",
    '{"level":"INFO","message":"task started","function_name":"StartFunction"}',
    '{"level":"INFO","message":"CloudWatchMetrics are nice"}',  # the word, not EMF
    '{"_aws": "CloudWatchMetrics"}',
    '{"_aws": {"CloudWatchMetrics": "nope"}}',
    '{"_aws": {"CloudWatchMetrics": [{"Namespace": "x", "Metrics": [{"Name": "M"}]}]}}',  # no value
    '{"_aws": {"CloudWatchMetrics": [{"Metrics": [{"Name": "M"}]}]}, "M": "12"}',  # not a number
    '{"_aws": {"CloudWatchMetrics": [{"Metrics": [{"Name": "M"}]}]}, "M": true}',
    '{"_aws": {"CloudWatchMetrics": [{"Metrics": [{"Name": "M"}]}]}, "M": NaN}',
    '{"_aws": {"CloudWatchMetrics": [null, 3, {"Metrics": [null, {"Name": 5}]}]}}',
    '{"_aws":{"CloudWatchMetrics":[{"Namespace":"CarrierAuth"',  # cut short
    "null",
    '["CloudWatchMetrics"]',
    "\x00\xff CloudWatchMetrics \ud800",
])
def test_anything_else_is_ignored(line):
    aggregator = EmfAggregator()
    assert parse_emf(line) == []
    assert aggregator.feed(line) is False
    assert aggregator.metrics() == []


def test_values_are_summed_per_metric_and_dimension_values():
    aggregator = EmfAggregator()
    latency = emf("UpstreamLatency", [100.0, 300.0], "Milliseconds", Provider="juxinli")
    lines = [started(), started(), started("中国联通", "江苏"), latency, "a log line", "{}"]
    assert aggregator.feed_lines(lines) == 4
    metrics = {(m["name"], tuple(sorted(m["dimensions"].items()))): m for m in aggregator.metrics()}
    mobile = ("FunnelStarted", (("Carrier", "中国移动"), ("Province", "北京"), ("service", "carrier-auth")))
    assert (metrics[mobile]["sum"], metrics[mobile]["count"]) == (2.0, 2)
    latency = ("UpstreamLatency", (("Provider", "juxinli"), ("service", "carrier-auth")))
    assert (metrics[latency]["sum"], metrics[latency]["count"], metrics[latency]["unit"]) == (400.0, 2, "Milliseconds")


def test_a_metric_under_several_dimension_sets_counts_once():
    line = json.dumps({"_aws": {"CloudWatchMetrics": [{"Namespace": "CarrierAuth",
                                                        "Dimensions": [["Carrier"], ["Carrier", "Province"], []],
                                                        "Metrics": [{"Name": "FunnelStarted", "Unit": "Count"}]}]},
                       "Carrier": "中国电信", "Province": "上海", "FunnelStarted": 1})
    aggregator = EmfAggregator()
    aggregator.feed(line)
    assert aggregator.report()["funnel"]["started"] == 1
    row = {"started": 1, "succeeded": 0, "defeated": 0, "success_rate": 0.0}
    assert aggregator.report()["by_province"] == {"上海": row}


def test_the_funnel_report():
    aggregator = EmfAggregator()
    lines = (
        [started()] * 4 + [started("中国联通", "江苏")] * 2
        + [emf("FunnelSmsRequested", Carrier="中国移动", Province="北京")] * 3
        + [emf("FunnelSubmitted", Carrier="中国移动", Province="北京")] * 3
        + [emf("FunnelSucceeded", Carrier="中国移动", Province="北京")] * 3
        + [emf("FunnelDefeated", Carrier="中国联通", Province="江苏")]
        + [emf("GuideCodeAnswered", GuideCode="10001")] * 5 + [emf("GuideCodeAnswered", GuideCode="90026")]
        + [emf("UpstreamCall", Provider="juxinli")] * 4 + [emf("UpstreamFailed", Provider="juxinli")]
        + [emf("UpstreamLatency", 120.0, "Milliseconds", Provider="juxinli"),
           emf("UpstreamLatency", 80.0, "Milliseconds", Provider="juxinli"),
           emf("UpstreamCall", Provider="three_factor")]
        + [emf("ColdStart", namespace="CarrierAuth", function_name="x")]  # other metrics: not in the funnel
    )
    aggregator.feed_lines(lines)
    report = aggregator.report()
    assert report["funnel"] == {"started": 6, "sms_requested": 3, "submitted": 3, "succeeded": 3, "defeated": 1}
    assert report["by_carrier"] == {
        "中国移动": {"started": 4, "succeeded": 3, "defeated": 0, "success_rate": 0.75},
        "中国联通": {"started": 2, "succeeded": 0, "defeated": 1, "success_rate": 0.0},
    }
    assert list(report["by_province"]) == ["北京", "江苏"]  # most started first
    assert report["guide_codes"] == {"10001": 5, "90026": 1}
    assert report["upstream"] == {
        "juxinli": {"calls": 4, "failed": 1, "error_rate": 0.25, "latency_ms_avg": 100.0},
        "three_factor": {"calls": 1, "failed": 0, "error_rate": 0.0, "latency_ms_avg": None},
    }
    assert "since" in report
    json.dumps(report)  # served as is


def test_an_empty_report_has_every_key():
    report = funnel_report([])
    assert report == {"funnel": {"started": 0, "sms_requested": 0, "submitted": 0, "succeeded": 0, "defeated": 0},
                      "by_carrier": {}, "by_province": {}, "guide_codes": {}, "upstream": {}}


def test_missing_dimensions_are_unknown():
    aggregator = EmfAggregator()
    aggregator.feed(emf("FunnelSucceeded"))
    row = {"started": 0, "succeeded": 1, "defeated": 0, "success_rate": None}
    assert aggregator.report()["by_carrier"] == {"未知": row}


def test_feeding_from_many_threads_loses_nothing():
    aggregator = EmfAggregator()
    line = started()

    def feed():
        for _ in range(500):
            aggregator.feed(line)

    threads = [threading.Thread(target=feed) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert aggregator.report()["funnel"]["started"] == 4000


def test_reset_starts_over():
    aggregator = EmfAggregator()
    aggregator.feed(started())
    aggregator.reset()
    assert aggregator.report()["funnel"]["started"] == 0


def test_the_html_page_is_plain_tables_with_escaped_values():
    aggregator = EmfAggregator()
    aggregator.feed_lines([started("<script>alert(1)</script>", "北京"), emf("GuideCodeAnswered", GuideCode="10001")])
    page = render_html(aggregator.report())
    assert page.startswith("<!doctype html>")
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page
    assert "<caption>Funnel</caption>" in page and "10001" in page and "北京" in page


def test_the_log_relay_feeds_its_aggregator():
    stream = io.StringIO()
    relay = LogRelay(stream)
    read, write = os.pipe()
    with open(write, "wb") as pipe:
        pipe.write((started() + "\n" + "plain log line\n").encode())
    thread = relay.follow(open(read, "rb"), deque(maxlen=5))  # noqa: SIM115 - the relay closes it
    thread.join(timeout=5)
    assert relay.metrics.report()["funnel"]["started"] == 1
    assert "plain log line" in stream.getvalue() and "FunnelStarted" in stream.getvalue()  # still relayed
