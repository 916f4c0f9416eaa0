"""The per-thread streams and environment of a command inside the service (control.threadio), on their own:
a bound thread's writes and settings stay its own, every other thread sees the real ones."""

from __future__ import annotations

import contextvars
import io
import threading

from jingyun.control import threadio


def test_a_bound_thread_writes_to_its_client_and_others_to_the_real_stream() -> None:
    real = io.StringIO()
    stream = threadio.ThreadStream("stdout", real)
    sent: list[tuple[str, str]] = []
    binding = threadio.Binding(lambda name, text: sent.append((name, text)), tty={"stdout": True})

    def command() -> None:
        tokens = threadio.bind(binding, {})
        try:
            stream.write("for the client\n")
            assert stream.isatty()
        finally:
            threadio.unbind(tokens)

    worker = threading.Thread(target=contextvars.copy_context().run, args=(command,))
    worker.start()
    worker.join()
    stream.write("for the service log\n")
    assert sent == [("stdout", "for the client\n")]
    assert real.getvalue() == "for the service log\n"
    assert not stream.isatty()


def test_a_command_environment_is_an_overlay_that_never_leaks() -> None:
    real = {"JINGYUN_HOME": "/srv/home", "PATH": "/bin"}
    env = threadio.ThreadEnviron(real)
    seen: dict[str, object] = {}

    def command() -> None:
        tokens = threadio.bind(threadio.Binding(lambda _n, _t: None), {"JINGYUN_HOME": "/client", "PATH": None})
        try:
            env["JINGYUN_CHUNK_ROWS"] = "400"
            seen.update(home=env["JINGYUN_HOME"], path="PATH" in env, keys=sorted(env),
                        chunk=env.get("JINGYUN_CHUNK_ROWS"))
        finally:
            threadio.unbind(tokens)

    worker = threading.Thread(target=contextvars.copy_context().run, args=(command,))
    worker.start()
    worker.join()
    assert seen == {"home": "/client", "path": False, "keys": ["JINGYUN_CHUNK_ROWS", "JINGYUN_HOME"],
                    "chunk": "400"}
    assert real == {"JINGYUN_HOME": "/srv/home", "PATH": "/bin"}  # the service's environment is untouched
    assert env["JINGYUN_HOME"] == "/srv/home"
