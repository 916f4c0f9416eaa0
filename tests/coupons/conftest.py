"""The coupon tests reuse the service suite's throwaway PostgreSQL (``pg_url``) to race issuers on it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_SERVICE = Path(__file__).parents[1] / "service"
sys.path.insert(0, str(_SERVICE))  # its conftest imports service_support
_spec = importlib.util.spec_from_file_location("jingyun_tests_service_conftest_coupons", _SERVICE / "conftest.py")
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
pg_url = _module.pg_url
