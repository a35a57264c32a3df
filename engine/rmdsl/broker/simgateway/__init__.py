"""A simulated ProjectX Gateway (REST + SignalR hubs on 127.0.0.1) for tests and `rmdsl demo`.

The real project-x-py SDK connects to it; see docs/simgateway.md.
"""

from rmdsl.broker.simgateway.contracts import ContractSpec, SimClock
from rmdsl.broker.simgateway.faults import (
    AnswerRecord,
    DelayFault,
    ErrorFault,
    IgnoreFault,
    RequestRecord,
    StatusFault,
)
from rmdsl.broker.simgateway.market import Market, OrderRequest, Push
from rmdsl.broker.simgateway.orders import GatewayRejection, Quote, TagReuse
from rmdsl.broker.simgateway.server import PushRecord, SimGateway

__all__ = [
    "AnswerRecord",
    "ContractSpec",
    "DelayFault",
    "ErrorFault",
    "GatewayRejection",
    "IgnoreFault",
    "Market",
    "OrderRequest",
    "Push",
    "PushRecord",
    "Quote",
    "RequestRecord",
    "SimClock",
    "SimGateway",
    "StatusFault",
    "TagReuse",
]
