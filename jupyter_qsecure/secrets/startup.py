"""Runs first in every kernel given secrets, before any startup file or cell: the
provisioner points ``PYTHONSTARTUP`` here, and IPython runs that file once its extensions
are loaded, whatever command started the kernel.

When the masking extension is not installed in the kernel (jupyter-qsecure is not
importable by the kernel's Python, as in a per-project environment's kernel; or a wrapper
command kept the extension's option from ipykernel), nothing would mask what the kernel
sends: the granted values and the refresh capability are taken out of its environment
(subprocesses included), the server's log names the secrets withheld, and the kernel's
first cell says why. Fail closed: the kernel then holds no secret to show.

IPython runs this file by path in the user's namespace: it defines nothing there, imports
nothing of jupyter-qsecure, and keeps to syntax any Python 3 reads. Imported as a module,
it does nothing. A ``PYTHONSTARTUP`` of the user's own (kept in ``QSECURE_PYTHONSTARTUP``)
is restored for subprocesses and runs after this one, as it would have.
"""

if __name__ == "__main__":

    def _qsecure_startup(namespace: dict) -> None:  # type: ignore[type-arg]
        import contextlib
        import os
        import sys

        original = os.environ.pop("QSECURE_PYTHONSTARTUP", "")
        if original:
            os.environ["PYTHONSTARTUP"] = original
        else:
            os.environ.pop("PYTHONSTARTUP", None)
        shell = None
        try:
            ipython = sys.modules.get("IPython")
            shell = ipython.get_ipython() if ipython is not None else None
            extension = sys.modules.get("jupyter_qsecure.kernel")
            masked = bool(getattr(extension, "MASKING", False))
        except Exception:  # whatever went wrong, the values go
            masked = False
        if shell is not None and getattr(shell, "kernel", None) is not None and not masked:
            names = [n for n in os.environ.get("QSECURE_SECRET_NAMES", "").split(",") if n]
            withheld = sorted(n for n in names if os.environ.pop(n, None) is not None)
            for key in ("QSECURE_KERNEL_CAPABILITY", "QSECURE_SERVER_URL"):
                os.environ.pop(key, None)
            os.environ["QSECURE_SECRET_NAMES"] = ""
            notice = (
                "jupyter-qsecure: this kernel holds none of its granted secrets ("
                + ", ".join(withheld)
                + "): their masking did not install in it. Install jupyter-qsecure in the "
                "kernel's Python environment, and start ipykernel with the arguments the "
                "kernelspec receives (a wrapper command must pass them on).\n"
            )
            server_log = sys.__stderr__
            with contextlib.suppress(Exception):
                if server_log is not None:
                    server_log.write(notice)
                    server_log.flush()

            def tell(*args: object) -> None:
                shell.events.unregister("pre_run_cell", tell)
                sys.stderr.write(notice)

            shell.events.register("pre_run_cell", tell)
        if original and os.path.isfile(original):
            with open(original, "rb") as file:
                code = compile(file.read(), original, "exec")
            namespace["__file__"] = original  # IPython puts back its own after
            exec(code, namespace)  # noqa: S102 - the user's own startup file, as Python would

    try:
        _qsecure_startup(globals())
    finally:
        del _qsecure_startup
