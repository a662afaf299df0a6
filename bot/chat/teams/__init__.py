"""Microsoft Teams: the alert as one Adaptive Card updated in place, its actions, the app package.

The card side is pure: :mod:`~bot.chat.teams.cards` draws an
:class:`~bot.anomaly.views.AlertView` as an Adaptive Card 1.5, with the open playbook step or
panel from :mod:`~bot.chat.teams.forms`, all made of :mod:`~bot.chat.teams.elements` (which
holds the escaping rule); :mod:`~bot.chat.teams.verbs` reads what a click sends back into a
typed action and the raw values the playbook engine reads; :mod:`~bot.chat.teams.schema`
checks a card against the published 1.5 schema; :mod:`~bot.chat.teams.package` builds the app
package a Teams admin uploads. Talking to Teams (the SDK, the endpoint, sending) lives in the
other modules of this package; none of it opens the store.
"""

import warnings

# The Teams SDK announces, on import, a preview feature the bot does not use.
warnings.filterwarnings("ignore", message="HtmlWidgetSecurityPolicy is in preview")
