"""Runs inside the sandbox, with a stdlib-only interpreter (``python3 -I -S runner.py RESULT_FD``).

It waits for exactly one job (JSON on stdin, until EOF), applies the resource limits with
setrlimit, replaces its environment with the granted secrets, defines the tool's function, calls
it, and writes one JSON line to RESULT_FD: ``{"status": "ok", "result": "<json>"}`` or
``{"status": "error", "type": ..., "message": ...}``. The tool's own prints go to stdout/stderr,
which the service captures separately, so nothing a tool prints can be mistaken for its result.

Keep this file free of imports outside the standard library: it is the only code of the project
the sandbox can see.
"""

import json
import os
import resource
import sys
import traceback

MAX_MESSAGE = 2000
CO_COROUTINE = 0x80  # inspect.CO_COROUTINE; importing inspect would cost ~10 ms per call


def apply_limits(limits: dict) -> None:
    # Soft CPU limit first (SIGXCPU), hard one second later (SIGKILL) in case SIGXCPU is caught.
    cpu = limits["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["max_processes"],) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"],) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def set_environment(granted: dict) -> None:
    os.environ.clear()
    os.environ.update({"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp", "TMPDIR": "/tmp"})
    os.environ.update(granted)


def call(source: str, function_name: str, arguments: dict):
    namespace = {"__name__": "tool", "__builtins__": __builtins__}
    exec(compile(source, "<tool>", "exec"), namespace)
    function = namespace[function_name]
    if getattr(getattr(function, "__code__", None), "co_flags", 0) & CO_COROUTINE:
        import asyncio  # only when needed: it costs more start-up than the rest of the runner

        return asyncio.run(function(**arguments))
    return function(**arguments)


def main() -> None:
    result_fd = int(sys.argv[1])
    job = json.loads(sys.stdin.buffer.read())
    apply_limits(job["limits"])
    set_environment(job["env"])
    del job["env"]
    try:
        value = call(job["source"], job["function"], job["arguments"])
        result = json.dumps(value, ensure_ascii=False, default=repr)
        outcome = {"status": "ok", "result": result, "truncated": False}
        limit = job["limits"]["result_chars"]
        if len(result) > limit:  # cut here, so a huge result never crosses the pipe
            outcome = {"status": "ok", "result": json.dumps(result[:limit]), "truncated": True}
    except BaseException as exc:  # the tool's failure, whatever it is, is the answer
        traceback.print_exc()
        message = str(exc)[:MAX_MESSAGE]
        outcome = {"status": "error", "type": type(exc).__name__, "message": message}
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # the tool closed or broke it
            pass
    data = (json.dumps(outcome, ensure_ascii=False) + "\n").encode()
    view = memoryview(data)
    while view:
        view = view[os.write(result_fd, view) :]
    os.close(result_fd)
    # Exit without running the tool's atexit hooks or waiting for its threads.
    os._exit(0)


if __name__ == "__main__":
    main()
