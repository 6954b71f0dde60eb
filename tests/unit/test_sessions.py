"""sessions.py against a moto DynamoDB table built from template.yaml's SessionsTable."""

from __future__ import annotations

import threading
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from carrier_auth import codes, sessions

pytestmark = pytest.mark.usefixtures("sessions_table")


def new_task(**extra: Any) -> dict[str, Any]:
    return sessions.create({"task_id": f"task-{uuid.uuid4().hex}", "user_id": "u-1", **extra})


def waiting(task_id: str, token: str = "token-1") -> dict[str, Any]:
    """What a waiting step does when the provider asks for input: park its token with a fresh trace_id."""
    return sessions.checkpoint(
        task_id,
        sessions.WAITING_INPUT,
        sessions.answer(codes.IN_PROGRESS, codes.NEED_SMS_CODE),
        extra={"task_token": token},
    )


def conditional_failure(info: pytest.ExceptionInfo[ClientError]) -> bool:
    return sessions.is_conditional_failure(info.value)


# --- create / get / update ------------------------------------------------------------------------


def test_create_sets_the_lifecycle_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_TTL_DAYS", "7")
    before = int(time.time())
    item = new_task(status="SUCCESS", seq=99)  # caller cannot preset lifecycle fields
    assert item["status"] == sessions.PENDING
    assert item["seq"] == 0
    assert len(item["trace_id"]) == 32
    assert before <= item["created_at"] == item["updated_at"] <= int(time.time())
    assert item["expires_at"] == item["created_at"] + 7 * 86400

    stored = sessions.get(item["task_id"])
    assert stored == item
    assert type(stored["seq"]) is int and type(stored["expires_at"]) is int  # no Decimal


def test_ttl_attribute_matches_the_template(sessions_table: str) -> None:
    import boto3

    ttl = boto3.client("dynamodb").describe_time_to_live(TableName=sessions_table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"


def test_create_refuses_a_duplicate_task_id() -> None:
    item = new_task()
    with pytest.raises(ClientError) as info:
        sessions.create({"task_id": item["task_id"], "user_id": "someone-else"})
    assert info.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert conditional_failure(info)
    assert sessions.get(item["task_id"])["user_id"] == "u-1"  # untouched


def test_get_unknown_task_is_none() -> None:
    assert sessions.get(f"task-{uuid.uuid4().hex}") is None


def test_update_sets_and_removes_and_converts_numbers() -> None:
    item = new_task(callback_status="PENDING")
    values = {"callback_http_status": 204, "ratio": Decimal("0.5")}
    new = sessions.update(item["task_id"], values, remove=("callback_status",))
    assert new["callback_http_status"] == 204 and type(new["callback_http_status"]) is int
    assert new["ratio"] == 0.5 and type(new["ratio"]) is float
    assert "callback_status" not in new
    assert sessions.get(item["task_id"]) == new


def test_update_refuses_unknown_task_and_failed_condition() -> None:
    from boto3.dynamodb.conditions import Attr

    with pytest.raises(ClientError) as info:
        sessions.update(f"task-{uuid.uuid4().hex}", {"x": 1})
    assert conditional_failure(info)  # never creates a stray item

    item = new_task()
    with pytest.raises(ClientError) as info:
        sessions.update(item["task_id"], {"x": 1}, condition=Attr("status").eq(sessions.COLLECTING))
    assert conditional_failure(info)
    assert "x" not in sessions.get(item["task_id"])


# --- checkpoint -----------------------------------------------------------------------------------


def test_checkpoint_increments_seq_and_rotates_trace_id() -> None:
    item = new_task()
    first = waiting(item["task_id"])
    assert first["seq"] == 1
    assert first["trace_id"] != item["trace_id"]
    assert first["status"] == sessions.WAITING_INPUT
    assert first["answer"]["guide_code"] == codes.NEED_SMS_CODE
    assert first["task_token"] == "token-1"

    second = sessions.checkpoint(
        item["task_id"], sessions.COLLECTING, sessions.answer(codes.SUBMITTED), remove=("task_token",)
    )
    assert second["seq"] == 2
    assert second["trace_id"] not in (item["trace_id"], first["trace_id"])
    assert "task_token" not in second
    assert second["answer"]["code"] == codes.SUBMITTED
    assert sessions.get(item["task_id"]) == second


@pytest.mark.parametrize("final", sessions.FINAL)
def test_checkpoint_never_rewrites_a_final_session(final: str) -> None:
    item = new_task()
    done = sessions.checkpoint(item["task_id"], final, sessions.answer(codes.SYSTEM_ERROR))
    with pytest.raises(ClientError) as info:
        sessions.checkpoint(item["task_id"], sessions.COLLECTING, sessions.answer(codes.SUBMITTED))
    assert conditional_failure(info)
    assert sessions.get(item["task_id"]) == done


def test_checkpoint_refuses_unknown_task() -> None:
    tid = f"task-{uuid.uuid4().hex}"
    with pytest.raises(ClientError) as info:
        sessions.checkpoint(tid, sessions.WAITING_INPUT, sessions.answer(codes.IN_PROGRESS))
    assert conditional_failure(info)
    assert sessions.get(tid) is None


# --- claim_token ----------------------------------------------------------------------------------


def test_claim_token_once_with_matching_trace_id() -> None:
    item = new_task()
    parked = waiting(item["task_id"], "token-abc")

    claimed = sessions.claim_token(item["task_id"], parked["trace_id"])
    assert claimed is not None
    assert claimed["task_token"] == "token-abc"  # the old image carries the token
    assert claimed["status"] == sessions.WAITING_INPUT

    after = sessions.get(item["task_id"])
    assert after["status"] == sessions.PROCESSING
    assert "task_token" not in after
    assert after["seq"] == parked["seq"]  # a claim is not a checkpoint

    assert sessions.claim_token(item["task_id"], parked["trace_id"]) is None


def test_claim_token_refuses_a_stale_trace_id() -> None:
    item = new_task()
    parked = waiting(item["task_id"])
    assert sessions.claim_token(item["task_id"], item["trace_id"]) is None  # the pre-checkpoint trace
    assert sessions.claim_token(item["task_id"], uuid.uuid4().hex) is None
    assert sessions.get(item["task_id"])["status"] == sessions.WAITING_INPUT
    assert sessions.claim_token(item["task_id"], parked["trace_id"]) is not None


def test_claim_token_only_while_waiting_for_input() -> None:
    item = new_task()
    assert sessions.claim_token(item["task_id"], item["trace_id"]) is None  # PENDING
    collecting = sessions.checkpoint(item["task_id"], sessions.COLLECTING, sessions.answer(codes.SUBMITTED))
    assert sessions.claim_token(item["task_id"], collecting["trace_id"]) is None


def test_claim_token_unknown_task_is_none() -> None:
    tid = f"task-{uuid.uuid4().hex}"
    assert sessions.claim_token(tid, uuid.uuid4().hex) is None
    assert sessions.get(tid) is None  # no stray item


@pytest.mark.usefixtures("atomic_moto_dynamodb")
def test_claim_token_concurrently_exactly_one_wins() -> None:
    item = new_task()
    parked = waiting(item["task_id"], "the-only-token")
    threads_n = 8
    barrier = threading.Barrier(threads_n)
    results: list[dict | None] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def claim() -> None:
        try:
            barrier.wait(timeout=10)
            got = sessions.claim_token(item["task_id"], parked["trace_id"])
            with lock:
                results.append(got)
        except BaseException as exc:  # noqa: BLE001 - reported below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=claim) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert not errors, errors
    assert len(results) == threads_n
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0]["task_token"] == "the-only-token"
    assert sessions.get(item["task_id"])["status"] == sessions.PROCESSING


