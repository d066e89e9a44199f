/** `latch/mcp`: an MCP tool guard (`@modelcontextprotocol/sdk` is an optional peer dependency). */
export {
  createToolGuard,
  type ToolCallExtra,
  type ToolCaller,
  type ToolConfig,
  type ToolGuard,
  type ToolGuardOptions,
  type ToolRule,
} from "./tool-guard.js";
