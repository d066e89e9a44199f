/**
 * Enforces the module direction of ARCHITECTURE.md:
 *   core <- conditions <- schema <- engine -> store (interface) <- store/sqlite, store/postgres
 *   engine <- service (transport-free: validation, consistency, paging, watch, the decision seam)
 *   service <- audit (a decorator on the seam; the decision log is in the store interface)
 *   service <- open (openLatch: store, mirror, engine and seam wired once) <- server, client, cli
 *   server, client, cli, validation: the only places that wire concrete parts together.
 */
const pure = "^src/(core|conditions|schema|engine)/";
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "core-is-the-bottom",
      comment: "core holds plain types and helpers; it imports no other Latch module",
      severity: "error",
      from: { path: "^src/core/" },
      to: { path: "^src/(?!core/)" },
    },
    {
      name: "conditions-only-core",
      severity: "error",
      from: { path: "^src/conditions/" },
      to: { path: "^src/(?!core/|conditions/)" },
    },
    {
      name: "schema-only-core-and-conditions",
      severity: "error",
      from: { path: "^src/schema/" },
      to: { path: "^src/(?!core/|conditions/|schema/)" },
    },
    {
      name: "engine-sees-store-interface-only",
      comment:
        "the engine talks to the store interface and the cache; never a concrete backend or generated code",
      severity: "error",
      from: { path: "^src/engine/" },
      to: { path: "^src/(?!core/|conditions/|schema/|engine/|cache/|store/[^/]+$)" },
    },
    {
      name: "store-interface-is-abstract",
      comment: "the store interface and its shared helpers import no backend",
      severity: "error",
      from: { path: "^src/store/[^/]+$" },
      to: { path: "^src/(?!core/|conditions/|schema/|store/[^/]+$)" },
    },
    {
      name: "backends-see-the-interface",
      severity: "error",
      from: { path: "^src/store/(sqlite|postgres|mirror)/" },
      to: { path: "^src/(?!core/|conditions/|schema/|store/)" },
    },
    {
      name: "no-node-builtins-in-pure-modules",
      comment: "engine, schema, conditions and core run anywhere: no node:* imports",
      severity: "error",
      from: { path: pure },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "generated-code-only-at-the-edge",
      severity: "error",
      from: { path: "^src/(?!server/|client/|cli/|gen/)" },
      to: { path: "^src/gen/" },
    },
    {
      name: "concrete-parts-wired-at-the-edge",
      severity: "error",
      from: { path: "^src/(core|conditions|schema|engine|cache|store)/" },
      to: { path: "^src/(server|client|cli|validation|open)/" },
    },
    {
      name: "service-above-engine",
      comment:
        "the service sees the modules below it and the store interface; no backend, no transport, no generated code",
      severity: "error",
      from: { path: "^src/service/" },
      to: { path: "^src/(?!core/|conditions/|schema/|engine/|cache/|service/|store/[^/]+$)" },
    },
    {
      name: "nothing-below-imports-the-service",
      severity: "error",
      from: { path: "^src/(core|conditions|schema|engine|cache|store)/" },
      to: { path: "^src/service/" },
    },
    {
      name: "audit-on-the-seam",
      comment:
        "the audit trail decorates the decision seam: it sees core, the engine's types, the service and the store interface; no backend, no transport",
      severity: "error",
      from: { path: "^src/audit/" },
      to: { path: "^src/(?!core/|engine/|service/|audit/|store/[^/]+$)" },
    },
    {
      name: "nothing-below-imports-the-audit-trail",
      severity: "error",
      from: { path: "^src/(core|conditions|schema|engine|cache|store|service)/" },
      to: { path: "^src/audit/" },
    },
    {
      name: "approvals-on-the-seam",
      comment:
        "the approval gate and flow decorate the decision seam: core, schema, the engine's types, the service and the store interface; no backend, no transport",
      severity: "error",
      from: { path: "^src/approvals/" },
      to: { path: "^src/(?!core/|schema/|engine/|service/|approvals/|store/[^/]+$)" },
    },
    {
      name: "nothing-below-imports-approvals",
      severity: "error",
      from: { path: "^src/(core|conditions|schema|engine|cache|store|service|audit)/" },
      to: { path: "^src/approvals/" },
    },
    {
      name: "posture-reads-through-interfaces",
      comment:
        "the posture report reads the store interface, the engine's lookups and the schema; no backend, no transport",
      severity: "error",
      from: { path: "^src/posture/" },
      to: { path: "^src/(?!core/|schema/|engine/|posture/|store/[^/]+$)" },
    },
    {
      name: "nothing-below-imports-posture",
      severity: "error",
      from: { path: "^src/(core|conditions|schema|engine|cache|store|service|audit|approvals)/" },
      to: { path: "^src/posture/" },
    },
    {
      name: "signals-on-the-seam",
      comment:
        "the signal gate and receiver decorate the decision seam: core, schema, the engine's types, the service and the store interface; no backend, no transport",
      severity: "error",
      from: { path: "^src/signals/" },
      to: { path: "^src/(?!core/|schema/|engine/|service/|signals/|store/[^/]+$)" },
    },
    {
      name: "nothing-below-imports-signals",
      severity: "error",
      from: { path: "^src/(core|conditions|schema|engine|cache|store|service|audit|approvals)/" },
      to: { path: "^src/signals/" },
    },
    {
      name: "open-wires-the-service",
      comment: "openLatch wires store, mirror, engine and service; it knows no transport",
      severity: "error",
      from: { path: "^src/open/" },
      to: { path: "^src/(server|client|cli|validation|gen)/" },
    },
    {
      name: "nothing-below-the-edge-imports-the-server",
      severity: "error",
      from: { path: "^src/(?!server/|cli/|client/remote)" },
      to: { path: "^src/server/" },
    },
    {
      name: "embedded-entry-never-reaches-the-server",
      comment: "latch/embedded must not load grpc-js, pino or prom-client (test/client/entry-graph.test.ts)",
      severity: "error",
      from: { path: "^src/client/embedded-entry\\.ts$" },
      to: { path: "^src/(server|gen)/|@grpc|pino|prom-client|grpc-health-check", reachable: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
    exclude: { path: "\\.(test|case)\\.ts$" },
  },
};
