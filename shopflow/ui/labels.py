"""Chinese / English labels for the codes the pages show (kinds, stages, statuses, roles …).

A code without a label shows as itself, so a new process works before anyone writes its labels;
add yours here (one line each)."""

from __future__ import annotations

LABELS: dict[str, tuple[str, str]] = {
    # processes (case kinds)
    "sample": ("样品", "Sample"),
    "order": ("订单", "Order"),
    "return": ("退换货", "Return"),
    "complaint": ("投诉", "Complaint"),
    "followup": ("回访", "Follow-up"),
    "revisit": ("客户回访", "Revisit"),
    "stocktake": ("库存盘点", "Stocktake"),
    "customer": ("客户", "Customer"),
    "product": ("商品", "Product"),
    # task kinds
    "sample.preliminary_review": ("样品初审", "Sample preliminary review"),
    "sample.review": ("样品审核", "Sample review"),
    "sample.dispatch": ("样品发货", "Sample dispatch"),
    "sample.feedback_problem": ("样品反馈问题", "Sample feedback problem"),
    "order.fulfil": ("订单履约", "Order fulfilment"),
    "order.lost_parcel": ("包裹丢失", "Lost parcel"),
    "order.refund": ("订单退款", "Order refund"),
    "return.review": ("退换货审核", "Return review"),
    "return.inspection": ("退货检验", "Return inspection"),
    "return.refund": ("退款", "Refund"),
    "return.out_of_stock": ("换货缺货", "Exchange out of stock"),
    "return.send_back": ("退回客户", "Send the goods back"),
    "complaint.handle": ("投诉处理", "Complaint handling"),
    "followup.problem": ("回访问题", "Follow-up problem"),
    "customer.revisit": ("客户回访", "Customer revisit"),
    "inventory.stocktake": ("库存盘点", "Stocktake"),
    # stages and statuses
    "new": ("新建", "New"),
    "open": ("处理中", "Open"),
    "claimed": ("已领取", "Claimed"),
    "done": ("已完成", "Done"),
    "cancelled": ("已取消", "Cancelled"),
    "preliminary_review": ("初审", "Preliminary review"),
    "review": ("审核", "Review"),
    "dispatch": ("发货", "Dispatch"),
    "awaiting_feedback": ("等待反馈", "Awaiting feedback"),
    "archived": ("已存档", "Archived"),
    "rejected": ("已拒绝", "Rejected"),
    "waiting_info": ("等待补充信息", "Waiting for information"),
    "completed": ("已完成", "Completed"),
    "closed": ("已关闭", "Closed"),
    "expired": ("已过期", "Expired"),
    "received": ("已接收", "Received"),
    "payment": ("付款", "Payment"),
    "awaiting_payment": ("待付款", "Awaiting payment"),
    "backorder": ("缺货等待", "Backorder"),
    "fulfilment": ("履约", "Fulfilment"),
    "shipped": ("已发货", "Shipped"),
    "in_transit": ("运输中", "In transit"),
    "delivered": ("已签收", "Delivered"),
    "inspection": ("检验", "Inspection"),
    "inspection_failed": ("检验未通过", "Inspection failed"),
    "refund": ("退款", "Refund"),
    "refunded": ("已退款", "Refunded"),
    "exchange": ("换货", "Exchange"),
    "escalated": ("已升级", "Escalated"),
    "stock": ("备货", "Stock"),
    "backordered": ("缺货等待", "Backordered"),
    "fulfilling": ("履约中", "Fulfilling"),
    "delivery": ("配送", "Delivery"),
    "lost_parcel": ("包裹丢失", "Lost parcel"),
    "exception": ("异常", "Exception"),
    "ready": ("待发货", "Ready to ship"),
    "reship": ("重新发货", "Reship"),
    "wait": ("等待", "Wait"),
    "sent_back": ("已寄回", "Sent back"),
    "resolved": ("已解决", "Resolved"),
    "requested": ("已申请", "Requested"),
    "approved": ("已批准", "Approved"),
    "awaiting_parcel": ("等待寄回", "Awaiting the parcel"),
    "parcel_sent": ("客户已寄出", "Parcel sent"),
    "inspected": ("已检验", "Inspected"),
    "settlement": ("结算", "Settlement"),
    "refund_pending": ("待退款", "Refund pending"),
    "exchange_pending": ("待换货", "Exchange pending"),
    "exchanged": ("已换货", "Exchanged"),
    "send_back": ("退回客户", "Send back"),
    "handling": ("处理中", "Handling"),
    "waiting_customer": ("等待客户回复", "Waiting for the customer"),
    "satisfaction": ("满意度确认", "Satisfaction check"),
    "problem": ("问题处理", "Problem"),
    "scheduled": ("已安排", "Scheduled"),
    "counting": ("盘点中", "Counting"),
    "intake": ("接单", "Intake"),
    "unreachable": ("联系不上", "Unreachable"),
    # roles
    "channel": ("渠道", "Channel"),
    "cs": ("客服", "Customer service"),
    "reviewer": ("审核员", "Reviewer"),
    "warehouse": ("仓库", "Warehouse"),
    "finance": ("财务", "Finance"),
    "ops": ("运营", "Operations"),
    "admin": ("管理员", "Admin"),
    # decisions
    "approve": ("批准", "Approve"),
    "reject": ("拒绝", "Reject"),
    "request_info": ("要求补充信息", "Request information"),
    "pass": ("通过", "Pass"),
    "fail": ("不通过", "Fail"),
    "respond": ("回复", "Respond"),
    "resolve": ("解决", "Resolve"),
    "escalate": ("升级", "Escalate"),
    "counted": ("盘点完成", "Counted"),
    "open_complaint": ("转为投诉", "Open a complaint"),
    # timeline events
    "submitted": ("已提交", "Submitted"),
    "task_opened": ("任务创建", "Task opened"),
    "task_completed": ("任务完成", "Task completed"),
    "task_escalated": ("任务超时升级", "Task escalated"),
    "review_context": ("审核资料", "Review context"),
    "info_requested": ("要求补充信息", "Information requested"),
    "info_received": ("收到补充信息", "Information received"),
    "feedback_requested": ("请求反馈", "Feedback requested"),
    "feedback_received": ("收到反馈", "Feedback received"),
    "notice_failed": ("通知发送失败", "Notice failed"),
    "parcel_received": ("收到退货", "Parcel received"),
    "booked_in": ("仓库签收", "Booked in"),
    "refund_proposed": ("建议退款", "Refund proposed"),
    "customer_message": ("客户留言", "Customer message"),
    "reopened": ("重新打开", "Reopened"),
    "adjusted": ("已调整", "Adjusted"),
    "opened": ("已创建", "Opened"),
    "paid": ("已付款", "Paid"),
    "complaint_opened": ("已转投诉", "Complaint opened"),
    "converted_to_refund": ("改为退款", "Converted to a refund"),
    "exchange_shipped": ("换货已发出", "Replacement shipped"),
    "lost": ("丢失", "Lost"),
    "delayed": ("延误", "Delayed"),
    "stock_reserved": ("已预留库存", "Stock reserved"),
    "shipment_in_transit": ("运输中", "In transit"),
    "shipment_delivered": ("已签收", "Delivered"),
    "shipment_delayed": ("物流延误", "Delayed"),
    "shipment_lost": ("包裹丢失", "Parcel lost"),
    "followup_started": ("回访已开始", "Follow-up started"),
    "followup_due": ("回访待开始", "Follow-up due"),
    "cod_collected": ("货款已代收", "Cash collected"),
    "refund_issued": ("已退款", "Refund issued"),
    "refund_failed": ("退款失败", "Refund failed"),
    "refund_settled": ("退款已完成", "Refund settled"),
    "payment_reminded": ("付款提醒", "Payment reminder"),
    "closed_refunded": ("退款结案", "Closed, refunded"),
    "ship_reminded": ("寄回提醒", "Reminder to send the parcel"),
    "replacement_reserved": ("已预留换货", "Replacement reserved"),
    "out_of_stock": ("缺货", "Out of stock"),
    # notices
    "sent": ("已发送", "Sent"),
    "pending": ("待发送", "Pending"),
    "failed": ("失败", "Failed"),
    "logged": ("已记录", "Logged"),
}


def label(code: object) -> str:
    """``"初审 Preliminary review"`` for a known code, the code itself otherwise."""
    key = str(code) if code is not None else ""
    if key in LABELS:
        zh, en = LABELS[key]
        return f"{zh} {en}"
    return key


def zh(code: object) -> str:
    key = str(code) if code is not None else ""
    return LABELS[key][0] if key in LABELS else key


def en(code: object) -> str:
    key = str(code) if code is not None else ""
    return LABELS[key][1] if key in LABELS else key