# --- wait_for_checkpoint ----------------------------------------------------------------------------


def test_wait_returns_at_once_when_seq_already_passed() -> None:
    item = new_task()
    waiting(item["task_id"])
    start = time.monotonic()
    got = sessions.wait_for_checkpoint(item["task_id"], 0, time.monotonic() + 10)
    assert got is not None and got["seq"] == 1
    assert time.monotonic() - start < 5  # did not sit out the deadline


def test_wait_sees_a_checkpoint_written_while_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    item = new_task()
    polled = threading.Event()
    real_get = sessions.get

    def get_and_signal(task_id: str) -> dict | None:
        found = real_get(task_id)
        polled.set()
        return found

    monkeypatch.setattr(sessions, "get", get_and_signal)
    result: dict[str, Any] = {}

    def waiter() -> None:
        result["item"] = sessions.wait_for_checkpoint(item["task_id"], 0, time.monotonic() + 20)

    thread = threading.Thread(target=waiter)
    thread.start()
    assert polled.wait(timeout=10)  # the waiter has seen seq 0 at least once
    written = sessions.checkpoint(item["task_id"], sessions.COLLECTING, sessions.answer(codes.SUBMITTED))
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert result["item"]["seq"] == written["seq"] == 1
    assert result["item"]["trace_id"] == written["trace_id"]


def test_wait_returns_the_current_item_at_the_deadline() -> None:
    item = new_task()
    start = time.monotonic()
    got = sessions.wait_for_checkpoint(item["task_id"], 0, start + 0.3)
    elapsed = time.monotonic() - start
    assert got is not None and got["seq"] == 0 and got["trace_id"] == item["trace_id"]
    assert 0.3 <= elapsed < 10


def test_wait_for_unknown_task_returns_none_at_the_deadline() -> None:
    assert sessions.wait_for_checkpoint(f"task-{uuid.uuid4().hex}", 0, time.monotonic() + 0.3) is None


# --- answer shapes ----------------------------------------------------------------------------------


def test_answer_104_with_guide_code() -> None:
    ans = sessions.answer(codes.IN_PROGRESS, codes.NEED_IMAGE_CODE, auth_code="aW1hZ2U=")
    assert ans == {
        "code": "104",
        "message": "请输入图片验证码",
        "guide_code": "90002",
        "guide_message": "请输入图片验证码",
        "auth_code": "aW1hZ2U=",
    }


def test_answer_104_custom_message_and_unknown_guide() -> None:
    ans = sessions.answer(codes.IN_PROGRESS, "", "处理中")
    assert (ans["message"], ans["guide_code"], ans["guide_message"]) == ("处理中", "", "处理中")
    ans = sessions.answer(codes.IN_PROGRESS)
    assert ans["message"] == ans["guide_message"] == codes.CODE_MESSAGES["104"]


def test_answer_105_has_empty_guide_fields() -> None:
    ans = sessions.answer(codes.SUBMITTED, codes.NEED_SMS_CODE, auth_code="ignored")
    assert ans == {
        "code": "105",
        "message": "提交成功，后台认证中，认证结果会通过回调通知APP",
        "guide_code": "",
        "guide_message": "",
        "auth_code": "",
    }


def test_answer_103_default_and_custom_message() -> None:
    assert sessions.answer(codes.SYSTEM_ERROR)["message"] == "系统异常"
    ans = sessions.answer(codes.SYSTEM_ERROR, message="上游服务不可用")
    assert ans["code"] == "103" and ans["message"] == "上游服务不可用"
    assert ans["guide_code"] == ans["guide_message"] == ans["auth_code"] == ""
