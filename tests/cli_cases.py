"""A refused command line: exit status 2, one line on stderr naming each fragment, no traceback."""
import pytest


def refused(capsys, main, argv, *fragments):
    """Run ``main(argv)``, check that it was refused that way, and return its stderr."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    error = capsys.readouterr().err
    assert stop.value.code == 2, error
    assert error.count("\n") == 1 and "Traceback" not in error, error
    for fragment in fragments:
        assert fragment in error, error
    return error
