"""Strategy playbooks (运营策略): the recommended action for each segment.

Each playbook names the action, the channel and the offer, in zh/en. Lifecycle
stages, RFM groups and need-based groups map to a default playbook; a saved
segment may name its own. Automation reads the same mapping, so the action
shown next to a segment is the one a journey runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from jingyun.errors import JingyunError


@dataclass(frozen=True)
class Playbook:
    key: str
    zh: str
    en: str
    action_zh: str
    action_en: str
    channels: tuple[str, ...]
    offer: str | None = None


PLAYBOOKS: dict[str, Playbook] = {p.key: p for p in (
    Playbook("onboarding", "新客引导", "Onboarding", "新手任务+首单优惠券,7天内引导完成首单",
             "Onboarding tasks and a first-order coupon; aim for the first order within 7 days",
             ("push", "sms"), "first_order_coupon"),
    Playbook("grow", "成长培育", "Grow", "品类推荐与满减券,培养复购习惯",
             "Category recommendations and spend-threshold coupons to build a repeat habit", ("push", "email"),
             "threshold_coupon"),
    Playbook("retain_mature", "会员维系", "Retain", "会员积分、生日礼与新品预告",
             "Points, birthday gifts and new-arrival previews", ("email", "push")),
    Playbook("vip_care", "高价值专属权益", "VIP benefits", "专属权益、专属客服与交叉销售",
             "Exclusive benefits, a dedicated service line and cross-sell", ("sms", "phone"), "vip_benefit"),
    Playbook("winback_care", "流失预警关怀", "Care and comeback", "关怀回访电话+回归优惠券",
             "A care call and a comeback coupon", ("phone", "sms"), "comeback_coupon"),
    Playbook("reactivate", "沉睡唤醒", "Reactivate", "大额唤醒券与个性化推荐,无响应则降低触达频率",
             "A large reactivation coupon and personalised picks; reduce frequency if there is no response",
             ("sms", "email"), "reactivation_coupon"),
    Playbook("price_offer", "价格敏感:优惠驱动", "Price-led offers", "推送限时折扣与比价信息,控制券面额",
             "Time-limited discounts and price comparisons; watch coupon depth", ("push",), "discount"),
    Playbook("quality_story", "品质敏感:品质内容", "Quality story", "推荐高端款与品质内容,不发折扣券",
             "Premium products and quality content; no discount coupons", ("email", "push")),
    Playbook("service_first", "服务敏感:优先服务", "Service first", "优先客服通道、主动物流通知",
             "Priority service line and proactive delivery updates", ("sms",)),
)}

DEFAULTS: dict[str, str] = {
    "lifecycle:new": "onboarding", "lifecycle:growing": "grow", "lifecycle:mature": "retain_mature",
    "lifecycle:high_value": "vip_care", "lifecycle:churn_risk": "winback_care", "lifecycle:churned": "reactivate",
    "rfm:champions": "vip_care", "rfm:loyal_at_risk": "winback_care", "rfm:potential": "grow",
    "rfm:at_risk": "winback_care", "rfm:loyal_low_spend": "grow", "rfm:needs_attention": "retain_mature",
    "rfm:new_or_promising": "onboarding", "rfm:hibernating": "reactivate",
    "need:price_sensitive": "price_offer", "need:quality_sensitive": "quality_story",
    "need:service_sensitive": "service_first",
}


def get_playbook(key: str) -> Playbook:
    if key not in PLAYBOOKS:
        raise JingyunError("unknown_playbook", f"unknown playbook {key!r}; use {', '.join(PLAYBOOKS)}", "playbook")
    return PLAYBOOKS[key]


def playbook_for(scheme: str, group: str) -> Playbook | None:
    """The default playbook for a group of a scheme (lifecycle, rfm, need), or None."""
    key = DEFAULTS.get(f"{scheme}:{group}")
    return PLAYBOOKS[key] if key else None
