"""Code two or more apps share, grouped by role: data/, nn/, models/, training/, evaluation/, export/.

Each subpackage's docstring says what belongs there; `command_environment` stays at this level
because every command imports it before TensorFlow loads.
"""
