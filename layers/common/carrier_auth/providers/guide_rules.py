"""Upstream free text -> seed guide code.

Neither Juxinli (30000, ``success: false``) nor Moxie (``DONE_FAIL`` descriptions) publishes
a complete numeric error list: public integrations map the carrier's Chinese message. One
ordered table serves every adapter so the same condition gives the same guide code whichever
provider reports it. The first matching rule wins: specific phrases come before general ones.
"""

from __future__ import annotations

from .. import codes

# (any of these substrings, guide code)
RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("查询密码错误",), codes.WRONG_QUERY_PASSWORD),
    (("查询密码",), codes.NEED_QUERY_PASSWORD),
    (("图片验证码错误", "图形验证码错误", "图片验证码不正确"), codes.WRONG_IMAGE_CODE),
    (("验证码错误次数", "验证码输入错误次数", "验证码错误过多"), codes.TOO_MANY_WRONG_CODES),
    (("验证码失效", "验证码已失效", "请重新登录", "会话已过期", "任务已过期"), codes.CODE_EXPIRED_RELOGIN),
    (("短信验证码错误", "验证码错误", "验证码不正确", "动态密码错误"), codes.WRONG_SMS_CODE),
    (("发送失败", "下发失败"), codes.SMS_SEND_FAILED),
    (("上限", "过于频繁", "太频繁", "发送频繁", "次数已用完"), codes.SMS_TOO_FREQUENT),
    (("锁定", "冻结", "密码错误次数"), codes.PASSWORD_LOCKED),
    (("初始密码", "简单密码", "密码过于简单"), codes.SIMPLE_PASSWORD),
    (("禁用服务密码", "服务密码已禁用", "未开通服务密码", "证件类型禁用"), codes.PASSWORD_DISABLED),
    (("未激活", "尚未激活"), codes.PASSWORD_NOT_ACTIVATED),
    (("服务密码错误", "密码错误", "密码不正确"), codes.WRONG_PASSWORD),
    (("未实名", "实名登记", "实名制"), codes.NOT_REAL_NAME_REGISTERED),
    (("其他地点", "其他地方登录", "其他浏览器", "已在别处登录", "重复登录"), codes.LOGGED_IN_ELSEWHERE),
    (("账号状态", "账户状态", "停机", "欠费", "销户", "状态异常"), codes.ACCOUNT_ABNORMAL),
    (("手机号错误", "账号错误", "号码错误", "号码不存在", "手机号码不正确", "号码不合法", "非本网"), codes.BAD_MOBILE),
    (("身份证",), codes.BAD_ID_NUMBER),
    (("姓名", "用户名不正确"), codes.BAD_NAME),
    (("地区升级", "该地区维护", "地区系统升级"), codes.REGION_UPGRADING),
    (("不支持该地区", "地区暂不支持", "暂不支持该地区", "该地区不支持", "暂不支持"), codes.REGION_UNSUPPORTED),
    (("升级", "维护"), codes.CARRIER_UPGRADING),
    (("繁忙", "稍后再试", "系统忙"), codes.CARRIER_BUSY),
)


def guide_for_text(text: str) -> str:
    """The guide code a message means, or "" when no rule knows it (a system error, 103)."""
    for needles, guide in RULES:
        if any(needle in text for needle in needles):
            return guide
    return ""
