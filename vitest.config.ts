import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    // Two cores: threads share the machine with SQLite and PostgreSQL work.
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
