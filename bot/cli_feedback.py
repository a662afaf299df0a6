"""``spendwatch feedback``: the line feedback in effect, and undoing it, from the command line.

What ``/cost feedback`` answers in chat, for whoever runs the bot: ``list`` shows every piece
in effect (all owners), ``undo ID --by NAME`` undoes one, audited under NAME. The operator is
trusted as the console's is (``AnomalyDesk.with_operator``), so responders lists do not stop
them; the line is judged against its own baseline again from the next poll.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from bot.anomaly.desk import ResponseError
from bot.anomaly.feedback_chat import FeedbackUndoneAnswer
from bot.chat.console.render import console
from bot.cli_errors import fail, say
from bot.cli_options import ConfigOption
from bot.costs.views import format_plain
from bot.settings import load_settings
from bot.wiring import build_services

__all__ = ["feedback_app"]

feedback_app = typer.Typer(help="Line feedback: what people called normal, and undoing it.",
                           no_args_is_help=True)



@feedback_app.command("list")
def list_feedback(config: ConfigOption = None) -> None:
    """Every piece of feedback in effect, oldest first, with the command that undoes it."""
    services = build_services(load_settings(config))
    try:
        answer = services.desk().cost("feedback", user="", channel=None)
    finally:
        services.close()
    console.print(escape(format_plain(answer)), highlight=False)


@feedback_app.command("undo")
def undo(
    feedback_id: Annotated[int, typer.Argument(help="The id `feedback list` shows (#12: 12).",
                                               min=1)],
    by: Annotated[str, typer.Option("--by", help="Who undoes it (kept in the audit log).")],
    config: ConfigOption = None,
) -> None:
    """Undo one piece of feedback: its line is judged against its own baseline again."""
    if not by.strip():
        raise fail("--by is empty; say who undoes it (e.g. --by alice)")
    services = build_services(load_settings(config))
    try:
        view = services.desk().with_operator(by.strip()).undo_feedback(feedback_id,
                                                                        user=by.strip())
    except ResponseError as exc:
        say(str(exc))
        raise typer.Exit(1) from None
    finally:
        services.close()
    console.print(escape(format_plain(FeedbackUndoneAnswer(view))), highlight=False)
