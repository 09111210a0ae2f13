"""The web client in Debian's Chromium against a real gateway on the real stack.

Until the conversation worker exists, this test takes the worker's role with a real
Kafka producer: it reads the real inbound event the page caused and publishes real
`conversation.stream` envelopes to the outbound topic, a delta at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from playwright.async_api import Browser, Page, expect

from services.gateway.conftest import RunningGateway
from somaagent.adapters.kafka import KafkaEventBus
from somaagent.domain.events import Envelope

ANSWER = "Kafka keeps each session on one partition, so its events stay in order. " * 2
WORDS = [w + " " for w in ANSWER.split(" ") if w]

SAMPLE_TEXT_GROWTH = """async () => {
  const lengths = [];
  const started = performance.now();
  while (performance.now() - started < 20000) {
    await new Promise((r) => requestAnimationFrame(r));
    const bodies = document.querySelectorAll("li.msg.assistant .body");
    const status = document.querySelectorAll("li.msg.assistant .status");
    if (bodies.length) lengths.push(bodies[bodies.length - 1].textContent.length);
    if (status.length && status[status.length - 1].dataset.kind === "completed") break;
  }
  return lengths;
}"""


@asynccontextmanager
async def inbound_reader(gw: RunningGateway) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(bootstrap_servers=gw.settings.kafka.bootstrap, group_id=None)
    await consumer.start()
    topic = gw.settings.gateway.inbound_topic
    tps = [TopicPartition(topic, p) for p in range(2)]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)
    try:
        yield consumer
    finally:
        await consumer.stop()


async def next_inbound(consumer: AIOKafkaConsumer) -> Envelope:
    async with asyncio.timeout(15):
        msg = await consumer.getone()
    return Envelope.model_validate(orjson.loads(msg.value))


async def stream_answer(
    bus: KafkaEventBus, gw: RunningGateway, inbound: Envelope, words: list[str], start_seq: int
) -> None:
    """The worker's role: a status line, then deltas, a frame or two apart."""
    topic = gw.settings.gateway.outbound_topic

    async def emit(payload: dict[str, object]) -> None:
        event = inbound.caused("conversation.stream", payload)
        await bus.publish(topic, event)

    corr = inbound.correlation_id
    if start_seq == 0:
        await emit({"status": "preprocessing", "correlation_id": corr, "seq": 0})
    for i, word in enumerate(words, start=max(start_seq, 1)):
        await emit(
            {
                "status": "streaming",
                "correlation_id": corr,
                "seq": i,
                "delta": word,
                "model_profile": "dialogue-local",
            }
        )
        await asyncio.sleep(0.04)


async def complete(bus: KafkaEventBus, gw: RunningGateway, inbound: Envelope, seq: int) -> None:
    payload = {
        "status": "completed",
        "correlation_id": inbound.correlation_id,
        "seq": seq,
        "text": "".join(WORDS),
        "usage": {"completion_tokens": len(WORDS)},
        "latencies": {"total_s": 1.2},
        "model_profile": "dialogue-local",
    }
    await bus.publish(
        gw.settings.gateway.outbound_topic, inbound.caused("conversation.stream", payload)
    )


async def sign_in_and_send(page: Page, gw: RunningGateway, key: str, text: str) -> None:
    await page.goto(gw.base_url + "/")
    await page.fill("#key-input", key)
    await page.click("#signin-form button[type=submit]")
    await page.fill("#message", text)
    await page.click("#send")


async def test_answer_streams_token_by_token_and_survives_a_reload(
    browser: Browser, web_gateway: RunningGateway, user_key: tuple[str, str], artifacts: Path
) -> None:
    tenant, key = user_key
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    async with (
        inbound_reader(web_gateway) as inbound_consumer,
        KafkaEventBus(web_gateway.settings.kafka) as bus,
    ):
        await sign_in_and_send(page, web_gateway, key, "Why does order hold?")
        inbound = await next_inbound(inbound_consumer)
        assert inbound.tenant_id == tenant and inbound.payload["text"] == "Why does order hold?"
        sampler = asyncio.create_task(page.evaluate(SAMPLE_TEXT_GROWTH))
        await stream_answer(bus, web_gateway, inbound, WORDS, 0)
        await complete(bus, web_gateway, inbound, len(WORDS) + 1)
        lengths = await sampler
        distinct = sorted(set(lengths))
        assert len(distinct) >= 5, lengths  # the text grew over several frames
        assert lengths == sorted(lengths)
        answer = page.locator("li.msg.assistant .body").last
        await expect(answer).to_have_text(ANSWER.strip() + " ")
        await expect(page.locator("li.msg.assistant .status").last).to_have_text(
            f"Completed · 1.2 s · {len(WORDS)} tokens"
        )
        await expect(page.locator("#profile")).to_have_text("dialogue-local")
        await page.screenshot(path=str(artifacts / "web-client.png"))

        # Reload in the middle of the second answer: the page resumes from its offset.
        await page.fill("#message", "And after a reload?")
        await page.click("#send")
        second = await next_inbound(inbound_consumer)
        half = len(WORDS) // 2
        await stream_answer(bus, web_gateway, second, WORDS[:half], 0)
        await expect(page.locator("li.msg.assistant .body").last).to_have_text(
            "".join(WORDS[:half])
        )
        await page.reload()
        await stream_answer(bus, web_gateway, second, WORDS[half:], half + 1)
        await complete(bus, web_gateway, second, len(WORDS) + 1)
        last = page.locator("li.msg.assistant .body").last
        await expect(last).to_have_text("".join(WORDS))
        await expect(page.locator("li.msg.user .body").last).to_have_text("And after a reload?")
        current = page.locator('#sessions button[aria-current="true"]')
        await expect(current).to_have_count(1)
        await expect(current).to_contain_text("Why does order hold?")
        await page.screenshot(path=str(artifacts / "web-client-after-reload.png"))

        # A phone-sized screen keeps the conversation readable.
        await page.set_viewport_size({"width": 390, "height": 780})
        await expect(page.locator("#menu")).to_be_visible()
        await page.wait_for_timeout(400)  # let the sidebar finish sliding away
        await page.screenshot(path=str(artifacts / "web-client-phone.png"))
    await page.close()
