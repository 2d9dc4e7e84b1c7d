# Runs one device test module under the MicroPython unix port and reports each
# test_* function as a line "\x1eKASSA <json>" that tests/conftest.py turns into
# pytest results. Usage: micropython mp_runner.py MODULE [TEST ...]
import gc
import io
import json
import sys

import support

MARK = "\x1eKASSA "


def report(name, outcome, detail=""):
    print(MARK + json.dumps({"name": name, "outcome": outcome, "detail": detail}))


def main(argv):
    module = __import__(argv[1])
    wanted = argv[2:]
    names = sorted(n for n in dir(module) if n.startswith("test_"))
    for name in names:
        if wanted and name not in wanted:
            continue
        fn = getattr(module, name)
        if not callable(fn):
            continue
        gc.collect()
        try:
            fn()
        except support.SkipTest as exc:
            report(name, "skipped", str(exc))
        except BaseException as exc:  # noqa: B036 - the harness reports everything
            try:
                buf = io.StringIO()
                sys.print_exception(exc, buf)
                detail = buf.getvalue()
            except MemoryError:
                # The heap the test left has no room for the traceback: the
                # last frame is on stderr, the failure is still reported.
                buf = None
                sys.print_exception(exc)
                gc.collect()
                detail = "%s (traceback on stderr: no heap left for it)" % (exc.__class__.__name__,)
            report(name, "failed", detail)
        else:
            report(name, "passed")


main(sys.argv)
