"""The Dask executor's log filter: it drops only the record of Dask's Ctrl-C race."""

import logging
import sys

from nnsolve.executors import _is_cancel_race


def _record_from(filename: str, name: str, exc: type[BaseException]) -> logging.LogRecord:
    source = f"def {name}():\n    raise EXC\n"
    scope = {"EXC": exc}
    exec(compile(source, filename, "exec"), scope)
    try:
        scope[name]()
    except BaseException:
        info = sys.exc_info()
    return logging.LogRecord("tornado.application", logging.ERROR, filename, 1,
                             "Exception in callback", None, info)


def test_the_cancel_race_in_dask_is_recognised():
    record = _record_from("/x/site-packages/distributed/utils.py", "cancel", NameError)
    assert _is_cancel_race(record)


def test_other_errors_are_kept():
    assert not _is_cancel_race(_record_from("/x/distributed/utils.py", "cancel", ValueError))
    assert not _is_cancel_race(_record_from("/x/distributed/utils.py", "other", NameError))
    assert not _is_cancel_race(_record_from("/x/mine/utils.py", "cancel", NameError))
    plain = logging.LogRecord("tornado.application", logging.ERROR, "f", 1, "m", None, None)
    assert not _is_cancel_race(plain)
