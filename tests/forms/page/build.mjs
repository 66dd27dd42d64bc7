// Bundle page/main.jsx with esbuild into one script: node page/build.mjs OUTFILE.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

await build({
  entryPoints: [fileURLToPath(new URL("./main.jsx", import.meta.url))],
  outfile: process.argv[2],
  bundle: true,
  minify: true,
  format: "iife",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "warning",
});
