"""The processes that run the helpdesk: `serve` (web + in-process worker + schedule), `worker`
and `scheduler`. This is the composition root: it wires the channel adapters (`channels.registry`)
and the Dramatiq workers into the core's web app."""
from __future__ import annotations

import errno
import signal
import socket
import threading

import click

from helpdesk.cli import CliError, console, run, settings_of
from helpdesk.commands.core import _upgrade
from helpdesk.settings import Settings

# Dramatiq, APScheduler, uvicorn and the adapters load inside the commands that need them: every
# `helpdesk` command loads this module, and a one-off `helpdesk mail poll --once` pays for each import.


def start_background_services(settings: Settings, *, worker: bool, scheduler: bool, listen: bool, threads: int = 4):
    """Broker (+ in-process worker), schedule and IMAP IDLE listeners for this process; returns a stop function.

    IDLE listeners run in one process type only (serve embedded, the scheduler in production): one
    IMAP connection per mailbox, not one per worker.
    """
    from workers.broker import setup_broker, start_worker
    from workers.schedule import build_scheduler

    broker = setup_broker(settings)
    running_worker = start_worker(broker, threads=threads) if worker else None
    sched = build_scheduler() if scheduler else None
    if sched:
        sched.start()
    extras = []
    if listen:
        from channels.email.imap import IdleSupervisor

        supervisor = IdleSupervisor(settings)
        supervisor.start()
        extras.append(supervisor)

    def stop() -> None:
        for extra in extras:
            extra.stop()
        if sched:
            sched.shutdown(wait=False)
        if running_worker:
            running_worker.stop()
        broker.close()

    return stop


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=8000, show_default=True, type=int)
    @click.option("--demo", is_flag=True, help="Seed demo data (idempotent) and print a demo login.")
    @click.option("--no-worker", is_flag=True, help="Web only: jobs go to HELPDESK_BROKER_URL's workers.")
    @click.pass_context
    def serve(ctx, host: str, port: int, demo: bool, no_worker: bool) -> None:
        """Run the web app with an in-process worker and schedule (applies migrations first)."""
        settings = settings_of(ctx)
        in_process = settings.broker_url is None
        if in_process and no_worker:
            raise CliError("--no-worker needs HELPDESK_BROKER_URL: without a broker nobody would run the jobs")
        listening = _bind(host, port)  # before anything starts: a busy port is one line, not a traceback
        # uvicorn ends on SIGTERM by raising it again once it has stopped serving: through the
        # `finally` below, so the worker, the schedule and the demo's mail sink stop too
        signal.signal(signal.SIGTERM, _raise_system_exit)
        stops = [listening.close]
        try:
            import uvicorn

            from channels.registry import install_adapters
            from helpdesk.app import create_app

            install_adapters(settings)
            run(_upgrade(settings))
            login = sink = None
            if demo:
                from channels.email.sink import MailSink
                from helpdesk.tools.demo import seed_demo
                from helpdesk.tools.demo_social import DEMO_PLATFORMS_PATH

                sink = MailSink(settings.data_dir / "demo-outbox")
                sink.start()
                stops.append(sink.stop)
                own = _own_url(host, port)
                login = run(seed_demo(settings, progress=True, mail_relay=(sink.host, sink.port),
                                      platforms_url=own + DEMO_PLATFORMS_PATH))
                from channels.chat.widget.demo import demo_shop_router
                from channels.social.demo import demo_platforms_router
                from helpdesk.web.public import endpoints

                # the demo only, never a real installation: /demo/shop, and the social platforms' simulator
                endpoints.add_router(demo_shop_router())
                endpoints.add_router(demo_platforms_router(own))
            stops.append(start_background_services(settings, worker=in_process or not no_worker,
                                                   scheduler=in_process, listen=in_process))
            url = f"http://{host}:{port}"
            console.print(f"[bold green]Helpdesk[/] running at [link={url}/console]{url}/console[/link] "
                          f"(database: {'SQLite ' + str(settings.sqlite_path) if settings.is_sqlite else 'PostgreSQL'})")
            if login:
                console.print(f"Sign in as [bold]{login[0]}[/] with password [bold]{login[1]}[/]")
                console.print(f"Chat as a customer at [link={url}/demo/shop]{url}/demo/shop[/link] and answer in "
                              f"the console in another tab", soft_wrap=True)
            if sink:
                console.print(f"Replies go to a local mail sink on {sink.host}:{sink.port}, not to the customers; "
                              f"each one is kept as an .eml file in {sink.folder.resolve()}", soft_wrap=True)
                console.print(_simulate_hint(settings, _own_url(host, port)), soft_wrap=True, highlight=False)
            config = uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning")
            uvicorn.Server(config).run(sockets=[listening])
        finally:
            for stop in reversed(stops):
                stop()

    @cli.command()
    @click.option("--threads", default=4, show_default=True, type=int)
    @click.pass_context
    def worker(ctx, threads: int) -> None:
        """Run a Dramatiq worker (needs HELPDESK_BROKER_URL)."""
        settings = settings_of(ctx)
        if settings.broker_url is None:
            raise CliError("HELPDESK_BROKER_URL is not set: `helpdesk serve` runs the worker in-process instead")
        stop = start_background_services(settings, worker=True, scheduler=False, listen=False, threads=threads)
        console.print(f"worker running ({threads} threads), broker {settings.broker_url.split('@')[-1]}")
        _wait_for_signal()
        stop()

    @cli.command()
    @click.pass_context
    def scheduler(ctx) -> None:
        """Run the periodic schedule: enqueues jobs for the workers."""
        from workers.broker import setup_broker
        from workers.schedule import build_scheduler

        settings = settings_of(ctx)
        if settings.broker_url is None:
            raise CliError("HELPDESK_BROKER_URL is not set: `helpdesk serve` runs the schedule in-process instead")
        from channels.email.imap import IdleSupervisor

        setup_broker(settings)
        supervisor = IdleSupervisor(settings)
        supervisor.start()
        console.print("scheduler running (with IMAP IDLE listeners)")
        signal.signal(signal.SIGTERM, _raise_system_exit)  # as Ctrl-C does: through the `finally` below
        try:
            build_scheduler(blocking=True).start()
        finally:
            supervisor.stop()  # each listener commits the batch it is ingesting, then ends


