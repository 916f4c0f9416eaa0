"""Metric dictionary, computation and KPI scorecards (指标字典、指标计算与KPI记分卡)."""
