import { defineConfig } from 'vitest/config';

// Unit tests run under node; the browser tests (test/browser) need Chromium
// and run through scripts/web-test.sh.
export default defineConfig({
  test: { include: ['test/unit/**/*.test.ts'], environment: 'node' },
});
