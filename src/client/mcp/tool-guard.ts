/**
 * An MCP tool guard: every `tools/call` of a server built with `@modelcontextprotocol/sdk` is
 * authorized by Latch before it runs, for the agent and the person it acts for. The server author
 * maps each tool to a permission on a resource named by its arguments
 * (`delete_rows(table)` -> `table:{table}#delete`); the guard does the rest:
 * - DENIED (or CONDITIONAL: context missing) returns an error result the model can read;
 * - APPROVAL_REQUIRED asks a person (docs/approvals.md) and tells the agent to wait, with the
 *   approval id; the same call made after the yes consumes the approval and runs;
 * - tools the agent may reach on no resource at all are hidden from `tools/list`.
 * Every decision carries `mcp:<tool>:<uuid>` as its request id (`mcp-list:` for the visibility
 * lookups), so the audit trail names the tool.
 */
import { randomUUID } from "node:crypto";
import type { McpServer, RegisteredTool, ToolCallback } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult, ToolAnnotations } from "@modelcontextprotocol/sdk/types.js";
import { formatSubjectRef, isLatchError } from "../../core/index.js";
import { toSubject } from "../inputs.js";
import type { LatchClient, SubjectGrants, SubjectInput } from "../types.js";

/** Who calls a tool: the agent, and the chain it acts for (or a signed actor token saying both). */
export interface ToolCaller {
  readonly subject: SubjectInput;
  readonly onBehalfOf?: readonly SubjectInput[];
  /** `not-required`: the agent holds no grants of its own; its principal's delegation decides. */
  readonly subjectGrants?: SubjectGrants;
  readonly actorToken?: string;
}

/** The third argument of an SDK tool callback: the session, verified auth, a cancellation signal. */
export type ToolCallExtra = Parameters<ToolCallback>[0];

export interface ToolRule {
  /** The permission the call needs, e.g. `delete`. */
  readonly permission: string;
  /** The type of the resource it acts on, e.g. `table`. */
  readonly resourceType: string;
  /** The resource's id, from the call's arguments: `(args) => args.table`. */
  readonly resourceId: (args: Record<string, unknown>) => string;
  /** Caveat context for the check, from the arguments (an amount, a purpose). */
  readonly context?: (args: Record<string, unknown>) => Record<string, unknown>;
}

/** `registerTool`'s config: the input schema a zod shape (or schema) as the SDK takes it. */
export interface ToolConfig {
  readonly title?: string;
  readonly description?: string;
  readonly inputSchema?: object;
  readonly outputSchema?: object;
  readonly annotations?: ToolAnnotations;
  readonly _meta?: Record<string, unknown>;
}

export interface ToolGuardOptions {
  readonly client: Pick<LatchClient, "check" | "lookupResources" | "requestApproval">;
  /**
   * The caller of a request, from its session (`extra.sessionId`) or verified auth
   * (`extra.authInfo`); undefined refuses the call.
   */
  readonly identify: (extra: ToolCallExtra) => ToolCaller | undefined;
}

export interface ToolGuard {
  /** `server.registerTool` with the call authorized first; remembered for `refreshVisibility`. */
  registerTool(
    server: McpServer,
    name: string,
    config: ToolConfig,
    rule: ToolRule,
    handler: (
      args: Record<string, unknown>,
      extra: ToolCallExtra,
    ) => CallToolResult | Promise<CallToolResult>,
  ): RegisteredTool;
  /**
   * Shows each guarded tool only if the caller holds its permission on at least one resource
   * (one LookupResources with a limit of 1 per tool); call it when a session's caller is known.
   */
  refreshVisibility(caller: ToolCaller): Promise<{ readonly visible: string[]; readonly hidden: string[] }>;
}

const text = (message: string, meta?: Record<string, unknown>): CallToolResult => ({
  isError: true,
  content: [{ type: "text", text: message }],
  ...(meta === undefined ? {} : { _meta: meta }),
});

function callerText(caller: ToolCaller): string {
  const agent = formatSubjectRef(toSubject(caller.subject));
  const chain = (caller.onBehalfOf ?? []).map((p) => formatSubjectRef(toSubject(p)));
  return chain.length === 0 ? agent : `${agent} acting for ${chain.join(" for ")}`;
}

/** A request id the server accepts (letters, digits and `._:-`, at most 128). */
function requestIdFor(tool: string, prefix = "mcp"): string {
  return `${prefix}:${tool.replace(/[^\w.-]/g, "_").slice(0, 80)}:${randomUUID()}`;
}

