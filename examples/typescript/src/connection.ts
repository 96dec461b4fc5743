// What every example needs: a client of the running suite, and the model its agents use.
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

import { connect, type AgentsuiteClient, type MessageInitShape, type ModelConfigSchema } from "@agentsuite/client";

/**
 * A client of the gateway at AGENTSUITE_GATEWAY_ADDR (default 127.0.0.1:50051) with the key in
 * AGENTSUITE_API_KEY, or else the one `make up` keeps in its state directory.
 */
export function exampleClient(): AgentsuiteClient {
  const address = process.env.AGENTSUITE_GATEWAY_ADDR ?? "127.0.0.1:50051";
  return connect(address, { apiKey: process.env.AGENTSUITE_API_KEY ?? keyOfMakeUp() });
}

/**
 * The model of the examples' agents: AGENTSUITE_EXAMPLE_MODEL on the suite's OpenAI-compatible
 * provider when set, otherwise the suite's default (the offline scripted model without an LLM).
 */
export function exampleModel(): MessageInitShape<typeof ModelConfigSchema> | undefined {
  const model = process.env.AGENTSUITE_EXAMPLE_MODEL;
  return model ? { provider: "openai", model } : undefined;
}

function keyOfMakeUp(): string {
  const root = process.getuid?.() === 0 ? "/var/lib/agentsuite" : join(homedir(), ".local/state/agentsuite");
  const stateDir = process.env.AGENTSUITE_STATE_DIR ?? root;
  try {
    return readFileSync(join(stateDir, "api_key"), "utf8").trim();
  } catch {
    throw new Error(`no API key: set AGENTSUITE_API_KEY, or run \`make up\` (it writes ${stateDir}/api_key)`);
  }
}
