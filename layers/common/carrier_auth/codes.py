"""The seed-000 vocabulary: flow codes and guide codes, exactly as the seed spells them."""

from __future__ import annotations

# Flow codes (the envelope's ``code``), always strings on the wire.
SYSTEM_ERROR = "103"
IN_PROGRESS = "104"
SUBMITTED = "105"

CODE_MESSAGES: dict[str, str] = {
    SYSTEM_ERROR: "系统异常",
    IN_PROGRESS: "流程进行中，根据guide_code中的值判断下一步做什么",
    SUBMITTED: "提交成功，后台认证中，认证结果会通过回调通知APP",
}

# Guide codes (``data.guide_code`` when code=104), seed 000 "@guide_code demo".
NEED_SMS_CODE = "90001"
NEED_IMAGE_CODE = "90002"
BAD_NAME = "90004"
BAD_ID_NUMBER = "90005"
WRONG_PASSWORD = "90006"
WRONG_SMS_CODE = "90007"
SIMPLE_PASSWORD = "90009"
CODE_EXPIRED_RELOGIN = "90010"
BAD_MOBILE = "90012"
CARRIER_UPGRADING = "90020"
PASSWORD_LOCKED = "90021"
PASSWORD_DISABLED = "90022"
PASSWORD_NOT_ACTIVATED = "90023"
NOT_REAL_NAME_REGISTERED = "90024"
ACCOUNT_ABNORMAL = "90025"
IDENTITY_MISMATCH = "90026"
LOGGED_IN_ELSEWHERE = "90027"
WRONG_IMAGE_CODE = "90028"
SMS_TOO_FREQUENT = "90029"
TOO_MANY_WRONG_CODES = "90030"
SMS_SEND_FAILED = "90031"
INPUT_TIMEOUT = "90032"
REGION_UNSUPPORTED = "90033"
REGION_UPGRADING = "90034"
CARRIER_BUSY = "90035"

GUIDE_MESSAGES: dict[str, str] = {
    NEED_SMS_CODE: "请输入短信验证码",
    NEED_IMAGE_CODE: "请输入图片验证码",
    WRONG_PASSWORD: "服务密码错误，请重新输入",
    PASSWORD_LOCKED: "服务密码错误次数超过限制，账号使用受限，请明天再试",
    SIMPLE_PASSWORD: "简单密码或者初始密码，请重置后重试",
    PASSWORD_DISABLED: "个人用户或证件类型禁用服务密码，请启用服务密码后重试",
    BAD_MOBILE: "账号（手机号）错误，请检查后重试",
    PASSWORD_NOT_ACTIVATED: "密码尚未激活，请登录网上营业厅激活后重试",
    NOT_REAL_NAME_REGISTERED: "该卡尚未实名登记，请实名登记后重试",
    ACCOUNT_ABNORMAL: "账号状态不正常",
    BAD_ID_NUMBER: "身份证号码为空或者不合法",
    BAD_NAME: "用户名不正确",
    IDENTITY_MISMATCH: "证件号或用户名不正确",
    LOGGED_IN_ELSEWHERE: "您已经在其他地点或浏览器登陆过，请确认退出后重试",
    WRONG_IMAGE_CODE: "图片验证码错误",
    SMS_TOO_FREQUENT: "短信验证码发送过于频繁",
    WRONG_SMS_CODE: "短信验证码错误，请耐心等待下一条",
    CODE_EXPIRED_RELOGIN: "验证码失效，请重新登录",
    TOO_MANY_WRONG_CODES: "验证码错误次数太多，请稍后再试",
    SMS_SEND_FAILED: "短信验证码发送失败",
    INPUT_TIMEOUT: "等待用户输入验证码超时",
    REGION_UNSUPPORTED: "该地区暂不支持服务",
    CARRIER_UPGRADING: "运营商正在升级中，稍后再试",
    REGION_UPGRADING: "该地区升级中，请明天再试",
    CARRIER_BUSY: "运营商系统繁忙",
}

