import { resolve } from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// base './': the built files work from any directory a static server maps
// them to (the app routes with the URL hash, so no rewrite is needed).
export default defineConfig({
  base: './',
  plugins: [react()],
  build: {
    rollupOptions: {
      input: {
        main: resolve(import.meta.dirname, 'index.html'),
        bench: resolve(import.meta.dirname, 'bench.html'),
        'core-floor': resolve(import.meta.dirname, 'core-floor.html'),
      },
    },
  },
});
