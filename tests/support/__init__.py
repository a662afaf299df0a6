"""Test helpers: a throwaway PostgreSQL server, FOCUS file builders."""