function delegationOf(caller: ToolCaller) {
  return {
    ...(caller.onBehalfOf === undefined ? {} : { onBehalfOf: caller.onBehalfOf }),
    ...(caller.subjectGrants === undefined ? {} : { subjectGrants: caller.subjectGrants }),
    ...(caller.actorToken === undefined ? {} : { actorToken: caller.actorToken }),
  };
}

export function createToolGuard(options: ToolGuardOptions): ToolGuard {
  const guarded = new Map<string, { readonly tool: RegisteredTool; readonly rule: ToolRule }>();

  /** The refusal to hand back, or undefined when the call may run. */
  async function authorize(
    name: string,
    rule: ToolRule,
    args: Record<string, unknown>,
    extra: ToolCallExtra,
  ): Promise<CallToolResult | undefined> {
    const caller = options.identify(extra);
    if (caller === undefined)
      return text(`The call to ${name} was refused: the session has no verified caller.`);
    let resourceId: string;
    try {
      resourceId = rule.resourceId(args);
    } catch (error) {
      return text(`The call to ${name} was refused: its arguments name no resource (${String(error)}).`);
    }
    const resource = { type: rule.resourceType, id: resourceId };
    const what = `${rule.permission} on ${rule.resourceType}:${resourceId}`;
    const call = { requestId: requestIdFor(name), signal: extra.signal };
    const context = rule.context?.(args);
    try {
      const answer = await options.client.check(
        {
          resource,
          permission: rule.permission,
          subject: caller.subject,
          ...delegationOf(caller),
          ...(context === undefined ? {} : { context }),
          consumeApproval: true,
        },
        call,
      );
      switch (answer.state) {
        case "ALLOWED":
          return undefined;
        case "CONDITIONAL":
          return text(
            `${callerText(caller)} may not ${what} without ${answer.missing.join(", ")}: the call to ${name} was refused.`,
          );
        case "DENIED":
          return text(`${callerText(caller)} may not ${what}: the call to ${name} was refused.`);
        case "APPROVAL_REQUIRED": {
          const ticket = await options.client.requestApproval(
            {
              resource,
              permission: rule.permission,
              subject: caller.subject,
              ...(caller.onBehalfOf === undefined ? {} : { onBehalfOf: caller.onBehalfOf }),
              ...(caller.subjectGrants === undefined ? {} : { subjectGrants: caller.subjectGrants }),
              message: `${callerText(caller)} asks to call ${name}: ${what}`.slice(0, 512),
              ...(context === undefined ? {} : { context }),
            },
            call,
          );
          return text(
            `${name} needs a person's approval first (approval ${ticket.id}, rule ${answer.approvalRule ?? "?"}). ` +
              `Wait until it is approved, then call ${name} again with the same arguments.`,
            { "latch/approvalId": ticket.id, "latch/state": "APPROVAL_REQUIRED" },
          );
        }
      }
    } catch (error) {
      const reason = isLatchError(error)
        ? `${error.code}: ${error.message}`
        : "the authorization server failed";
      return text(`The call to ${name} was refused (${reason}).`);
    }
  }

  return {
    registerTool(server, name, config, rule, handler) {
      // The SDK passes (args, extra), or (extra) alone for a tool without an input schema.
      const wrapped = async (...params: unknown[]): Promise<CallToolResult> => {
        const extra = params.at(-1) as ToolCallExtra;
        const args = (params.length > 1 ? params[0] : {}) as Record<string, unknown>;
        const refusal = await authorize(name, rule, args, extra);
        return refusal ?? handler(args, extra);
      };
      const tool = server.registerTool(name, config as never, wrapped as never);
      guarded.set(name, { tool, rule });
      return tool;
    },

    async refreshVisibility(caller) {
      const visible: string[] = [];
      const hidden: string[] = [];
      for (const [name, { tool, rule }] of guarded) {
        let reachable = false;
        for await (const _ of options.client.lookupResources(
          {
            resourceType: rule.resourceType,
            permission: rule.permission,
            subject: caller.subject,
            ...delegationOf(caller),
            limit: 1,
          },
          { requestId: requestIdFor(name, "mcp-list") },
        )) {
          reachable = true;
        }
        if (reachable) {
          visible.push(name);
          if (!tool.enabled) tool.enable();
        } else {
          hidden.push(name);
          if (tool.enabled) tool.disable();
        }
      }
      return { visible, hidden };
    },
  };
}
