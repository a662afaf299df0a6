"""Slack rendering: pure Block Kit builders for alerts, playbook modals and the Home tab.

``blocks`` renders an :class:`~bot.anomaly.views.AlertView` as a message, ``modals`` renders
playbook
steps and reads their submissions back, ``home`` renders the App Home tab. They take domain
objects and return ``slack_sdk.models`` objects (validated on ``to_dict()``) and never call
Slack, so they are snapshot-tested without a network. Import the submodules directly; nothing is
imported here, so loading the package costs nothing.
"""
