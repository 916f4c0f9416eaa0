"""Analyses: funnels, retention and cohorts, paths.

Each analysis is a validated, typed parameter object, a query builder that runs
nothing and returns portable SQL, and a runner that takes a backend
(:class:`~jingyun.warehouse.backends.duckdb.DuckDBBackend` or
:class:`~jingyun.warehouse.backends.spark.SparkBackend`) and returns a typed
result carrying the SQL it ran. The SQL aggregates; Python only reshapes the
small aggregated tables.
"""

from jingyun.analysis.common import Dimension, Step
from jingyun.analysis.funnel import FunnelParams, FunnelResult, build_funnel_sql, dropped_users, run_funnel
from jingyun.analysis.paths import PathsParams, PathsResult, build_paths_sql, run_paths
from jingyun.analysis.retention import RetentionParams, RetentionResult, build_retention_sql, run_retention
from jingyun.warehouse.filters import Filter

__all__ = [
    "Dimension",
    "Filter",
    "FunnelParams",
    "FunnelResult",
    "PathsParams",
    "PathsResult",
    "RetentionParams",
    "RetentionResult",
    "Step",
    "build_funnel_sql",
    "build_paths_sql",
    "build_retention_sql",
    "dropped_users",
    "run_funnel",
    "run_paths",
    "run_retention",
]
