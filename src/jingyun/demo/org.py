"""The demo business's organisation chart (组织架构): a general manager; marketing, finance, tech, service,
supply and PR with their directors or managers; specialists under the managers. Approvals route through it
and incidents find their first responders in it. People imported here cannot sign in (no password)."""

from __future__ import annotations

from jingyun.config import Settings

ORG_CSV = """name,email,department,role,superior
zhang.gm,,,general_manager,
li.mkt.dir,,marketing,director,zhang.gm
wang.fin.dir,,finance,director,zhang.gm
zhao.tech.dir,,tech,director,zhang.gm
chen.mkt.mgr,,marketing,manager,li.mkt.dir
liu.growth.mgr,,growth,manager,li.mkt.dir
sun.tech.mgr,,tech,manager,zhao.tech.dir
zhou.service.mgr,,service,manager,zhang.gm
wu.supply.mgr,,supply,manager,zhang.gm
zheng.pr.mgr,,pr,manager,li.mkt.dir
he.mkt.spec,,marketing,specialist,chen.mkt.mgr
xu.mkt.spec,,marketing,specialist,chen.mkt.mgr
ma.growth.spec,,growth,specialist,liu.growth.mgr
"""


def install_org(settings: Settings) -> int:
    """Import the chart into the workspace's metadata store (again on a rebuild: rows are updated)."""
    from jingyun.approvals.org import import_csv
    from jingyun.store.shared import metadata_store

    report = import_csv(metadata_store(settings), settings, ORG_CSV)
    return report.imported
