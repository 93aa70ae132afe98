"""One package per architecture; `python -m apps.<name>.<command>` runs one of its commands.

Python imports this package before the command's module, so the commands'
environment defaults (`common.command_environment`) are set here, before
TensorFlow loads; importing `apps` from a program of your own changes nothing.
"""

from common import command_environment

command_environment.apply_defaults_for_command()
