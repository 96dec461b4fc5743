// Scripts the suite's fake OpenAI-compatible server (services/fake_llm) for one model name.
import { randomUUID } from "node:crypto";

const adminUrl = required("AGENTSUITE_FAKE_LLM_URL").replace(/\/v1\/?$/, "");

/** A model name of its own, with `replies` queued for its next requests. */
export async function scriptedModel(replies: object[]): Promise<string> {
  const model = `ts-${randomUUID()}`;
  const answer = await fetch(`${adminUrl}/_admin/script`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, replies }),
  });
  if (!answer.ok) throw new Error(`scripting the fake LLM failed: ${answer.status}`);
  return model;
}

export function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}`);
  return value;
}
