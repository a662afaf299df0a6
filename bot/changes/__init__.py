"""What changed on a workload: deploys, releases and config changes, recorded as
:class:`~storage.models.ChangeEvent` rows and shown on alerts and in the playbook.

A package of its own rather than part of ``bot/ingest``: ingest turns cost exports into spend
points and is judged by the detection pass, while changes are events people send (the signed
webhook, :mod:`bot.changes.webhook`) or the bot reads from a code host
(:mod:`bot.changes.github`); they never enter the spend matrix, and share none of ingest's
delivery, allocation or watermark code. What both feed into is the alert.

* :mod:`bot.changes.config`: the ``changes:`` settings and the secrets' variables;
* :mod:`bot.changes.events`: the shape of a change, validated, and storing it once;
* :mod:`bot.changes.webhook`: ``POST /events/change``, signed with a shared secret;
* :mod:`bot.changes.github`: the poller for GitHub deployments and releases;
* :mod:`bot.changes.notes`: "what changed" on the alert and as playbook choices.
"""
