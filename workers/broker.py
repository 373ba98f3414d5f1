"""The broker from settings: Redis or RabbitMQ in production, an in-process one embedded.

Actors are declared against whatever broker is current when `workers.actors` is first
imported, so `setup_broker` must run before that import.
"""
from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO

from helpdesk.settings import Settings
from workers import context


def make_broker(settings: Settings) -> dramatiq.Broker:
    url = settings.broker_url
    if url and url.startswith(("redis://", "rediss://")):
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=url)
    elif url and url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url)
    elif url:
        raise ValueError(f"HELPDESK_BROKER_URL must start with redis:// or amqp://, got {url!r}")
    else:
        # Embedded default: an in-memory broker consumed by a real Dramatiq worker in this process.
        broker = StubBroker()
        broker.emit_after("process_boot")
    broker.add_middleware(AsyncIO())
    return broker


def setup_broker(settings: Settings) -> dramatiq.Broker:
    context.set_settings(settings)
    broker = make_broker(settings)
    dramatiq.set_broker(broker)
    import workers.actors as actors  # noqa: F401 - registers actors on this broker
    from channels.registry import install_adapters

    actors.rebind(broker)
    install_adapters(settings)
    return broker


def start_worker(broker: dramatiq.Broker, *, threads: int = 4) -> dramatiq.Worker:
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    return worker
