"""Tags, RFM, lifecycle, need-based groups, audiences, snapshots and the 360° profile (用户分层).

Modules: ``tags`` (declarative tags → ``user_tags``), ``rfm``, ``lifecycle``, ``needs``,
``audience`` (rule tree → one portable query), ``saved`` (saved segments, refresh, export),
``snapshots`` (transition matrix, size guard), ``profile``, ``playbooks``, ``store`` (metadata files).
"""
