"""Retention: hourly points older than ``retention.hourly_days`` rolled up to daily ones
(``config`` holds the setting, ``prune`` the job behind ``spendwatch db prune``)."""
