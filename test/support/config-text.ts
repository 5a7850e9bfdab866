// Config text parsed as the agent parses it, for tests that check what a config means or which
// located errors it gets: the valid config, or the errors as printed (file:line:col: field: why).

import { parseConfig } from "../../agent/config/load.js";
import type { AgentConfig } from "../../agent/config/model.js";
import { formatInputError } from "../../agent/documents/located.js";

export const CONFIG_FILE = "netcanary.yaml";

export function load(text: string): AgentConfig {
  const result = parseConfig(text, CONFIG_FILE);
  if (!result.ok) throw new Error(`expected a valid config, got:\n${result.errors.map(formatInputError).join("\n")}`);
  return result.config;
}

export function errors(text: string): string[] {
  const result = parseConfig(text, CONFIG_FILE);
  if (result.ok) throw new Error("expected errors, the config loaded");
  return result.errors.map(formatInputError);
}
