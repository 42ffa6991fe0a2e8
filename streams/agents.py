"""Thin Faust agents: each hands every record to :class:`streams.app.SmsguardWorker`.

Acks are manual (``stream.noack()``): a record is acked only once a state
checkpoint covers it, so Faust never commits an offset past the stored state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streams.topics import INPUT_ROLES

if TYPE_CHECKING:
    from streams.app import SmsguardWorker


def register_agents(worker: SmsguardWorker) -> None:
    """One agent per input topic and one per re-keyed scope family."""
    for role in INPUT_ROLES:
        _input_agent(worker, role)
    for family in worker.remote_families:
        _family_agent(worker, family)
    register_timer(worker)


def _input_agent(worker: SmsguardWorker, role: str) -> None:
    async def agent(stream: Any) -> None:
        manual = stream.noack()
        async for event in manual.events():
            await worker.handle_input(role, manual, event)

    agent.__name__ = agent.__qualname__ = "input_" + role.replace(".", "_")
    worker.app.agent(worker.input_topics[role], name=f"smsguard.{agent.__name__}")(agent)


def _family_agent(worker: SmsguardWorker, family: str) -> None:
    async def agent(stream: Any) -> None:
        manual = stream.noack()
        async for event in manual.events():
            await worker.handle_family(family, manual, event)

    agent.__name__ = agent.__qualname__ = f"family_{family}"
    worker.app.agent(worker.repartition_topics[family], name=f"smsguard.{agent.__name__}")(agent)


def register_timer(worker: SmsguardWorker, interval_s: float = 0.2) -> None:
    """Checkpoints on a clock (not only on arrivals) and the idle close of open steps."""

    async def smsguard_checkpoint_timer() -> None:
        await worker.on_timer()

    worker.app.timer(interval=interval_s)(smsguard_checkpoint_timer)
