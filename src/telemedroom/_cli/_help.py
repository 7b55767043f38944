"""Help screens that read like a person wrote them: a flag is shown as a flag.

typer's rich help panel prints each option's value type after its name, and recent
versions do so for flags too (``--serve  <bool>``), although a flag takes no value. An
empty metavar makes the panel print nothing there; plain (non-rich) help never shows a
type for a flag, so it is unchanged.
"""

from __future__ import annotations

from typing import Any

__all__ = ["flags_as_flags"]


def flags_as_flags(command: Any) -> Any:
    """Clear the value type shown after every flag of ``command`` and its subcommands (``--help`` too).

    Takes and returns the click command that ``typer.main.get_command`` builds (typer
    may vendor its own click, so this looks at attributes, not classes).

    Examples:
        >>> import typer
        >>> from telemedroom.cli import app
        >>> command = flags_as_flags(typer.main.get_command(app))
        >>> demo = command.commands["demo"]
        >>> [p.metavar for p in demo.params if p.name == "serve"]
        ['']
    """
    context = command.context_class(command, info_name=command.name)
    for param in command.get_params(context):  # get_params includes the --help option
        if getattr(param, "is_flag", False):
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        flags_as_flags(sub)
    return command
