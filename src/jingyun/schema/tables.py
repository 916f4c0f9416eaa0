"""The canonical tables and their data dictionary.

Each column carries its engine type, zh/en names, meaning, data classification
(public / internal / sensitive — drives masking and encryption later) and the
validation rules ingestion applies. ``kind`` says how ingestion reads a value:
``id`` (string identifier, placeholder values refused), ``ts``, ``date``,
``money`` (non-negative DECIMAL), ``number`` (non-negative), ``int``, ``enum``,
``json`` (must be an object), ``text``, ``bool``, ``phone``, ``email``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from jingyun.errors import JingyunError

Kind = Literal["id", "ts", "date", "money", "number", "int", "enum", "json", "text", "bool", "phone", "email"]
Classification = Literal["public", "internal", "sensitive"]

SQL_TYPES: dict[str, str] = {
    "id": "VARCHAR",
    "ts": "TIMESTAMP",
    "date": "DATE",
    "money": "DECIMAL(18,2)",
    "number": "DOUBLE",
    "int": "BIGINT",
    "enum": "VARCHAR",
    "json": "VARCHAR",  # JSON text; stored as VARCHAR so loads skip a re-parse (validated at ingest)
    "text": "VARCHAR",
    "bool": "BOOLEAN",
    "phone": "VARCHAR",
    "email": "VARCHAR",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    zh: str
    en: str
    meaning_zh: str
    meaning_en: str
    required: bool = False
    classification: Classification = "internal"
    enum: tuple[str, ...] = ()
    derived: bool = False  # filled by the pipeline, never read from a source

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.kind]


@dataclass(frozen=True)
class Table:
    name: str
    zh: str
    en: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    ts_column: str | None = None  # the time of the fact: validated, used for lake partitions
    extras_column: str | None = None  # JSON column that receives unknown source columns
    user_column: str | None = "user_id"
    meta: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise JingyunError("unknown_column", f"table {self.name} has no column {name!r}", name)

    @property
    def source_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if not c.derived)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _c(name: str, kind: Kind, zh: str, en: str, mzh: str, men: str, **kw: object) -> Column:
    return Column(name, kind, zh, en, mzh, men, **kw)  # type: ignore[arg-type]


PLATFORMS = ("app", "web", "miniprogram", "pos")
ORDER_STATUSES = ("created", "paid", "shipped", "completed", "cancelled", "refunded", "returned")
PAYMENT_METHODS = ("alipay", "wechat", "card", "unionpay", "cash", "balance", "other")
GENDERS = ("male", "female", "unknown")
FEEDBACK_SOURCES = ("survey", "cs", "review", "app-store")

_INGESTED = (
    _c("_source", "text", "数据来源", "Source", "记录来自哪个文件或接口", "File or API the record came from", derived=True),
    _c("_ingested_at", "ts", "入库时间", "Ingested at", "记录写入仓库的时间(UTC)", "When the record was stored (UTC)", derived=True),
    _c("_row_hash", "int", "记录指纹", "Record hash", "源记录内容的哈希:重发同一记录算重复,内容不同算冲突",
       "Hash of the source record as received: a resend of it is a duplicate, different content a conflict",
       derived=True),
)
_TEST = _c(
    "is_test", "bool", "测试账号", "Test account",
    "是否测试账号的数据;分析默认排除", "Belongs to a test account; excluded from analyses by default", derived=True,
)
_PERSON = _c(
    "person_id", "id", "统一用户ID", "Person id",
    "身份映射后的统一用户(匿名ID、手机号/邮箱合并)", "Resolved person after identity mapping (anonymous id, phone/email merge)",
    derived=True,
)

EVENTS = Table(
    "events", "行为事件", "Events", ("event_id",),
    (
        _c("event_id", "id", "事件ID", "Event id", "事件的唯一标识,用于去重", "Unique id of the event, used for dedup", required=True),
        _c("user_id", "id", "用户ID", "User id", "登录用户的ID", "Id of the logged-in user", classification="internal"),
        _c("anonymous_id", "id", "匿名ID", "Anonymous id", "未登录设备/访客ID", "Device or visitor id before login"),
        _c("event", "text", "事件名", "Event name", "埋点事件名称,须在埋点方案中", "Tracked event name, declared in the tracking plan", required=True, classification="public"),
        _c("ts", "ts", "事件时间", "Event time", "事件发生时间(存储为UTC)", "When the event happened (stored in UTC)", required=True, classification="public"),
        _c("platform", "enum", "平台", "Platform", "App/网页/小程序/门店POS", "App, web, mini-program or store POS", enum=PLATFORMS, classification="public"),
        _c("session_id", "id", "会话ID", "Session id", "同一次访问的会话标识", "Visit session identifier"),
        _c("properties", "json", "事件属性", "Properties", "事件属性(JSON对象);源数据的额外列也存于此", "Event properties (JSON object); extra source columns land here"),
        _PERSON,
        _TEST,
        _c("tracking_issue", "text", "埋点问题", "Tracking issue", "违反埋点方案的原因(空表示合规)", "Why the event breaks the tracking plan (empty when it complies)", derived=True),
        *_INGESTED,
    ),
    ts_column="ts", extras_column="properties",
)

# Personal columns encrypted at rest (jingyun.warehouse.personal): the clear column is left NULL and
# the AES-256-GCM ciphertext kept here (internal, "_" like _source); phone and email also keep their keyed pseudonym, which
# identity merges join on and which equals what the masking gate shows a masked role.
_SEALED = (
    *(_c(f"_{n}_enc", "text", f"{zh}(密文)", f"{en} (encrypted)", f"{zh}的密文(AES-256-GCM,工作区数据密钥)",
         f"{en}, encrypted with the workspace's data key (AES-256-GCM)", derived=True)
      for n, zh, en in (("name", "姓名", "Name"), ("phone", "手机号", "Phone"), ("email", "邮箱", "Email"),
                        ("birth_date", "出生日期", "Birth date"), ("address", "地址", "Address"),
                        ("attributes", "个人扩展属性", "Personal attributes"))),
    _c("_phone_ps", "id", "手机号假名", "Phone pseudonym", "手机号的加盐SHA-256假名,身份合并以此关联",
       "Salted SHA-256 pseudonym of the phone; identity merges join on it", derived=True),
    _c("_email_ps", "id", "邮箱假名", "Email pseudonym", "邮箱的加盐SHA-256假名,身份合并以此关联",
       "Salted SHA-256 pseudonym of the email; identity merges join on it", derived=True),
)

USERS = Table(
    "users", "用户", "Users", ("user_id",),
    (
        _c("user_id", "id", "用户ID", "User id", "用户唯一标识", "Unique user id", required=True),
        _c("registered_at", "ts", "注册时间", "Registered at", "注册时间(UTC)", "Registration time (UTC)"),
        _c("channel", "text", "获客渠道", "Acquisition channel", "用户首次来源渠道", "Channel the user was acquired through", classification="public"),
        _c("name", "text", "姓名", "Name", "用户姓名(敏感,脱敏时删除)", "Person's name (sensitive; removed when de-identified)", classification="sensitive"),
        _c("phone", "phone", "手机号", "Phone", "手机号,规范为+86格式(敏感)", "Mobile number normalised to +86 form (sensitive)", classification="sensitive"),
        _c("email", "email", "邮箱", "Email", "电子邮箱,小写(敏感)", "Email address, lower-cased (sensitive)", classification="sensitive"),
        _c("gender", "enum", "性别", "Gender", "male/female/unknown", "male/female/unknown", enum=GENDERS),
        _c("birth_date", "date", "出生日期", "Birth date", "出生日期(敏感,脱敏为年龄段)", "Date of birth (sensitive; banded when de-identified)", classification="sensitive"),
        _c("province", "text", "省份", "Province", "所在省份", "Province", classification="public"),
        _c("city", "text", "城市", "City", "所在城市", "City", classification="public"),
        _c("address", "text", "地址", "Address", "详细地址(敏感,脱敏为省份)", "Street address (sensitive; reduced to province when de-identified)", classification="sensitive"),
        _c("member_level", "text", "会员等级", "Member level", "会员等级,如普通/银卡/金卡", "Membership tier, e.g. regular/silver/gold", classification="public"),
        _c("is_test", "bool", "测试账号", "Test account", "是否测试账号(或命中测试规则)", "Test account (flagged or matched by test rules)"),
        _c("attributes", "json", "扩展属性", "Attributes", "其他用户属性(JSON对象);源数据的额外列也存于此", "Other attributes (JSON object); extra source columns land here"),
        _PERSON,
        *_INGESTED,
        *_SEALED,
    ),
    ts_column="registered_at", extras_column="attributes",
)

ORDERS = Table(
    "orders", "订单", "Orders", ("order_id",),
    (
        _c("order_id", "id", "订单ID", "Order id", "订单唯一标识", "Unique order id", required=True),
        _c("user_id", "id", "用户ID", "User id", "下单用户", "Buyer's user id", required=True),
        _c("ts", "ts", "下单时间", "Order time", "下单时间(UTC)", "When the order was placed (UTC)", required=True, classification="public"),
        _c("amount", "money", "订单金额", "Amount", "应付金额(元,已折扣后)", "Amount payable in CNY after discount", required=True),
        _c("discount", "money", "优惠金额", "Discount", "优惠/折扣金额(元)", "Discount in CNY"),
        _c("coupon_id", "id", "优惠券ID", "Coupon id", "使用的优惠券", "Coupon used"),
        _c("channel", "text", "下单渠道", "Channel", "下单渠道(app/web/小程序/门店等)", "Sales channel (app, web, mini-program, store…)", classification="public"),
        _c("store_id", "id", "门店ID", "Store id", "线下门店(线上为空)", "Store for offline orders (empty online)", classification="public"),
        _c("status", "enum", "订单状态", "Status", "created/paid/shipped/completed/cancelled/refunded/returned", "created/paid/shipped/completed/cancelled/refunded/returned", enum=ORDER_STATUSES, classification="public"),
        _c("payment_method", "enum", "支付方式", "Payment method", "支付宝/微信/银行卡等", "Alipay, WeChat Pay, card…", enum=PAYMENT_METHODS, classification="public"),
        _c("attributes", "json", "扩展属性", "Attributes", "其他订单字段(JSON对象)", "Other order fields (JSON object)"),
        _PERSON,
        _TEST,
        *_INGESTED,
    ),
    ts_column="ts", extras_column="attributes",
)

ORDER_ITEMS = Table(
    "order_items", "订单明细", "Order items", ("order_id", "line_no"),
    (
        _c("order_id", "id", "订单ID", "Order id", "所属订单", "Order the line belongs to", required=True),
        _c("line_no", "int", "行号", "Line number", "订单内行号", "Line number within the order", required=True, classification="public"),
        _c("product_id", "id", "商品ID", "Product id", "商品", "Product", required=True, classification="public"),
        _c("quantity", "int", "数量", "Quantity", "购买数量", "Units bought", required=True, classification="public"),
        _c("unit_price", "money", "单价", "Unit price", "成交单价(元)", "Price per unit in CNY", classification="public"),
        _c("amount", "money", "金额", "Amount", "行金额(元)", "Line amount in CNY", classification="public"),
        _c("attributes", "json", "扩展属性", "Attributes", "其他字段", "Other fields"),
        *_INGESTED,
    ),
    extras_column="attributes", user_column=None,
)

PAYMENTS = Table(
    "payments", "支付", "Payments", ("payment_id",),
    (
        _c("payment_id", "id", "支付ID", "Payment id", "支付流水号", "Payment transaction id", required=True),
        _c("order_id", "id", "订单ID", "Order id", "对应订单", "Order paid", required=True),
        _c("ts", "ts", "支付时间", "Paid at", "支付时间(UTC)", "Payment time (UTC)", required=True, classification="public"),
        _c("paid_amount", "money", "实付金额", "Paid amount", "实际支付金额(元)", "Amount actually paid in CNY", required=True),
        _c("method", "enum", "支付方式", "Method", "支付宝/微信/银行卡等", "Alipay, WeChat Pay, card…", enum=PAYMENT_METHODS, classification="public"),
        _c("attributes", "json", "扩展属性", "Attributes", "其他字段", "Other fields"),
        *_INGESTED,
    ),
    ts_column="ts", extras_column="attributes", user_column=None,
)

PRODUCTS = Table(
    "products", "商品", "Products", ("product_id",),
    (
        _c("product_id", "id", "商品ID", "Product id", "商品唯一标识", "Unique product id", required=True, classification="public"),
        _c("name", "text", "商品名", "Product name", "商品名称", "Product name", classification="public"),
        _c("category", "text", "品类", "Category", "商品品类", "Product category", required=True, classification="public"),
        _c("brand", "text", "品牌", "Brand", "品牌", "Brand", classification="public"),
        _c("price", "money", "售价", "Price", "标价(元)", "List price in CNY", required=True, classification="public"),
        _c("cost", "money", "成本", "Cost", "单位成本(元)", "Unit cost in CNY"),
        _c("launched_at", "date", "上市日期", "Launched on", "上新日期", "Launch date", classification="public"),
        _c("attributes", "json", "扩展属性", "Attributes", "其他字段(如是否高端款)", "Other fields (e.g. premium line)"),
        *_INGESTED,
    ),
    extras_column="attributes", user_column=None,
)

INVENTORY = Table(
    "inventory", "库存快照", "Inventory snapshots", ("snapshot_date", "product_id", "store_id"),
    (
        _c("snapshot_date", "date", "快照日期", "Snapshot date", "库存盘点日期", "Date of the stock count", required=True, classification="public"),
        _c("product_id", "id", "商品ID", "Product id", "商品", "Product", required=True, classification="public"),
        _c("store_id", "id", "仓库/门店", "Store or warehouse", "库存所在地点", "Where the stock is", classification="public"),
        _c("quantity", "int", "库存数量", "Quantity on hand", "可售库存", "Units on hand", required=True, classification="public"),
        _c("attributes", "json", "扩展属性", "Attributes", "其他字段", "Other fields"),
        *_INGESTED,
    ),
    extras_column="attributes", user_column=None,
)

MARKETING_SPEND = Table(
    "marketing_spend", "营销投放", "Marketing spend", ("date", "channel", "campaign_id"),
    (
        _c("date", "date", "日期", "Date", "投放日期", "Day of the spend", required=True, classification="public"),
        _c("channel", "text", "渠道", "Channel", "投放渠道", "Marketing channel", required=True, classification="public"),
        _c("campaign_id", "id", "活动ID", "Campaign id", "投放活动", "Campaign", classification="public"),
        _c("spend", "money", "花费", "Spend", "投放花费(元)", "Spend in CNY", required=True),
        _c("impressions", "int", "曝光", "Impressions", "曝光次数", "Impressions", classification="public"),
        _c("clicks", "int", "点击", "Clicks", "点击次数", "Clicks", classification="public"),
        _c("attributes", "json", "扩展属性", "Attributes", "其他字段", "Other fields"),
        *_INGESTED,
    ),
    extras_column="attributes", user_column=None,
)

TOUCHES = Table(
    "touches", "营销触点", "Marketing touches", ("user_id", "ts", "channel", "campaign_id"),
    (
        _c("user_id", "id", "用户ID", "User id", "被触达用户", "User touched", required=True),
        _c("ts", "ts", "触达时间", "Touch time", "触达时间(UTC)", "When the touch happened (UTC)", required=True, classification="public"),
        _c("channel", "text", "渠道", "Channel", "触达渠道(广告/短信/推送等)", "Touch channel (ads, SMS, push…)", required=True, classification="public"),
        _c("campaign_id", "id", "活动ID", "Campaign id", "所属活动", "Campaign", classification="public"),
        _c("attributes", "json", "扩展属性", "Attributes", "其他字段", "Other fields"),
        _PERSON,
        _TEST,
        *_INGESTED,
    ),
    ts_column="ts", extras_column="attributes",
)

FEEDBACK = Table(
    "feedback", "用户反馈", "Feedback", ("feedback_id",),
    (
        _c("feedback_id", "id", "反馈ID", "Feedback id", "反馈唯一标识", "Unique feedback id", required=True),
        _c("user_id", "id", "用户ID", "User id", "反馈用户", "User who gave the feedback"),
        _c("ts", "ts", "反馈时间", "Feedback time", "反馈时间(UTC)", "When it was given (UTC)", required=True, classification="public"),
        _c("source", "enum", "来源", "Source", "问卷/客服/评价/应用商店", "Survey, customer service, review or app store", required=True, enum=FEEDBACK_SOURCES, classification="public"),
        _c("text", "text", "内容", "Text", "反馈原文", "Feedback text"),
        _c("score", "number", "评分", "Score", "评分(如NPS 0-10、满意度1-5)", "Score (e.g. NPS 0-10, CSAT 1-5)", classification="public"),
        _c("attributes", "json", "扩展属性", "Attributes", "其他字段", "Other fields"),
        _PERSON,
        _TEST,
        *_INGESTED,
    ),
    ts_column="ts", extras_column="attributes",
)

COMPETITOR_PRICES = Table(
    "competitor_prices", "竞品价格", "Competitor prices", ("date", "competitor", "product_id"),
    (
        _c("date", "date", "日期", "Date", "采集日期", "Day observed", required=True, classification="public"),
        _c("competitor", "text", "竞品", "Competitor", "竞争对手", "Competitor", required=True, classification="public"),
        _c("product_id", "id", "商品ID", "Product id", "对标的本方商品", "Our product it is compared with", required=True, classification="public"),
        _c("price", "money", "竞品价格", "Competitor price", "竞品售价(元)", "Competitor's price in CNY", required=True, classification="public"),
        _c("attributes", "json", "扩展属性", "Attributes", "其他字段", "Other fields"),
        *_INGESTED,
    ),
    extras_column="attributes", user_column=None,
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        EVENTS, USERS, ORDERS, ORDER_ITEMS, PAYMENTS, PRODUCTS, INVENTORY,
        MARKETING_SPEND, TOUCHES, FEEDBACK, COMPETITOR_PRICES,
    )
}


def get_table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        known = ", ".join(TABLES)
        raise JingyunError("unknown_table", f"unknown table {name!r}; known tables: {known}", "table") from None
