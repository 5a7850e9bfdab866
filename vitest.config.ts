import { defineConfig } from "vitest/config";

// Two projects: "unit" runs files in parallel; "system" holds tests that start real
// servers, network namespaces or Prometheus, and runs one file at a time.
export default defineConfig({
  test: {
    globalSetup: ["./test/support/global-setup.ts"],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/system/**"],
        },
      },
      {
        extends: true,
        test: {
          name: "system",
          include: ["test/system/**/*.test.ts"],
          fileParallelism: false,
        },
      },
    ],
  },
});