def _bind(host: str, port: int) -> socket.socket:
    """The web server's listening socket, bound now and handed to uvicorn later (no window for
    another process to take the port in between)."""
    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restart past TIME_WAIT
    try:
        listening.bind((host, port))
    except OSError as error:
        listening.close()
        reason = "is in use" if error.errno == errno.EADDRINUSE else f"cannot be opened ({error.strerror})"
        raise CliError(f"port {port} on {host} {reason}: stop what runs there or choose another port "
                       f"(helpdesk serve --port N, make demo PORT=N)") from None
    return listening


def _own_url(host: str, port: int) -> str:
    """Where this server answers itself (the demo's receipts, `helpdesk simulate`)."""
    loopback = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}
    return f"http://{loopback.get(host, f'[{host}]' if ':' in host else host)}:{port}"


def _simulate_hint(settings: Settings, own: str) -> str:
    """The demo's start-up line for social messages: a command to paste in another terminal."""
    from helpdesk.tools.demo_social import DEMO_WHATSAPP_CUSTOMER

    where = "" if settings.base_url == own else f"HELPDESK_BASE_URL={own} "
    return (f"Message the shop on WhatsApp, Messenger, Instagram or Telegram from another terminal (the demo's "
            f"accounts have known test secrets, docs/social.md), replies go to a local platform simulator:\n"
            f"  {where}helpdesk simulate whatsapp --from {DEMO_WHATSAPP_CUSTOMER} --text \"Hello\"")


def _raise_system_exit(*_) -> None:
    raise SystemExit(0)



def _wait_for_signal() -> None:
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
