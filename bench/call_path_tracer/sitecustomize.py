"""Loaded at start-up by every service of ``bench/call_path.py`` (it puts this directory first on
PYTHONPATH): records which functions of ``services/`` run between SIGUSR1 and SIGUSR2, then
writes them to ``$AGENTSUITE_CALL_PATH_DIR/<pid>.json``. Does nothing unless that variable is set."""

import json
import os
import signal
import sys
import threading

_DIR = os.environ.get("AGENTSUITE_CALL_PATH_DIR")
_ROOT = os.environ.get("AGENTSUITE_CALL_PATH_ROOT", "")
if _DIR and _ROOT:
    _services = os.path.join(_ROOT, "services") + os.sep
    _seen: set[tuple[str, str]] = set()

    def _profile(frame, event, _arg):
        if event == "call":
            code = frame.f_code
            # Comprehensions and generator expressions are parts of the function around them.
            if code.co_filename.startswith(_services) and not code.co_name.startswith("<"):
                _seen.add((code.co_filename[len(_ROOT) + 1 :], code.co_qualname))

    def _start(_signum, _frame):
        _seen.clear()
        threading.setprofile(_profile)
        sys.setprofile(_profile)

    def _stop(_signum, _frame):
        sys.setprofile(None)
        threading.setprofile(None)
        path = os.path.join(_DIR, f"{os.getpid()}.json")
        with open(path + ".tmp", "w") as out:
            json.dump(sorted(_seen), out)
        os.replace(path + ".tmp", path)

    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
