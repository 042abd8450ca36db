"""pytest configuration: under CI=true nothing may be skipped for lack of a tool (see tests/test_toolchain.py)."""
