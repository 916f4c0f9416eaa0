"""Alert rules on the numbers (预警规则): thresholds, changes, consecutive periods, anomalies, stop-loss lines.

``rules`` parses ``$JINGYUN_HOME/alert_rules.yaml`` into typed rules; ``evaluate`` measures them for
one as-of day through the metric dictionary (one set of definitions); ``inbox`` opens, de-duplicates,
routes, sends and closes the alerts in the metadata store.
"""
