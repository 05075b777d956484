"""Entry points the supervisor starts: the Rasa server and the action server.

Secrets stay out of argv (other local users can read a process's command line): the API token
comes from the environment and is handed to Rasa's argument parser inside this process.
Both servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import sys


def rasa_main() -> None:
    """`python -m bot.rasa_ext.serve rasa`: Rasa with the HTTP API enabled and token-protected."""
    from rasa.__main__ import main

    from bot.rasa_ext import offloop

    offloop.install()  # long messages never stall other patients (see the module)
    from bot.rasa_ext import speedups

    speedups.apply()
    env = os.environ
    sys.argv = [
        "rasa",
        "run",
        "--enable-api",
        # "=" form: a token may start with "-", which argparse would read as a flag.
        f"--auth-token={env['INTERLUDE_API_TOKEN']}",
        "--interface",
        "127.0.0.1",
        "--port",
        env["INTERLUDE_RASA_PORT"],
        "--model",
        env["INTERLUDE_MODEL_PATH"],
        "--credentials",
        env.get("INTERLUDE_RASA_CREDENTIALS", "credentials.yml"),
        "--endpoints",
        env.get("INTERLUDE_RASA_ENDPOINTS", "endpoints.yml"),
    ]
    main()


def actions_main() -> None:
    """`python -m bot.rasa_ext.serve actions`: the Rasa SDK action server on loopback."""
    from bot.runtime import block_tensorflow

    block_tensorflow()  # before the actions (and spaCy) are imported
    from rasa_sdk import utils
    from rasa_sdk.endpoint import run

    from bot import runtime
    from bot.checkins.saving import start_drainer

    # Open the store (and its keys) now: the spool needs them even if the database goes away.
    start_drainer(runtime.store().checkins, runtime.spool())
    os.environ["SANIC_HOST"] = "127.0.0.1"  # rasa_sdk reads its bind address from here
    utils.configure_colored_logging(os.environ.get("LOG_LEVEL", "INFO"))
    utils.update_sanic_log_level()
    # No CORS: only the Rasa server, a local process, calls this endpoint.
    run("actions", port=int(os.environ["INTERLUDE_ACTIONS_PORT"]), cors_origins=[])


if __name__ == "__main__":
    {"rasa": rasa_main, "actions": actions_main}[sys.argv[1]]()
