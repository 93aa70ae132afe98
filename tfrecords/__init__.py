"""Building datasets: `python -m tfrecords.build`.

Python imports this package before the command's module, so the command's
environment defaults (`common.command_environment`) are set here, before
TensorFlow loads; importing `tfrecords` from a program of your own changes nothing.
"""

from common import command_environment

command_environment.apply_defaults_for_command()
