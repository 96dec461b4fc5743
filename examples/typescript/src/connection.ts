// What every example needs: a client of the running suite, and the model its agents use.
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

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
 * The model of the examples' agents, from the command line as the Python examples take it:
 * `--model NAME [--provider NAME]` (the provider defaults to "openai", the suite's
 * OpenAI-compatible one); without --model, the suite's default (the offline scripted model when
 * the suite has no LLM).
 */
export function exampleModel(): MessageInitShape<typeof ModelConfigSchema> | undefined {
  const { values } = parseArgs({ options: { model: { type: "string" }, provider: { type: "string" } } });
  return values.model ? { provider: values.provider ?? "openai", model: values.model } : undefined;
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
