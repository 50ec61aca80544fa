"""User-facing errors: one line on stderr and an exit code, never a traceback."""
import functools
import sys


class RwsrError(Exception):
    """An error caused by the user's input (options, files, arguments).

    exit_code 2 is for usage and option errors, 1 for failures while running.
    """

    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.exit_code = exit_code


class OptionError(RwsrError):
    """Invalid option file or override."""

    def __init__(self, message):
        super().__init__(message, exit_code=2)


def run_cli(main):
    """Wrap an entry point so that RwsrError becomes `error: ...` and a non-zero exit."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except RwsrError as err:
            if not getattr(err, "printed", False):  # a failing DDP process says it before the others leave
                print(f"error: {err}", file=sys.stderr)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)

    return wrapper
