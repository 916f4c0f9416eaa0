"""The demo business (演示业务): a fictional omnichannel retailer with planted ground truth.

``build(settings, DemoParams(...))`` generates users, orders, events, marketing,
catalog and feedback, writes them as source files under ``$JINGYUN_HOME/demo/sources``,
writes ``ground_truth.json`` and ingests everything through the real pipeline.
"""

from jingyun.demo.build import DemoResult, build
from jingyun.demo.params import DemoParams, Truths

__all__ = ["DemoParams", "DemoResult", "Truths", "build"]