# Extension codes: upstream conditions the seed has no code for, in unused 900xx slots.
NEED_QUERY_PASSWORD = "90036"  # Juxinli 10022: the carrier also wants the query password (查询密码)
WRONG_QUERY_PASSWORD = "90037"  # Juxinli 10023
EXTENSION_MESSAGES: dict[str, str] = {
    NEED_QUERY_PASSWORD: "请输入查询密码",
    WRONG_QUERY_PASSWORD: "查询密码错误，请重新输入",
}

# Callback vocabulary (seed 000 "异步回调返回数据").
CALLBACK_SUCCESS = "SUCCESS"
CALLBACK_DEFEAT = "DEFEAT"
CALLBACK_MESSAGES = {
    "success": "运营商认证成功",
    "defeat": "运营商认证失败",
    "error": "系统错误",
}


# Guide codes that ask the app for input (the task keeps waiting for it).
INPUT_GUIDES = frozenset({NEED_SMS_CODE, NEED_IMAGE_CODE, WRONG_SMS_CODE, WRONG_IMAGE_CODE, NEED_QUERY_PASSWORD,
                          WRONG_QUERY_PASSWORD})


def guide_message(guide_code: str) -> str:
    return GUIDE_MESSAGES.get(guide_code) or EXTENSION_MESSAGES.get(guide_code, "")


# What the hosted page tells the user to do next, per guide code (docs/guide-codes.md says what
# the app should do; this is the same advice in the user's words). Input guides ask on the page.
USER_NEXT_ACTIONS: dict[str, str] = {
    NEED_SMS_CODE: "请输入手机收到的短信验证码",
    NEED_IMAGE_CODE: "请输入图片中的字符，看不清可以换一张",
    BAD_NAME: "请核对姓名后重新填写",
    BAD_ID_NUMBER: "请核对身份证号后重新填写",
    WRONG_PASSWORD: "请返回应用重新发起授权，并输入正确的服务密码（忘记可通过运营商客服或营业厅重置）",
    WRONG_SMS_CODE: "请输入最新收到的短信验证码",
    SIMPLE_PASSWORD: "请先通过运营商客服或营业厅重置服务密码，再返回应用重新授权",
    CODE_EXPIRED_RELOGIN: "验证码已失效，请返回应用重新发起授权",
    BAD_MOBILE: "请核对手机号后重新填写",
    CARRIER_UPGRADING: "运营商系统升级中，请稍后返回应用重新授权",
    PASSWORD_LOCKED: "服务密码已被锁定，请明天再返回应用重新授权",
    PASSWORD_DISABLED: "请先通过运营商启用服务密码，再返回应用重新授权",
    PASSWORD_NOT_ACTIVATED: "请先登录运营商网上营业厅激活服务密码，再返回应用重新授权",
    NOT_REAL_NAME_REGISTERED: "请先到运营商营业厅完成实名登记，再返回应用重新授权",
    ACCOUNT_ABNORMAL: "手机号状态异常（如停机、欠费），请联系运营商处理后再授权",
    IDENTITY_MISMATCH: "姓名或身份证号与手机号实名信息不一致，请核对后返回应用重新授权",
    LOGGED_IN_ELSEWHERE: "请在其他设备或浏览器退出运营商登录后，返回应用重新授权",
    WRONG_IMAGE_CODE: "请输入新图片中的字符",
    SMS_TOO_FREQUENT: "请稍后再获取验证码，或输入已收到的验证码",
    TOO_MANY_WRONG_CODES: "验证码错误次数过多，请稍后返回应用重新授权",
    SMS_SEND_FAILED: "请稍后返回应用重新授权",
    INPUT_TIMEOUT: "等待时间过长，请返回应用重新发起授权",
    REGION_UNSUPPORTED: "您的手机号所在地区暂不支持，请返回应用选择其他方式",
    REGION_UPGRADING: "所在地区系统升级中，请明天再返回应用重新授权",
    CARRIER_BUSY: "运营商系统繁忙，请稍后重试",
    NEED_QUERY_PASSWORD: "请输入运营商查询密码（部分地区需要，与服务密码不同）",
    WRONG_QUERY_PASSWORD: "请重新输入正确的查询密码",
}
