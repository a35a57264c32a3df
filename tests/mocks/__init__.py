"""Test doubles shared across the suite (tests/mocks/mock_sdk.py: the mock project-x-py SDK)."""
