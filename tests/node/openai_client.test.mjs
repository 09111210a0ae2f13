// The official `openai` npm client against a live SomaAgent gateway (node's test runner).
// Run by tests/services/gateway/test_openai_clients.py, which starts the platform and sets
// SOMA_OPENAI_BASE_URL, SOMA_API_KEY and SOMA_MODEL; it then checks the turns these tests
// ran in the event store.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import OpenAI from 'openai';

const baseURL = process.env.SOMA_OPENAI_BASE_URL;
const apiKey = process.env.SOMA_API_KEY;
const model = process.env.SOMA_MODEL;
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 240_000 });

test('the model list names the tenant model', async () => {
  const ids = [];
  for await (const entry of client.models.list()) ids.push(entry.id);
  assert.ok(ids.includes(model), `${model} not in ${ids}`);
});

test('a streamed answer arrives in chunks, ends with stop and usage', async () => {
  const stream = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'Say hello in one word.' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      text += choice.delta.content ?? '';
      finish = choice.finish_reason ?? finish;
    }
  }
  assert.ok(text.trim().length > 0, 'empty answer');
  assert.equal(finish, 'stop');
  assert.ok(usage.completion_tokens > 0 && usage.prompt_tokens > 0, JSON.stringify(usage));
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
});

test('a whole answer names its session; a resend of it is not run again', async () => {
  const messages = [{ role: 'user', content: 'Name one colour.' }];
  const first = await client.chat.completions.create({ model, messages }).withResponse();
  const session = first.response.headers.get('x-soma-session');
  assert.ok(session, 'no X-Soma-Session header');
  assert.ok(first.data.choices[0].message.content.trim().length > 0);
  const again = await client.chat.completions
    .create({ model, messages }, { headers: { 'X-Soma-Session': session } })
    .withResponse();
  assert.equal(again.response.headers.get('x-soma-turn'), first.response.headers.get('x-soma-turn'));
  assert.equal(again.data.choices[0].message.content, first.data.choices[0].message.content);
});

test('an unknown model is a 404 with code model_not_found', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    (err) => err instanceof OpenAI.NotFoundError && err.code === 'model_not_found',
  );
});

test('a bad key is a 401 AuthenticationError', async () => {
  const stranger = new OpenAI({ baseURL, apiKey: 'sk-not-a-key', maxRetries: 0 });
  await assert.rejects(
    stranger.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }),
    (err) => err instanceof OpenAI.AuthenticationError && err.status === 401,
  );
});
