import { defineConfig } from "vite";

// The Wails binary embeds dist/; relative asset paths keep it loadable from
// the embedded asset server and from the dev server alike.
export default defineConfig({
  base: "./",
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
});
