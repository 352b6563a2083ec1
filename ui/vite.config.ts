import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// Served by raddx's own FastAPI process at /ui/ (src/raddx/web/ui.py); `npm run dev` proxies
// the API to a raddx on :8080 so the session cookie stays same-origin.
export default defineConfig({
  base: "/ui/",
  build: {
    outDir: fileURLToPath(new URL("../src/raddx/web/ui_dist", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    // The viewer chunk (Cornerstone3D) is ~1.7 MB; it loads only when an image is opened.
    chunkSizeWarningLimit: 2000,
  },
  // Cornerstone3D's DICOM image loader decodes in module workers, with WebAssembly codecs.
  worker: { format: "es" },
  optimizeDeps: { exclude: ["@cornerstonejs/dicom-image-loader"], include: ["dicom-parser"] },
  server: {
    proxy: {
      "/api": "http://127.0.0.1:8080",
      "/dicom-web": "http://127.0.0.1:8080",
    },
  },
});
