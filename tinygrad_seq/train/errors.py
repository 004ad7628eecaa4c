"""The one error type of the trainer's command lines: bad input, said in one line.

Its own file because every part of the trainer raises it and the options (which print it) also
start ``--distributed`` (which raises it): each imports it from here, not from the other.
"""


class UsageError(Exception):
    """Bad input from the command line (options, data, checkpoint): the message names what was
    wrong and ``run_command`` prints it without a traceback."""
